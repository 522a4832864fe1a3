# Two commands matter on a fresh machine: `make run` and `make test`. Everything else installs itself.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test lint format run bench codex clean

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
	  test -x node_modules/.bin/codex || npm install --no-save --no-audit --no-fund --silent @openai/codex >/dev/null 2>&1 \
	  || echo "codex: npm install failed; Codex CLI tests will be skipped"; \
	else echo "codex: npm not found; Codex CLI tests will be skipped"; fi

test: install codex
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check switchyard tests bench
	$(BIN)/ruff format --check switchyard tests bench
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff format switchyard tests bench
	$(BIN)/ruff check --fix switchyard tests bench

run: install
	$(BIN)/switchyard serve --rules rules

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) node_modules .pytest_cache
