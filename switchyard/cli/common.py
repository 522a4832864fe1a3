"""What several commands share: finding paths, loading packs for use, reading JSON input."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from switchyard import packs
from switchyard.errors import PackError, UsageError
from switchyard.language.ruleset import RuleSet

DEFAULT_RULES = "rules"


def existing(paths: list[str]) -> list[str]:
    """The paths, all of them present: a missing file or folder is a usage error, not a pack problem."""
    for path in paths:
        if not os.path.exists(path):
            raise UsageError(f"no such file or folder: {path}")
    return paths


def load_for_use(paths: list[str]) -> RuleSet:
    """Load rules for commands that need them to work: pack problems are input errors here.

    Secrets are for serving: an unset `${VAR}` is a placeholder here, reported once.
    """
    existing(paths)
    try:
        rules = packs.load(paths, placeholders=True)
    except PackError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        raise UsageError(f"{len(exc.problems)} problem(s) in the rules; run `switchyard check`") from None
    report_unset(rules)
    return rules


def report_unset(rules: RuleSet) -> None:
    """One note on stderr naming the variables left as placeholders (serving will need them)."""
    if rules.unset:
        names = ", ".join(rules.unset)
        print(f"note: not set, used as placeholders (serving needs them): {names}", file=sys.stderr)


def read_text(name: str) -> str:
    try:
        if name == "-":
            return sys.stdin.read()
        with open(name, encoding="utf-8") as f:
            return f.read()
    except OSError as exc:
        raise UsageError(f"cannot read {name}: {exc.strerror or exc}") from None


def read_json(name: str) -> Any:
    text = read_text(name)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{name} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
