"""Golden files: expected outputs kept beside their inputs, compared as data, regenerated on request.

`check(path, actual)` compares `actual` with the JSON (`.json`) or JSON Lines (`.jsonl`) file at
`path`. With `UPDATE_GOLDEN=1` in the environment it first writes `actual` there, so an intended
change is one run followed by a review of the diff:

    UPDATE_GOLDEN=1 .venv/bin/pytest tests/bridges/responses_over_chat/test_request.py && git diff tests/golden

A missing file fails rather than being created silently: a golden file that nobody looked at
proves nothing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent  # the repository
GOLDEN = TESTS / "golden"  # expected outputs beside their inputs, in folders named like the modules they test
FIXTURES = TESTS / "fixtures"  # real client captures and the contract (fixtures/README.md)


def read(path: Path) -> Any:
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return json.loads(path.read_text(encoding="utf-8"))


def write(path: Path, value: Any) -> None:
    if path.suffix == ".jsonl":
        # compact, one event per line as on the wire, so a changed event is a one-line diff
        text = "".join(json.dumps(item, ensure_ascii=False, separators=(",", ":")) + "\n" for item in value)
    else:
        text = json.dumps(value, indent=2, ensure_ascii=False) + "\n"
    path.write_text(text, encoding="utf-8")


def check(path: Path, actual: Any) -> None:
    if os.environ.get("UPDATE_GOLDEN") == "1":
        write(path, actual)
    assert path.exists(), f"{path} is missing: run with UPDATE_GOLDEN=1 and review it"
    assert actual == read(path), f"differs from {path} (UPDATE_GOLDEN=1 rewrites it after an intended change)"


def check_text(path: Path, actual: str) -> None:
    """`check` for a text file kept as it is (a generated pack, say): compared line for line."""
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
    assert path.exists(), f"{path} is missing: run with UPDATE_GOLDEN=1 and review it"
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, f"differs from {path} (UPDATE_GOLDEN=1 rewrites it after an intended change)"
