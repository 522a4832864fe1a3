"""`switchyard test [PATH ...]`: run the `tests:` cases of every pack; `N passed, M failed`."""

from __future__ import annotations

import argparse

from switchyard.cli.common import DEFAULT_RULES, load_for_use
from switchyard.packtest import run_packs


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("test", help="run the tests: cases of packs")
    p.add_argument("paths", nargs="*", default=[DEFAULT_RULES], metavar="PATH", help="pack files or folders")
    return p


def run(args: argparse.Namespace) -> int:
    rules = load_for_use(args.paths)
    outcomes = run_packs(rules.packs)
    failed = [o for o in outcomes if not o.ok]
    for outcome in failed:
        print(outcome.report())
    print(f"{len(outcomes) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0
