# Two commands matter on a fresh machine: `make run` and `make test`. Everything else installs itself.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test test-clients lint format run demo bench codex clean

# The real clients the end-to-end tests drive, pinned to the versions the suite is known to pass with.
# `make test-clients CLIENTS=latest` runs the same tests against the newest releases from npm instead.
CODEX_VERSION ?= 0.171.0
CLIENTS ?= pinned

install: $(STAMP)

# Reinstall only when the project's metadata changes; an editable install picks up code changes by itself.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Codex CLI is a real client for the bridge tests; installed when npm is there, skipped (visibly) when not.
codex:
	@if command -v npm >/dev/null 2>&1; then \
	  test "$$(node -p 'require("./node_modules/@openai/codex/package.json").version' 2>/dev/null)" = "$(CODEX_VERSION)" \
	  || npm install --no-save --no-audit --no-fund --silent @openai/codex@$(CODEX_VERSION) >/dev/null 2>&1 \
	  || echo "codex: npm install failed; Codex CLI tests will be skipped"; \
	else echo "codex: npm not found; Codex CLI tests will be skipped"; fi

# The real-client tests only (marker `clients`): pinned versions, or with CLIENTS=latest the newest ones,
# installed into .clients/latest so that the pinned install stays as it is.
test-clients: install
	@if [ "$(CLIENTS)" = "latest" ]; then \
	  npm install --prefix .clients/latest --no-audit --no-fund --silent @openai/codex@latest >/dev/null \
	  && echo "clients: codex $$(node -p 'require("./.clients/latest/node_modules/@openai/codex/package.json").version')" \
	  && SWITCHYARD_CODEX=$(CURDIR)/.clients/latest/node_modules/.bin/codex $(BIN)/python -m pytest -m clients -rs; \
	else $(MAKE) --no-print-directory codex && $(BIN)/python -m pytest -m clients -rs; fi

test: install codex
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check switchyard tests bench
	$(BIN)/ruff format --check switchyard tests bench
	$(BIN)/lint-imports
	$(BIN)/hadolint Dockerfile
	$(BIN)/kubernetes-validate --strict --quiet $(filter-out deploy/kubernetes/kustomization.yaml,$(wildcard deploy/kubernetes/*.yaml))

format: install
	$(BIN)/ruff format switchyard tests bench
	$(BIN)/ruff check --fix switchyard tests bench

run: install
	$(BIN)/switchyard serve --rules rules

# No key, no network: the shipped packs in front of a built-in mock model, and the whole path printed.
demo: install
	$(BIN)/switchyard demo

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) node_modules .clients .pytest_cache
