# Two commands matter on a fresh machine: `make run` and `make test`. Everything else installs itself.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install services test test-clients soak lint format run demo bench bench-peers bench-budgets bench-tools bench-peer-tools clients codex claude gemini clean promtool

# The real clients the end-to-end tests drive, pinned to the versions the suite is known to pass with.
# `make test-clients CLIENTS=latest` runs the same tests against the newest releases from npm instead.
CODEX_VERSION ?= 0.171.0
CLAUDE_VERSION ?= 2.1.197
GEMINI_CLI_VERSION ?= 0.61.0
CLIENTS ?= pinned
# The Kubernetes version the manifests in deploy/kubernetes are validated against (schemas ship with kubernetes-validate).
KUBERNETES_VERSION ?= 1.37.0

install: $(STAMP)

# Reinstall only when the project's metadata changes; an editable install picks up code changes by itself.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Codex CLI, Claude Code and Gemini CLI are real clients for the end-to-end tests; installed when npm is
# there (one npm call, so that no install prunes another), skipped (visibly) when it is not.
CLIENT_PACKAGES = @openai/codex@$(CODEX_VERSION) @anthropic-ai/claude-code@$(CLAUDE_VERSION) @google/gemini-cli@$(GEMINI_CLI_VERSION)
clients:
	@if command -v npm >/dev/null 2>&1; then \
	  test "$$(node -p 'require("./node_modules/@openai/codex/package.json").version' 2>/dev/null)" = "$(CODEX_VERSION)" \
	  && test "$$(node -p 'require("./node_modules/@anthropic-ai/claude-code/package.json").version' 2>/dev/null)" = "$(CLAUDE_VERSION)" \
	  && test "$$(node -p 'require("./node_modules/@google/gemini-cli/package.json").version' 2>/dev/null)" = "$(GEMINI_CLI_VERSION)" \
	  || npm install --no-save --no-audit --no-fund --silent $(CLIENT_PACKAGES) >/dev/null 2>&1 \
	  || echo "clients: npm install failed; the Codex CLI, Claude Code and Gemini CLI tests will be skipped"; \
	else echo "clients: npm not found; the Codex CLI, Claude Code and Gemini CLI tests will be skipped"; fi
codex claude gemini: clients

# The real-client tests only (marker `clients`): the pinned versions, or with CLIENTS=latest the newest
# Codex CLI and Claude Code, installed into .clients/latest so that the pinned install stays as it is.
test-clients: install $(if $(filter latest,$(CLIENTS)),,clients)
	@if [ "$(CLIENTS)" = "latest" ]; then \
	  npm install --prefix .clients/latest --no-audit --no-fund --silent @openai/codex@latest @anthropic-ai/claude-code@latest @google/gemini-cli@latest >/dev/null \
	  && echo "clients: codex $$(node -p 'require("./.clients/latest/node_modules/@openai/codex/package.json").version'), claude-code $$(node -p 'require("./.clients/latest/node_modules/@anthropic-ai/claude-code/package.json").version'), gemini-cli $$(node -p 'require("./.clients/latest/node_modules/@google/gemini-cli/package.json").version')" \
	  && SWITCHYARD_CODEX=$(CURDIR)/.clients/latest/node_modules/.bin/codex SWITCHYARD_CLAUDE=$(CURDIR)/.clients/latest/node_modules/.bin/claude \
	     SWITCHYARD_GEMINI=$(CURDIR)/.clients/latest/node_modules/.bin/gemini \
	     $(BIN)/python -m pytest -m clients -rs; \
	else $(BIN)/python -m pytest -m clients -rs; fi

# Debian's packages the tests run for real, installed when missing (as root), waiting for a dpkg lock another
# install may hold; the tests that need one skip, saying why, only where it cannot be installed.
APT_INSTALL = apt-get install -y -qq -o DPkg::Lock::Timeout=600
# redis-server: the tests of limits shared through Redis.
services:
	@command -v redis-server >/dev/null 2>&1 || test "$$(id -u)" != 0 \
	  || $(APT_INSTALL) redis-server >/dev/null 2>&1 || (apt-get update -qq >/dev/null 2>&1 && $(APT_INSTALL) redis-server >/dev/null 2>&1) \
	  || echo "services: could not install redis-server; the Redis tests will be skipped"

test: install clients promtool services
	$(BIN)/python -m pytest

# promtool (Debian's `prometheus` package) tests the alerts (`make lint`) and checks a live /metrics (a test);
# installed when missing (as root), with a wait for the dpkg lock other installs may hold.
promtool:
	@command -v promtool >/dev/null 2>&1 || ($(APT_INSTALL) prometheus >/dev/null 2>&1 \
	  || (apt-get update -qq >/dev/null 2>&1 && $(APT_INSTALL) prometheus >/dev/null 2>&1)) \
	  || echo "promtool: could not install Debian's prometheus package (as root: apt-get install prometheus)"

# The long runs (tests marked `soak`: a minute of 200 bridged streams, the full reload storm, the fault
# matrix round after round) and their measured figures, written into docs/reliability.md.
SOAK_FIGURES := .soak/figures.json
soak: install
	mkdir -p .soak && rm -f $(SOAK_FIGURES)
	SWITCHYARD_SOAK_FIGURES=$(CURDIR)/$(SOAK_FIGURES) $(BIN)/python -m pytest -m soak -rs
	$(BIN)/python -m bench.soak_figures $(SOAK_FIGURES) docs/reliability.md

lint: install promtool
	$(BIN)/ruff check switchyard tests bench
	$(BIN)/ruff format --check switchyard tests bench
	$(BIN)/lint-imports
	$(BIN)/hadolint Dockerfile
	$(BIN)/kubernetes-validate --strict --quiet -k $(KUBERNETES_VERSION) $(filter-out deploy/kubernetes/kustomization.yaml,$(wildcard deploy/kubernetes/*.yaml))
	promtool check rules deploy/prometheus/alerts.yaml
	promtool test rules deploy/prometheus/alerts_test.yaml

format: install
	$(BIN)/ruff format switchyard tests bench
	$(BIN)/ruff check --fix switchyard tests bench

run: install
	$(BIN)/switchyard serve --rules rules

# No key, no network: the shipped packs in front of a built-in mock model, and the whole path printed.
demo: install
	$(BIN)/switchyard demo

# `make bench`: direct, the bare pass-through and Switchyard (1 and, when `serve` has --workers, 2 workers) side by
# side, into bench/results/latest.md and latest.png; `make bench-peers` adds LiteLLM proxy and Portkey gateway.
# BENCH_QUICK=1 for a smoke run. The harness's own end-to-end test (marker `bench`) runs first.
# wrk comes from Debian's packages; matplotlib and the peers go into .bench/, a throw-away folder: none of them
# is a dependency of the project. The peers are pinned: the newest whose install resolves from the registries.
# bench/targets.py looks for the peers in .bench/peers, so this folder is fixed.
BENCH := .bench
LITELLM_VERSION ?= 1.108.7
PORTKEY_VERSION ?= 1.15.2
BENCH_RUN = BENCH_PLOT_PYTHON=$(abspath $(BENCH))/plot/bin/python $(BIN)/python -m bench.side_by_side

bench: install bench-tools
	$(BIN)/python -m pytest -m bench -q
	$(BENCH_RUN)

bench-peers: install bench-tools bench-peer-tools
	$(BIN)/python -m pytest -m bench -q
	$(BENCH_RUN) --peers

# The budgets of each piece (engine, SSE, bridges, the server against its baseline), each printed next to its figure.
bench-budgets: install
	$(BIN)/python -m bench

bench-tools:
	@command -v wrk >/dev/null 2>&1 || (apt-get install -y -qq wrk >/dev/null 2>&1 || (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq wrk >/dev/null 2>&1)) \
	  || echo "bench: could not install wrk (Debian's package: apt-get install wrk, as root); the benchmark needs it"
	@test -x $(BENCH)/plot/bin/python && $(BENCH)/plot/bin/python -c 'import matplotlib' 2>/dev/null \
	  || ($(PY) -m venv $(BENCH)/plot && $(BENCH)/plot/bin/python -m pip install --quiet matplotlib) \
	  || echo "bench: could not install matplotlib into $(BENCH)/plot; the report will have no plot"

bench-peer-tools:
	@test "$$($(BENCH)/peers/litellm/bin/python -c 'import importlib.metadata as m; print(m.version("litellm"))' 2>/dev/null)" = "$(LITELLM_VERSION)" \
	  || ($(PY) -m venv $(BENCH)/peers/litellm && $(BENCH)/peers/litellm/bin/python -m pip install --quiet 'litellm[proxy]==$(LITELLM_VERSION)') \
	  || echo "bench: could not install litellm[proxy]==$(LITELLM_VERSION); LiteLLM will be skipped"
	@test "$$(node -p 'require("$(abspath $(BENCH))/peers/portkey/node_modules/@portkey-ai/gateway/package.json").version' 2>/dev/null)" = "$(PORTKEY_VERSION)" \
	  || npm install --prefix $(BENCH)/peers/portkey --no-save --no-audit --no-fund --silent @portkey-ai/gateway@$(PORTKEY_VERSION) >/dev/null 2>&1 \
	  || echo "bench: could not install @portkey-ai/gateway@$(PORTKEY_VERSION) (needs npm); Portkey will be skipped"

# `make image`: switchyard:<version>, built hermetically (see the Dockerfile). The wheels are made here, on the
# host: this project's (pip wheel) and its dependencies' binary wheels for the image's Python and platform (pip
# download), so the build itself needs no network. PYTHON_IMAGE is the base; IMAGE_EXTRAS the optional extras
# the image installs (comma-separated; redis: `serve --rate-limit-store redis://...` works in the image as it is).
# `pip download --python-version` judges `python_full_version` markers by the host's own Python, so a dependency
# that only an earlier patch release needs is named here (redis's async-timeout, below 3.11.3: the Debian
# stand-in's Python is 3.11.2); where the image's Python does not need it, it is left uninstalled.
IMAGE_PATCH_WHEELS ?= async-timeout>=4.0.3
VERSION := $(shell sed -n 's/^__version__ = "\(.*\)"$$/\1/p' switchyard/__init__.py)
IMAGE ?= switchyard:$(VERSION)
IMAGE_PYTHON ?= 3.11
PYTHON_IMAGE ?= python:$(IMAGE_PYTHON)-slim
IMAGE_EXTRAS ?= redis
IMAGE_WHEELS := .image/wheels
IMAGE_PLATFORMS := $(foreach tag,manylinux_2_28 manylinux_2_17 manylinux2014 manylinux_2_5 manylinux1,--platform $(tag)_$(shell uname -m))
# Where PYTHON_IMAGE cannot be pulled, `make test-image` builds on a stand-in of the same Python from this Debian
# release's packages (bookworm: Python 3.11), once (deploy/image/base.sh).
STAND_IN_SUITE ?= bookworm
STAND_IN_IMAGE ?= switchyard-base:python$(IMAGE_PYTHON)-$(STAND_IN_SUITE)

.PHONY: image image-wheels test-image test-image-run
image-wheels: install
	rm -rf $(IMAGE_WHEELS) && mkdir -p $(IMAGE_WHEELS)
	$(BIN)/python -m pip wheel --quiet --no-deps --wheel-dir $(IMAGE_WHEELS) .
	$(BIN)/python -m pip download --quiet --only-binary=:all: --python-version $(IMAGE_PYTHON) $(IMAGE_PLATFORMS) \
	  --dest $(IMAGE_WHEELS) "$$(ls $(IMAGE_WHEELS)/switchyard_proxy-$(VERSION)-*.whl)$(if $(IMAGE_EXTRAS),[$(IMAGE_EXTRAS)])" \
	  $(foreach wheel,$(IMAGE_PATCH_WHEELS),'$(wheel)')

# After the build, what it leaves untagged goes: its build stage, and the image the tag named before.
image: image-wheels
	docker build --quiet --build-arg PYTHON_IMAGE=$(PYTHON_IMAGE) --build-arg VERSION=$(VERSION) \
	  --build-arg EXTRAS=$(IMAGE_EXTRAS) --tag $(IMAGE) .
	docker image prune --force --filter label=switchyard.stage=build >/dev/null
	docker image prune --force --filter label=org.opencontainers.image.title=switchyard >/dev/null

# `make test-image`: the real container, tested (tests marked `image`: tests/test_image.py). Docker is installed from
# Debian's packages when missing (as root), and a dockerd started for the run and stopped after it when none is
# running (deploy/image/with-docker.sh); DOCKER_OPTIONAL=1 turns "Docker cannot run here" into a visible skip.
test-image: install
	deploy/image/with-docker.sh $(if $(DOCKER_OPTIONAL),--optional) $(MAKE) --no-print-directory test-image-run

test-image-run:
	base=$$(deploy/image/base.sh $(PYTHON_IMAGE) $(STAND_IN_IMAGE) $(STAND_IN_SUITE)) \
	  && $(MAKE) --no-print-directory image PYTHON_IMAGE=$$base \
	  && rm -f .image/figures.txt \
	  && SWITCHYARD_IMAGE=$(IMAGE) SWITCHYARD_IMAGE_FIGURES=.image/figures.txt $(BIN)/python -m pytest -m image -rs \
	  && echo "image: $(IMAGE) on $$base, $$(docker image inspect --format '{{.Size}}' $(IMAGE) | awk '{printf "%.0f MB", $$1 / 1e6}')" \
	  && cat .image/figures.txt

clean:
	rm -rf $(VENV) node_modules .clients .pytest_cache .soak $(BENCH)
