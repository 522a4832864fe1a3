"""The `switchyard` command: write packs safely before any server runs, then serve them.

    switchyard check [PATH ...]          validate packs; `N packs OK` or every problem, exit 1
    switchyard apply --client C FILE|-   one body through pack selection (or --pack) and the server's path
    switchyard test [PATH ...]           run the `tests:` cases of every pack
    switchyard schema                    the JSON Schema of a pack file, for editors
    switchyard serve                     the sidecar server
    switchyard demo                      the whole path with a built-in mock model: no key, no network
    switchyard probe --url U --model M   learn what a provider accepts with tiny requests; write its pack
    switchyard trace ID | --list         what a running server did with a request (`serve --trace`)
    switchyard init [DIR]                copy the shipped packs into DIR (./rules) to own and edit

Each command is one module of this package with `add_parser(subparsers)` and `run(args)`; adding a
command is a module and a line in `COMMANDS`. Exit codes: 0 success, 1 a pack problem or a failed
test, 2 a usage or input error (missing file, invalid JSON). Input errors are one line on stderr,
never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from switchyard import __version__
from switchyard.errors import UsageError

COMMANDS = ("check", "apply", "test", "schema", "serve", "demo", "probe", "trace", "init")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return args.run(args)
    except UsageError as exc:
        print(f"switchyard {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `switchyard apply ... | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="switchyard", description="A sidecar proxy for LLM APIs driven by YAML packs."
    )
    parser.add_argument("--version", action="version", version=f"switchyard {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        command = importlib.import_module(f"{__package__}.{name}")
        command.add_parser(sub).set_defaults(run=command.run)
    return parser


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
