"""Warnings `switchyard check` gives about packs that load fine but would lose something in production.

A `keep:` allowlist written for one client can remove what a bridge adds on purpose for another:
`stream_options` (Responses clients over Chat: usage, which Codex reports), `tools`, `max_tokens`.
The pack is run here, through the real request path (`switchyard.pipeline`), on each protocol's
sample client request; a `keep` step that removes a top-level field the bridge added is named with
its position. Warnings never fail `check`, and a pack says it means the removal by testing it: a
`tests:` case whose `excludes` names the field silences the warning (rules/glm.yaml does so for
`stream_options`, which BigModel's schema does not have).
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterable

from switchyard import protocols
from switchyard.errors import ClientFacing, StepError
from switchyard.language.pack import Pack
from switchyard.pipeline import Observation, Pipeline, clients_of


def warnings(packs: Iterable[Pack]) -> list[str]:
    """`FILE:LINE:COL: warning: ...` lines, one per field a `keep` removes that a bridge added."""
    out: list[str] = []
    for pack in packs:
        for client in clients_of(pack.upstream.protocol):
            if client != pack.upstream.protocol:
                out.extend(_keep_removes_bridged(pack, client))
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
