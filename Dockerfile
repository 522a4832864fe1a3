# Switchyard as a sidecar container: the shipped packs in /etc/switchyard/rules (mount yours over them).
#
#   make image                                      # switchyard:<version>, built with no network
#   docker run -p 127.0.0.1:8080:8080 -e SWITCHYARD_ALLOW_OPEN=1 -e QWEN_API_KEY=... switchyard:0.1.0
#
# Hermetic: the build context is only the wheels `make image` put in .image/wheels (this project's wheel
# and those of its dependencies, for this image's Python), installed with `--no-index`; the build needs
# no network and no compiler. Two stages: the build stage installs them into a virtual environment; the
# final image is that environment on the same base, run by a non-root user.
# PYTHON_IMAGE is the base (the official slim Python; `make test-image` builds a stand-in of the same
# Python from Debian's packages where no registry of base images can be reached). EXTRAS are the
# optional extras installed (comma-separated, e.g. `otel`).
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
ARG VERSION
ARG EXTRAS=""
# so that `make image` can remove what the builder leaves of this stage (the final image does not inherit it)
LABEL switchyard.stage=build
COPY .image/wheels /wheels
# pip goes once it has installed: nothing installs at run time.
RUN python -m venv /opt/switchyard \
 && /opt/switchyard/bin/python -m pip install --no-index --find-links /wheels --no-cache-dir \
      "switchyard-proxy${EXTRAS:+[$EXTRAS]}==${VERSION}" \
 && /opt/switchyard/bin/python -m pip uninstall --yes --quiet pip

FROM ${PYTHON_IMAGE}
ARG VERSION
LABEL org.opencontainers.image.title="switchyard" \
      org.opencontainers.image.description="A sidecar proxy for LLM APIs whose behaviour is data" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin switchyard
COPY --from=build /opt/switchyard /opt/switchyard
# The packs the wheel ships, written where the image serves them from (and a volume mounts over them).
RUN /opt/switchyard/bin/switchyard init /etc/switchyard/rules >/dev/null
ENV PATH=/opt/switchyard/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SWITCHYARD_RULES=/etc/switchyard/rules \
    SWITCHYARD_HOST=0.0.0.0 \
    SWITCHYARD_PORT=8080 \
    SWITCHYARD_LOG_FORMAT=json
USER 10001
EXPOSE 8080
VOLUME ["/etc/switchyard/rules"]
# Kubernetes and `docker stop` send SIGTERM: /readyz turns 503, in-flight streams drain (--grace).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=5s --timeout=2s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('SWITCHYARD_PORT', '8080') + '/healthz', timeout=2)"]
# Bound to all addresses, `serve` refuses to start open: it starts when client tokens are given
# (SWITCHYARD_CLIENT_TOKEN or SWITCHYARD_CLIENT_TOKEN_FILE) or when told it is guarded otherwise
# (SWITCHYARD_ALLOW_OPEN=1), and otherwise exits with one line saying so. The Kubernetes examples bind
# the pod's loopback instead (--host 127.0.0.1), which needs neither.
# Flags and SWITCHYARD_* variables override each setting (tests/test_container.py runs this command).
ENTRYPOINT ["switchyard"]
CMD ["serve", "--watch"]
