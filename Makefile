# Two commands matter on a fresh machine: `make run` and `make test`. Everything else installs itself.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test test-clients soak lint format run demo bench bench-peers bench-budgets bench-tools bench-peer-tools clients codex claude gemini clean

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

test: install clients
	$(BIN)/python -m pytest

# The long runs (tests marked `soak`: a minute of 200 bridged streams, the full reload storm, the fault
# matrix round after round) and their measured figures, written into docs/reliability.md.
SOAK_FIGURES := .soak/figures.json
soak: install
	mkdir -p .soak && rm -f $(SOAK_FIGURES)
	SWITCHYARD_SOAK_FIGURES=$(CURDIR)/$(SOAK_FIGURES) $(BIN)/python -m pytest -m soak -rs
	$(BIN)/python -m bench.soak_figures $(SOAK_FIGURES) docs/reliability.md

lint: install
	$(BIN)/ruff check switchyard tests bench
	$(BIN)/ruff format --check switchyard tests bench
	$(BIN)/lint-imports
	$(BIN)/hadolint Dockerfile
	$(BIN)/kubernetes-validate --strict --quiet -k $(KUBERNETES_VERSION) $(filter-out deploy/kubernetes/kustomization.yaml,$(wildcard deploy/kubernetes/*.yaml))

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

clean:
	rm -rf $(VENV) node_modules .clients .pytest_cache .soak $(BENCH)
