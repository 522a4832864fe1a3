"""The layering of the package is enforced: `make lint` (import-linter) fails when a lower layer imports a higher one.

The contracts live in pyproject.toml. These tests run the same checker on a copy of the package,
once as it is and once with a breach planted, so the lint step is known to be able to fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT = Path(sys.executable).parent / "lint-imports"


def lint(tree: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT), "--config", str(tree / "pyproject.toml")], cwd=tree, env=env, capture_output=True, text=True
    )


def copy_of_the_package(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "switchyard", tmp_path / "switchyard", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_package_keeps_its_layers(tmp_path: Path) -> None:
    result = lint(copy_of_the_package(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_rule_language_importing_a_protocol_breaks_the_layers(tmp_path: Path) -> None:
    tree = copy_of_the_package(tmp_path)
    loader = tree / "switchyard" / "language" / "loader.py"
    loader.write_text(loader.read_text() + "\nfrom switchyard.protocols import chat  # noqa\n")
    result = lint(tree)
    assert result.returncode != 0 and "BROKEN" in result.stdout, result.stdout


def test_a_protocol_importing_the_server_breaks_the_layers(tmp_path: Path) -> None:
    tree = copy_of_the_package(tmp_path)
    module = tree / "switchyard" / "protocols" / "openai.py"
    module.write_text(module.read_text() + "\nimport switchyard.server.proxy  # noqa\n")
    result = lint(tree)
    assert result.returncode != 0 and "BROKEN" in result.stdout, result.stdout
