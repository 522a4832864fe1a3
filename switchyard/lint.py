"""Warnings `switchyard check` gives about packs that load fine but would lose something in production.

A `keep:` allowlist written for one client can remove what a bridge adds on purpose for another:
`stream_options` (Responses clients over Chat: usage, which Codex reports), `tools`, `max_tokens`.
The pack is run here, through the real request path (`switchyard.pipeline`), on each protocol's
sample client request; a `keep` step that removes a top-level field the bridge added is named with
its position. Warnings never fail `check`, and a pack says it means the removal by testing it: a
`tests:` case whose `excludes` names the field silences the warning (rules/glm.yaml does so for
`stream_options`, which BigModel's schema does not have).

Three more mistakes load fine and do nothing, found the same way (each warning points at the line to fix):

- a request step whose field a later `keep` removes: the step's work never reaches the upstream. Run
  on the protocols' sample requests and on the pack's own request `tests:` inputs, so a step whose
  `match` none of them satisfies is not judged;
- a `models:` entry the pack's own `match` does not select (on `{"model": M}` and on each protocol's
  sample request asking for M): `/v1/models` lists a model the pack never serves;
- a `models:` entry another pack takes first (higher priority, or the same priority and an earlier
  file name): a request for it never reaches this pack.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterable

from switchyard import protocols
from switchyard.errors import ClientFacing, StepError
from switchyard.language.pack import Pack
from switchyard.pipeline import Observation, Pipeline, clients_of


def warnings(packs: Iterable[Pack]) -> list[str]:
    """`FILE:LINE:COL: warning: ...` lines: what a `keep` removes that a bridge added or a step wrote, and
    `models:` entries the pack does not get. `packs` in the order requests try them (a `RuleSet`'s)."""
    packs = list(packs)
    out: list[str] = []
    for pack in packs:
        for client in clients_of(pack.upstream.protocol):
            if client != pack.upstream.protocol:
                out.extend(_keep_removes_bridged(pack, client))
        out.extend(_steps_undone_by_keep(pack))
        out.extend(_models_not_served(pack, packs))
    return sorted(set(out))


def _keep_removes_bridged(pack: Pack, client: str) -> list[str]:
    pipeline = Pipeline(pack, client)
    sample = copy.deepcopy(protocols.get(client).sample_request)
    meant = {path.source for case in pack.tests for path in case.excludes}
    added: set[str] = set()
    found: list[str] = []

    def observe(seen: Observation) -> None:
        if not seen.where:  # the bridge: what it added at the top level
            added.update(path.split(".")[0].split("[")[0] for path in seen.changes.added)
            return
        if seen.where.endswith("(keep)"):
            for path in seen.changes.removed:
                if path in added and path not in meant:
                    location = seen.where.split(": ", 1)[0]
                    found.append(
                        f"{location}: warning: keep removes {path}, which the {pipeline.bridge.label} adds for "
                        f"{client} clients ({_why(path)})"
                    )

    # A reject or a failing step on the sample is not this check's business: `test` is where that shows.
    with contextlib.suppress(ClientFacing, StepError):
        pipeline.request(sample, observe)
    return found


def _why(field: str) -> str:
    return {
        "stream_options": "usage for clients that asked for it",
        "tools": "the tools the client declared",
        "tool_choice": "the client's tool choice",
        "max_tokens": "the client's output limit",
    }.get(field, "the client asked for it")


def _steps_undone_by_keep(pack: Pack) -> list[str]:
    samples = [(client, protocols.get(client).sample_request) for client in protocols.names()]
    samples += [(c.client, c.input) for c in pack.tests if c.stage == "request" and type(c.input) is dict]
    found: list[str] = []
    for client, sample in samples:
        with contextlib.suppress(ClientFacing, StepError, KeyError, TypeError):
            Pipeline(pack, client).request(copy.deepcopy(sample), _undone_observer(found))
    return found


def _undone_observer(found: list[str]) -> Callable[[Observation], None]:
    """An observer of one request's steps that adds to `found` each field a step wrote and a later `keep` removed."""
    written: list[tuple[str, set[str]]] = []  # (step, the top-level fields it wrote), in the order run

    def observe(seen: Observation) -> None:
        if not seen.where or not seen.ran:
            return
        changes = seen.changes
        if not seen.where.endswith("(keep)"):
            fields = [*changes.added, *changes.changed, *(new for _, new in changes.renamed)]
            written.append((seen.where, {_top(path) for path in fields}))
            return
        removed = {path for path in changes.removed if _top(path) == path}  # whole top-level fields
        keep_at, keep = seen.where.split(": ", 1)
        for where, fields in written:
            location, step = where.split(": ", 1)
            found.extend(
                f"{location}: warning: {step} writes {name}, which {keep} at {keep_at} removes: "
                "the step does nothing to what is sent"
                for name in sorted(fields & removed)
            )
            fields -= removed

    return observe


def _models_not_served(pack: Pack, packs: list[Pack]) -> list[str]:
    found: list[str] = []
    for model, (line, column) in zip(pack.models, pack.models_at, strict=False):
        bodies = [body for body in _asking_for(model) if pack.matches(body)]
        where = f"{pack.file}:{line}:{column}: warning: models lists {model}"
        if not bodies:
            found.append(f"{where}, which the pack's own match ({pack.match.source}) does not select")
            continue
        takers = [next(p for p in packs if p.matches(body)) for body in bodies]
        if all(taker is not pack for taker in takers):
            first = takers[0]
            found.append(
                f"{where}, but pack {first.name} ({first.file}:{first.match_at[0]}:{first.match_at[1]}, priority "
                f"{first.priority}) takes it first with match {first.match.source}: no request for it reaches this pack"
            )
    return found


def _asking_for(model: str) -> list[dict]:
    """Bodies a client asking for `model` sends: the bare minimum and each protocol's sample request."""
    return [{"model": model}] + [{**protocols.get(name).sample_request, "model": model} for name in protocols.names()]


def _top(path: str) -> str:
    return path.split(".", 1)[0].split("[", 1)[0]
