"""`switchyard probe`: learn what a provider accepts with real, tiny requests, and write its pack.

    switchyard probe --url URL --protocol chat|responses --key-env ENV --model M
                     [--name N] [--out rules/N.yaml] [--max-requests 60]

The pack goes to `--out` (or stdout); the report to stderr. The written pack is then checked and
its tests run with the same code as `switchyard check` and `switchyard test`, so what the probe
hands over is known to load and to pass. Exit 0 when the pack was written and passes both, 1 when
the probe stopped early or the pack fails a check, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import tempfile
from pathlib import Path

from switchyard.cli import check, test
from switchyard.errors import UsageError
from switchyard.probe.client import Client
from switchyard.probe.report import report
from switchyard.probe.session import UPSTREAM_PATHS, Session
from switchyard.probe.writer import render


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("probe", help="learn what a provider accepts and write its pack")
    p.add_argument("--url", required=True, help="the provider's base URL (https://api.example.com/v1)")
    p.add_argument("--protocol", required=True, choices=sorted(UPSTREAM_PATHS), help="what the provider speaks")
    p.add_argument("--key-env", required=True, metavar="ENV", help="the environment variable holding the key")
    p.add_argument("--model", required=True, help="the model to probe (the pack serves this name)")
    p.add_argument("--name", help="the pack's name (default: from the model)")
    p.add_argument("--out", metavar="FILE", help="write the pack here (default: stdout)")
    p.add_argument("--max-requests", type=int, default=60, metavar="N", help="never send more (default 60)")
    return p


def run(args: argparse.Namespace) -> int:
    key = os.environ.get(args.key_env, "")
    if not key:
        raise UsageError(f"{args.key_env} is not set (--key-env names the variable holding the provider's key)")
    if args.max_requests < 1:
        raise UsageError("--max-requests must be at least 1")
    url = args.url.rstrip("/").removesuffix(UPSTREAM_PATHS[args.protocol])  # a full endpoint works too
    name = args.name or re.sub(r"[^a-z0-9-]+", "-", args.model.lower()).strip("-") or "provider"
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", name):
        raise UsageError(f"--name {name!r}: a pack name is lowercase letters, digits and '-'")

    def say(line: str) -> None:
        print(line, file=sys.stderr)

    async def probe():
        async with Client(url, UPSTREAM_PATHS[args.protocol], key, max_requests=args.max_requests, say=say) as c:
            return await Session(c, args.protocol, args.model, say).run(), c.endpoint

    outcome, endpoint = asyncio.run(probe())
    if not outcome.reached:
        print(report(outcome, endpoint), file=sys.stderr)
        print("no pack written: the provider accepted no request", file=sys.stderr)
        return 1
    header = [
        f"Written by `switchyard probe --protocol {args.protocol} --model {args.model}` from "
        f"{len(outcome.exchanges)} requests to the provider; each step says which request showed it was needed.",
        "Review it, then keep it with the other packs.",
    ]
    draft = outcome.draft
    text = render(
        draft,
        name,
        url,
        args.key_env,
        steps=draft.request_steps(),
        tests=outcome.tests,
        model=args.model,
        header=header,
    )
    print(report(outcome, endpoint), file=sys.stderr)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(args.out) if args.out else Path(folder) / f"{name}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"check {path}: ", end="", file=sys.stderr, flush=True)
        checked = _quiet(check.run, argparse.Namespace(paths=[str(path)]))
        print(f"test {path}: ", end="", file=sys.stderr, flush=True)
        tested = _quiet(test.run, argparse.Namespace(paths=[str(path)]))
    if not args.out:
        sys.stdout.write(text)
    return 0 if checked == 0 and tested == 0 and not outcome.stopped else 1


def _quiet(command, args: argparse.Namespace) -> int:
    """Run a command with its stdout sent to stderr: stdout is the pack's when there is no --out."""
    stdout = sys.stdout
    sys.stdout = sys.stderr
    try:
        return command(args)
    finally:
        sys.stdout = stdout
