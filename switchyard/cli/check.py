"""`switchyard check [PATH ...]`: validate packs; `N packs OK`, or every problem as FILE:LINE:COLUMN and exit 1.

Packs that load but would lose something in production get warnings on stderr (`switchyard.lint`);
they do not change the exit code.
"""

from __future__ import annotations

import argparse
import sys

from switchyard import lint, packs
from switchyard.cli.common import DEFAULT_RULES, existing, report_unset
from switchyard.errors import PackError


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("check", help="validate packs")
    p.add_argument("paths", nargs="*", default=[DEFAULT_RULES], metavar="PATH", help="pack files or folders")
    return p


def run(args: argparse.Namespace) -> int:
    try:
        rules = packs.load(existing(args.paths), placeholders=True)
    except PackError as exc:
        for problem in exc.problems:
            print(problem)
        return 1
    if not rules.packs:
        print(f"no packs in {', '.join(args.paths)} (pack files end in .yaml or .yml)")
        return 1
    report_unset(rules)
    for warning in [*map(str, rules.warnings), *lint.warnings(rules.packs)]:
        print(warning, file=sys.stderr)
    print(f"{len(rules.packs)} packs OK")
    return 0
