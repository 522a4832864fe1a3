"""Running the `tests:` cases of packs: golden checks that ship inside the pack they check.

A request-stage case feeds `input` (a client body) through the server's own request path
(`switchyard.pipeline`: force_stream, bridge, request steps) and compares what the upstream would
receive; a response-stage case feeds one upstream event or body through the pack's `response`
steps, as the response path runs them (the contract compares before translation back).

- `expect`: the whole result, exactly (a unified diff of the pretty JSON when it differs).
- `includes`: a subset: every key given must be there with an included value; a list given must
  appear in the result's list as an ordered subsequence of included elements.
- `excludes`: paths (the step PATH language) that must name nothing in the result.
"""

from __future__ import annotations

import copy
import difflib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from switchyard import protocols
from switchyard.errors import ClientFacing, RequestError, StepError
from switchyard.language.pack import Case, Pack
from switchyard.pipeline import Pipeline, clients_of, run_steps


@dataclass(frozen=True)
class Outcome:
    pack: Pack
    case: Case
    failures: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.failures

    def report(self) -> str:
        head = f"{self.pack.file}:{self.case.line}: {self.pack.name}: {self.case.name!r} failed"
        return "\n".join([head, *("  " + line for f in self.failures for line in f.splitlines())])


def run_case(pack: Pack, case: Case) -> Outcome:
    body = copy.deepcopy(case.input)
    try:
        if case.stage == "request":
            if not isinstance(body, dict):
                return Outcome(pack, case, ("input must be a mapping (the client's request body)",))
            result = Pipeline(pack, case.client).request(body)
        else:
            result = run_steps(pack.response, body, "response", None)
    except RequestError as exc:
        result = {"rejected": {"status": exc.status, "message": exc.message}}
    except StepError as exc:
        return Outcome(pack, case, (f"step failed: {exc}",))
    failures = []
    if case.has_expect and result != case.expect:
        failures.append("result differs from expect:\n" + _unified(case.expect, result))
    if case.has_includes:
        missing = list(_included(case.includes, result, ""))
        if missing:
            failures.append("result does not include:\n" + "\n".join(missing))
    for path in case.excludes:
        if path.exists(result):
            failures.append(f"result has {path}, which should be absent")
    return Outcome(pack, case, tuple(failures))


def run_packs(packs: Iterable[Pack]) -> list[Outcome]:
    """Every `tests:` case of every pack, then, for each pack with steps, the shapes its steps will meet."""
    outcomes = [run_case(pack, case) for pack in packs for case in pack.tests]
    return outcomes + [run_shapes(pack) for pack in packs if pack.request or pack.response]


def run_shapes(pack: Pack) -> Outcome:
    """The pack's steps on every shape they will meet, with no test case written for it.

    `request` steps, through the request path, on each client protocol's sample request and on a
    bare `{"model": "m"}` (a client may send anything: a step must not fail where the provider would
    answer a 400 itself); `response` steps on every stream shape the upstream protocol sends, where
    `starts_with(choices[0].delta.content, 'a')` errors on the role-only first chunk, whose content is
    null, and would end every stream. The outcome points at the first step that failed (its message
    carries FILE:LINE:COL).
    """
    errors: list[tuple[str, StepError]] = []
    for client in clients_of(pack.upstream.protocol):
        for name, body in (
            ("a bare request", {"model": "m"}),
            ("a typical request", protocols.get(client).sample_request),
        ):
            try:
                Pipeline(pack, client).request(copy.deepcopy(body))
            except StepError as exc:
                errors.append((f"{name} from a {client} client", exc))
            except ClientFacing:  # refused by the bridge or a `reject`: what a client is told, not a pack bug
                pass
    for name, event in protocols.get(pack.upstream.protocol).stream_shapes:
        try:
            run_steps(pack.response, copy.deepcopy(event), "response", None)
        except StepError as exc:
            errors.append((name, exc))
    line = int(errors[0][1].where.split(":")[-3]) if errors else 1
    name = f"steps on the shapes they meet ({pack.upstream.protocol} upstream)"
    case = Case(name=name, line=line, client=pack.upstream.protocol, stage="response", input=None)
    return Outcome(pack, case, tuple(f"on {shape}: {exc}" for shape, exc in errors))


def _unified(expected: Any, actual: Any) -> str:
    a = json.dumps(expected, indent=2, sort_keys=True, ensure_ascii=False).splitlines()
    b = json.dumps(actual, indent=2, sort_keys=True, ensure_ascii=False).splitlines()
    return "\n".join(difflib.unified_diff(a, b, "expect", "result", lineterm="", n=2))


def _included(want: Any, got: Any, path: str):
    """Yield a line for every part of `want` that `got` does not include."""
    if isinstance(want, dict):
        if not isinstance(got, dict):
            yield f"{path or '(result)'}: expected a mapping, got {_short(got)}"
            return
        for key, value in want.items():
            here = f"{path}.{key}" if path else str(key)
            if key not in got:
                yield f"{here}: missing (expected {_short(value)})"
            else:
                yield from _included(value, got[key], here)
    elif isinstance(want, list):
        if not isinstance(got, list):
            yield f"{path or '(result)'}: expected a list, got {_short(got)}"
            return
        i = 0
        for j, item in enumerate(want):
            while i < len(got) and list(_included(item, got[i], "")):
                i += 1
            if i == len(got):
                yield f"{path}[{j}]: no element (in order) includes {_short(item)}"
                return
            i += 1
    elif want != got or (type(want) is not type(got) and not (_number(want) and _number(got))):
        yield f"{path or '(result)'}: expected {_short(want)}, got {_short(got)}"


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."
