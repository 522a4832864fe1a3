"""The Makefile's client matrix: `make test-clients` runs the real-client tests, pinned or latest.

A dry run (`make -n`) shows what each target would do without installing anything, so the target's
promise (both real clients, the newest from npm with CLIENTS=latest, pointed at by the variables the
tests read) is checked on every run, and a merge that loses the target fails here.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def dry_run(*args: str) -> str:
    done = subprocess.run(["make", "-n", *args], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_test_clients_with_latest_installs_the_newest_codex_and_claude_code_and_points_the_tests_at_them():
    script = dry_run("test-clients", "CLIENTS=latest")
    assert "@openai/codex@latest" in script and "@anthropic-ai/claude-code@latest" in script
    assert "@google/gemini-cli@latest" in script
    assert "SWITCHYARD_CODEX=" in script and "SWITCHYARD_CLAUDE=" in script and "SWITCHYARD_GEMINI=" in script
    assert "pytest -m clients" in script


def test_the_variables_the_target_sets_are_the_ones_the_client_tests_read():
    # the tests, and the helpers they share (tests/codex_cli.py finds Codex for them)
    sources = "".join(p.read_text(encoding="utf-8") for p in TESTS.rglob("*.py") if p.name != Path(__file__).name)
    assert 'os.environ.get("SWITCHYARD_CODEX")' in sources
    assert 'os.environ.get("SWITCHYARD_CLAUDE")' in sources
    assert 'os.environ.get("SWITCHYARD_GEMINI")' in sources


def test_test_clients_by_default_installs_the_pinned_versions_first():
    script = dry_run("test-clients")
    assert "npm install --no-save" in script
    assert re.search(r"@openai/codex@\d+\.\d+\.\d+ @anthropic-ai/claude-code@\d+\.\d+\.\d+", script)
    assert re.search(r"@google/gemini-cli@\d+\.\d+\.\d+", script)
    assert '[ "pinned" = "latest" ]' in script
