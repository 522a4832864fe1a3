# Switchyard as a sidecar container: the shipped packs in /etc/switchyard/rules (mount yours over them).
#
#   docker build -t switchyard .
#   docker run -p 8080:8080 -e QWEN_API_KEY=... switchyard
#
# Two stages: the build stage makes a wheel and installs it with its runtime dependencies into a
# virtual environment; the final image is that environment on a slim Python, run by a non-root user.
# No compiler, no pip cache and no test or development dependency reaches the final image.

FROM python:3.11-slim AS build
WORKDIR /src
RUN python -m venv /opt/switchyard
COPY pyproject.toml README.md LICENSE ./
COPY switchyard ./switchyard
# with the redis extra: `serve --rate-limit-store redis://...` works in the image as it is
RUN /opt/switchyard/bin/pip install --no-cache-dir '.[redis]'

FROM python:3.11-slim
LABEL org.opencontainers.image.title="switchyard" \
      org.opencontainers.image.description="A sidecar proxy for LLM APIs whose behaviour is data" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin switchyard
COPY --from=build /opt/switchyard /opt/switchyard
COPY rules /etc/switchyard/rules
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
HEALTHCHECK --interval=10s --timeout=2s --start-period=5s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('SWITCHYARD_PORT', '8080') + '/healthz', timeout=2)"]
# Bound to all addresses, serve insists on --client-token(-file) or --allow-open: a sidecar's /v1 is
# reached over the pod's loopback, so the image allows it open and the pod's network policy guards it.
# Flags and SWITCHYARD_* variables override each setting (tests/test_container.py runs this command).
ENTRYPOINT ["switchyard"]
CMD ["serve", "--watch", "--allow-open"]
