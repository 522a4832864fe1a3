"""Request traces: what the proxy did with each of the last N requests, kept in memory for on-call.

    serve --trace N (default 100, 0 = off)      GET /-/requests[?failed=1&limit=K]   newest first
    serve --trace-bodies (debugging only)       GET /-/requests/{id}                  one whole trace

A trace holds the request id, time, client protocol, pack, every upstream call (URL without user
info or query, status, time taken, and the provider's error body for an error), the status the
client got and, for a failed request, what the bridge and each request step changed (paths, as
`apply --explain` prints them), the fields sent, and the story of the field the provider named
(`switchyard.server.blame`). `switchyard trace ID` prints one. This module is the store and its
endpoints; one request's trace, and the hooks that fill it in, are `server/trace.py`'s.

Design choices:

- Off costs nothing: `Traces.start` returns None and every hook in the proxy is `if ex.trace is not None`.
- On, a served request costs a reference: its record is made (and scrubbed) only when someone asks
  for it, from what the request left behind less its bodies; no copy, no diff. The changes are worked
  out for failed requests only, and after the fact, by running the request path again, observed
  (`switchyard.server.blame`: recording it live would cost every request 12 to 15 times its
  request path), within a budget of 5% of one core.
- No values from bodies unless `--trace-bodies`: paths and field names only (prompts are user data).
- No secrets, ever: the client's credentials (any header named like authorization, cookie, api-key,
  *token*, *secret*, *key*), the packs' keys and anything shaped like a key are replaced by `[key]`
  in the whole serialized trace before it is kept (a served one's two client-chosen strings, when it
  is made), and header values are kept only with
  `--trace-bodies`, sensitive ones never.
- Bounded: N traces; when full, the oldest served request's trace goes first, a failed one only
  when every trace kept is of a failed request. Bodies and events are cut at 64 KiB each.
"""

from __future__ import annotations

import logging
import re
import time
from collections import deque
from collections.abc import Mapping

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from switchyard.protocols.openai import error_body
from switchyard.server import blame
from switchyard.server.access import admin_denied
from switchyard.server.trace import Trace
from switchyard.server.upstream import KEY_SHAPE

log = logging.getLogger("switchyard")

DEFAULT_CAPACITY = 100
SUMMARY = ("id", "time", "client", "pack", "model", "stream", "status", "failed", "source", "error", "duration_ms")
# Anything shaped like a key, as the log's masking has it; `[^\s"\\]` keeps the match inside a JSON string.
# In serialized JSON a bearer token ends at a quote or an escape, not only at a space.
_KEYLIKE = re.compile(KEY_SHAPE.encode() + rb'|\bBearer\s+[^\s"\\]+', re.IGNORECASE)
_KEYLIKE_TEXT = re.compile(_KEYLIKE.pattern.decode(), re.IGNORECASE)
# Every match of `_KEYLIKE` contains `k-` or `earer` in some case: `_scrub` looks for those first,
# which spares most traces the regex (thirty times dearer).


class Traces:
    """The last `capacity` traces, failed requests kept in preference; one per process."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY, bodies: bool = False):
        self.capacity = max(0, capacity)
        self.bodies = bodies and self.capacity > 0
        # Oldest first. Looked up by id by scanning (an admin call over at most `capacity` traces), so
        # keeping one costs a request an append, not the upkeep of an index.
        self._served: deque[_Kept] = deque()
        self._failed: deque[_Kept] = deque()
        self._seq = 0
        self._replays = blame.Replays()

    def start(self, headers: Mapping[str, str]) -> Trace | None:
        """A trace for a request that has just arrived; None when tracing is off."""
        return Trace(headers, self.bodies) if self.capacity else None

    def finish(self, ex) -> dict | None:
        """Keep the trace of a finished request (`ex` is the proxy's `Exchange`). Never fails the request.

        Returns a failed request's record (with its changes, for its OpenTelemetry span), else None.
        """
        trace, ex.trace = ex.trace, None
        if trace is None:
            return None
        record, failed = None, False
        try:
            failed = ex.status >= 400 or ex.source is not None
            full: dict | bytes | _Later
            summary = None
            if failed or self.bodies:
                record = trace.record(ex, failed)
                if failed:
                    self._explain(trace, ex, record)
                # Provider messages and bodies may quote a key anywhere: the whole trace is scrubbed.
                secrets = trace.secrets()
                full = _scrub(orjson.dumps(record), secrets)
                summary = orjson.loads(_scrub(orjson.dumps(_summary(record)), secrets))
            else:
                # A served request's trace is made when someone asks for it: most never are, and making one
                # (the record, the secrets, their scrubbing) costs as much as the rest of the request's
                # bookkeeping. What it is made from is kept, less the bodies it has no use for.
                full = _Later(trace, ex)
            self._seq += 1
            self._keep(_Kept(self._seq, ex.request_id, failed, summary, full))
        except Exception:  # a bug here must cost the trace, never the request
            log.exception("the trace of request %s was not kept", ex.request_id)
        return record if failed else None

    def listing(self, failed: bool = False, limit: int | None = None) -> bytes:
        """`GET /-/requests`: the summaries, newest first."""
        kept = list(self._failed) if failed else [*self._served, *self._failed]
        kept.sort(key=lambda k: k.seq, reverse=True)
        kept = kept[:limit] if limit is not None else kept
        summaries = [k.summary or _summary(k.record()) for k in kept]
        head = {"capacity": self.capacity, "bodies": self.bodies, "kept": len(self)}
        return orjson.dumps({**head, "requests": summaries})

    def get(self, request_id: str) -> bytes | None:
        # A request id sent twice: the newest answers.
        kept = max((k for k in (*self._served, *self._failed) if k.id == request_id), key=_seq, default=None)
        if kept is None:
            return None
        full = kept.record()
        return full if type(full) is bytes else orjson.dumps(full)

    def __len__(self) -> int:
        return len(self._served) + len(self._failed)

    def _keep(self, kept: _Kept) -> None:
        (self._failed if kept.failed else self._served).append(kept)
        while len(self._served) + len(self._failed) > self.capacity:
            (self._served or self._failed).popleft()  # the oldest served one; a failed one only when none is

    def _explain(self, trace: Trace, ex, record: dict) -> None:
        """The changes, the fields sent and the story of the refused field: the request path run again."""
        call = trace.calls[-1] if trace.calls else None
        pack, model = (call.pack, call.model) if call else (ex.pack, None)
        if pack is None or trace.raw is None:
            return  # refused before a pack was chosen: nothing ran
        answer = (call.status, call.error) if call is not None and call.error is not None else None
        record.update(self._replays.explain(trace.raw, pack, model, ex.client, call.outgoing if call else None, answer))


def routes(traces: Traces, admin_token: str | None) -> list[Route]:
    """`GET /-/requests` and `GET /-/requests/{id}`, admin-gated like every `/-/` endpoint."""

    async def recent(request: Request) -> Response:
        if denied := admin_denied(request, admin_token):
            return denied
        query = request.query_params
        limit = query.get("limit")
        if limit is not None and not (limit.isascii() and limit.isdigit()):
            body = error_body("'limit' must be a whole number", "invalid_request_error", "limit", "invalid_limit")
            return JSONResponse(body, status_code=400)
        failed = query.get("failed", "").lower() in ("1", "true", "yes")
        return Response(traces.listing(failed, int(limit) if limit else None), media_type="application/json")

    async def one(request: Request) -> Response:
        if denied := admin_denied(request, admin_token):
            return denied
        request_id = request.path_params["id"]
        data = traces.get(request_id)
        if data is None:
            why = "tracing is off (--trace 0)" if not traces.capacity else f"the last {traces.capacity} are kept"
            body = error_body(f"no trace of request {request_id!r}: {why}", "invalid_request_error", None, "not_found")
            return JSONResponse(body, status_code=404)
        return Response(data, media_type="application/json")

    return [Route("/-/requests", recent, methods=["GET"]), Route("/-/requests/{id:path}", one, methods=["GET"])]


# -- helpers


class _Kept:
    __slots__ = ("failed", "full", "id", "seq", "summary")

    def __init__(self, seq: int, request_id: str, failed: bool, summary: dict | None, full):
        self.seq, self.id, self.failed, self.summary, self.full = seq, request_id, failed, summary, full

    def record(self) -> dict | bytes:
        """The whole trace: serialized and scrubbed (failed, or with bodies), or a served one's record."""
        if type(self.full) is _Later:
            self.full = self.full.record()
        return self.full


class _Later:
    """What a served request's trace is made from, until it is asked for (then made once)."""

    __slots__ = ("ex", "finished", "trace")

    def __init__(self, trace: Trace, ex) -> None:
        self.trace, self.ex, self.finished = trace, ex, time.perf_counter()
        trace.raw = None  # the client's body is for a failed request's replay only
        for call in trace.calls:
            call.outgoing = b""  # and what went upstream, for --trace-bodies only

    def record(self) -> dict:
        # A served request's trace holds no provider text and no body; the client chose two of its
        # strings (its id and model), so only those can hold a secret.
        record = self.trace.record(self.ex, False, self.finished)
        secrets = self.trace.secrets()
        record["id"], record["model"] = _clean(record["id"], secrets), _clean(record["model"], secrets)
        return record


def _seq(kept: _Kept) -> int:
    return kept.seq


def _scrub(data: bytes, secrets: list[str]) -> bytes:
    """A serialized trace with each secret (as JSON writes it) and anything shaped like a key replaced."""
    for secret in secrets:
        data = data.replace(orjson.dumps(secret)[1:-1], b"[key]")
    if b"k-" in data or b"K-" in data or b"earer" in data or b"EARER" in data:
        data = _KEYLIKE.sub(b"[key]", data)
    return data


def _summary(record: dict) -> dict:
    return {k: record.get(k) for k in SUMMARY}


def _clean(text: str | None, secrets: list[str]) -> str | None:
    """`_scrub` for one string."""
    if text is None:
        return None
    for secret in secrets:
        text = text.replace(secret, "[key]")
    if "k-" in text or "K-" in text or "earer" in text or "EARER" in text:
        text = _KEYLIKE_TEXT.sub("[key]", text)
    return text
