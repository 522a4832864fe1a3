"""The `switchyard` command: write packs safely before any server runs, then serve them.

    switchyard check [PATH ...]          validate packs; `N packs OK` or every problem, exit 1
    switchyard apply --client C FILE|-   one body through pack selection (or --pack) and its steps
    switchyard test [PATH ...]           run the `tests:` cases of every pack
    switchyard schema                    the JSON Schema of a pack file, for editors
    switchyard serve                     the sidecar server

Exit codes: 0 success, 1 a pack problem or a failed test, 2 a usage or input error (missing file,
invalid JSON). Input errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
from typing import Any

from jmespath.exceptions import JMESPathError

from switchyard.errors import PackError, RequestError, StepError
from switchyard.language.expressions import truthy
from switchyard.language.pack import describe_jmespath_error
from switchyard.language.ruleset import RuleSet, load_rules

DEFAULT_RULES = "rules"


class UsageError(Exception):
    """A command-line mistake or unreadable input: printed as one line, exit code 2."""


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="switchyard", description="A sidecar proxy for LLM APIs driven by YAML packs."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("check", help="validate packs")
    p.add_argument("paths", nargs="*", default=[DEFAULT_RULES], metavar="PATH")
    p.set_defaults(run=cmd_check)

    p = sub.add_parser("apply", help="run one body through a pack and print the result")
    p.add_argument("file", metavar="FILE|-")
    p.add_argument("--rules", default=DEFAULT_RULES, metavar="DIR")
    p.add_argument("--pack", metavar="NAME", help="use this pack instead of selecting one by its match")
    p.add_argument("--client", required=True, choices=("chat", "responses"), help="the client protocol")
    p.add_argument("--stage", default="request", choices=("request", "response"))
    p.add_argument("--explain", action="store_true", help="tell on stderr what each step did")
    p.set_defaults(run=cmd_apply)

    p = sub.add_parser("test", help="run the tests: cases of packs")
    p.add_argument("paths", nargs="*", default=[DEFAULT_RULES], metavar="PATH")
    p.set_defaults(run=cmd_test)

    p = sub.add_parser("schema", help="print the JSON Schema of a pack file")
    p.set_defaults(run=cmd_schema)

    p = sub.add_parser("serve", help="run the sidecar server")
    p.add_argument("--rules", default=DEFAULT_RULES, metavar="DIR")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--watch", action="store_true", help="reload when a file in the rules folder changes")
    p.add_argument("--log-format", choices=("text", "json"), default="text")
    p.add_argument("--log-level", default="info")
    p.add_argument("--max-body", type=int, default=64 * 1024 * 1024, metavar="BYTES")
    p.add_argument("--admin-token", default=None, help="also allow /-/ endpoints to non-loopback clients")
    p.set_defaults(run=cmd_serve)
    return parser


def _exists(paths: list[str]) -> list[str]:
    """The paths, all of them present: a missing file or folder is a usage error, not a pack problem."""
    for path in paths:
        if not os.path.exists(path):
            raise UsageError(f"no such file or folder: {path}")
    return paths


def _load(paths: list[str]) -> RuleSet:
    """Load rules for commands that need them to work: pack problems are input errors here."""
    _exists(paths)
    try:
        return load_rules(paths)
    except PackError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        raise UsageError(f"{len(exc.problems)} problem(s) in the rules; run `switchyard check`") from None


def cmd_check(args: argparse.Namespace) -> int:
    try:
        rules = load_rules(_exists(args.paths))
    except PackError as exc:
        for problem in exc.problems:
            print(problem)
        return 1
    print(f"{len(rules.packs)} packs OK")
    return 0


def _read_json(name: str) -> Any:
    try:
        if name == "-":
            text = sys.stdin.read()
        else:
            with open(name, encoding="utf-8") as f:
                text = f.read()
    except OSError as exc:
        raise UsageError(f"cannot read {name}: {exc.strerror or exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{name} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None


def cmd_apply(args: argparse.Namespace) -> int:
    from switchyard.bridges import get_bridge
    from switchyard.pipeline import translated_request

    body = _read_json(args.file)
    rules = _load([args.rules])
    if args.pack:
        pack = rules.get(args.pack)
        if pack is None:
            raise UsageError(f"no pack named {args.pack!r} in {args.rules}")
    elif args.stage == "response":
        raise UsageError("--stage response needs --pack: an upstream event does not select a pack")
    else:
        pack = rules.select(body)
        if pack is None:
            model = body.get("model") if isinstance(body, dict) else None
            raise UsageError(f"no pack matches this body (model {model!r})")
    if args.stage == "request" and not isinstance(body, dict):
        raise UsageError("a request body must be a JSON object")
    explain = _explainer(args.explain)
    explain(f"pack {pack.name} ({pack.file}), client {args.client}, upstream {pack.upstream.protocol}")
    try:
        if args.stage == "request":
            before = copy.deepcopy(body) if args.explain else None
            body = translated_request(pack, args.client, body)
            if get_bridge(args.client, pack.upstream.protocol) is not None:
                label = f"bridge {args.client} -> {pack.upstream.protocol}"
                if pack.upstream.force_stream:
                    label += " (with upstream.force_stream)"
                _tell(explain, label, before, body)
            elif pack.upstream.force_stream:
                _tell(explain, "upstream.force_stream", before, body)
            steps = pack.request
        else:
            steps = pack.response
        for step in steps:
            before = copy.deepcopy(body) if args.explain else None
            ran = _matches(step, body)
            step.run(body)
            label = f"{step.where.split(': ', 1)[1]} (line {step.where.split(':')[1]})"
            if not ran:
                explain(f"{label}: skipped, match is false")
            else:
                _tell(explain, label, before, body)
    except RequestError as exc:
        print(json.dumps({"status": exc.status, **exc.body()}, indent=2, ensure_ascii=False))
        return 1
    except StepError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(json.dumps(body, indent=2, ensure_ascii=False))
    return 0


def _matches(step, body) -> bool:
    """Whether a step's `match` holds, for --explain; a failing match fails like the step would."""
    if step.match is None:
        return True
    try:
        return truthy(step.match.evaluate(body))
    except JMESPathError as exc:
        raise StepError(step.where, describe_jmespath_error(exc), "request") from None


def _explainer(enabled: bool):
    if not enabled:
        return lambda line: None
    return lambda line: print(line, file=sys.stderr)


def _tell(explain, label: str, before: Any, after: Any) -> None:
    if before is None:
        return
    from switchyard.language.explain import diff

    explain(f"{label}: {diff(before, after).describe()}")


def cmd_test(args: argparse.Namespace) -> int:
    from switchyard.packtest import run_packs

    rules = _load(args.paths)
    outcomes = run_packs(rules.packs)
    failed = [o for o in outcomes if not o.ok]
    for outcome in failed:
        print(outcome.report())
    print(f"{len(outcomes) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


def cmd_schema(args: argparse.Namespace) -> int:
    from switchyard.language.schema import json_schema

    print(json.dumps(json_schema(), indent=2))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        from switchyard.server.app import serve
    except ImportError as exc:  # pragma: no cover - until the server module exists
        raise UsageError(f"the server is not available: {exc}") from None
    return serve(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
