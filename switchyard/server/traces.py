"""Request traces: what the proxy did with each of the last N requests, kept in memory for on-call.

    serve --trace N (default 100, 0 = off)      GET /-/requests[?failed=1&limit=K]   newest first
    serve --trace-bodies (debugging only)       GET /-/requests/{id}                  one whole trace

A trace holds the request id, time, client protocol, pack, every upstream call (URL without user
info or query, status, time taken, and the provider's error body for an error), the status the
client got and, for a failed request, what the bridge and each request step changed (paths, as
`apply --explain` prints them), the fields sent, and the story of the field the provider named
(`switchyard.server.blame`). `switchyard trace ID` prints one.

Design choices:

- Off costs nothing: `Traces.start` returns None and every hook in the proxy is `if ex.trace is not None`.
- On, a served request costs a small record: no copy of the body, no diff. The changes are worked
  out for failed requests only, and after the fact, by running the request path again, observed
  (`switchyard.server.blame`: recording it live would cost every request 12 to 15 times its
  request path), within a budget of 5% of one core.
- No values from bodies unless `--trace-bodies`: paths and field names only (prompts are user data).
- No secrets, ever: the client's credentials (any header named like authorization, cookie, api-key,
  *token*, *secret*, *key*), the packs' keys and anything shaped like a key are replaced by `[key]`
  in the whole serialized trace before it is kept, and header values are kept only with
  `--trace-bodies`, sensitive ones never.
- Bounded: N traces; when full, the oldest served request's trace goes first, a failed one only
  when every trace kept is of a failed request. Bodies and events are cut at 64 KiB each.
"""

from __future__ import annotations

import functools
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from switchyard import protocols
from switchyard.language.pack import Pack, Upstream
from switchyard.protocols.openai import error_body
from switchyard.server import blame
from switchyard.server.access import admin_denied
from switchyard.server.upstream import endpoint

log = logging.getLogger("switchyard")

DEFAULT_CAPACITY = 100
ERROR_BODY = 4 * 1024  # of a provider's error body, always kept
BODY = 64 * 1024  # of each body and event, with --trace-bodies
SUMMARY = ("id", "time", "client", "pack", "model", "stream", "status", "failed", "source", "error", "duration_ms")
# Header names whose values are credentials (`api-key`, `x-goog-api-key` and the like contain "key").
_SENSITIVE = ("authorization", "cookie", "token", "secret", "key")
# Anything shaped like a key, as the log's masking has it; `[^\s"\\]` keeps the match inside a JSON string.
_KEYLIKE = re.compile(rb'\b(sk|pk|rk|ak)-[A-Za-z0-9_*\-.]{4,}|\bBearer\s+[^\s"\\]+', re.IGNORECASE)
_KEYLIKE_TEXT = re.compile(_KEYLIKE.pattern.decode(), re.IGNORECASE)
# Every match of `_KEYLIKE` contains `k-` or `earer` in some case: `_scrub` looks for those first,
# which spares most traces the regex (thirty times dearer).


class Traces:
    """The last `capacity` traces, failed requests kept in preference; one per process."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY, bodies: bool = False):
        self.capacity = max(0, capacity)
        self.bodies = bodies and self.capacity > 0
        self._served: OrderedDict[int, _Kept] = OrderedDict()
        self._failed: OrderedDict[int, _Kept] = OrderedDict()
        self._by_id: dict[str, _Kept] = {}
        self._seq = 0
        self._replays = blame.Replays()

    def start(self, headers: Mapping[str, str]) -> Trace | None:
        """A trace for a request that has just arrived; None when tracing is off."""
        return Trace(headers, self.bodies) if self.capacity else None

    def finish(self, ex) -> None:
        """Keep the trace of a finished request (`ex` is the proxy's `Exchange`). Never fails the request."""
        trace, ex.trace = ex.trace, None
        if trace is None:
            return
        try:
            failed = ex.status >= 400 or ex.source is not None
            record = trace.record(ex, failed)
            secrets = trace.secrets()
            full: dict | bytes
            if failed or self.bodies:
                if failed:
                    self._explain(trace, ex, record)
                # Provider messages and bodies may quote a key anywhere: the whole trace is scrubbed.
                full = _scrub(orjson.dumps(record), secrets)
                summary = orjson.loads(_scrub(orjson.dumps(_summary(record)), secrets))
            else:
                # A served request's trace holds no provider text and no body; the client chose two of its
                # strings (its id and model), so only those can hold a secret. Serialized when asked for.
                record["id"], record["model"] = _clean(record["id"], secrets), _clean(record["model"], secrets)
                full, summary = record, None  # made when listed
            self._seq += 1
            self._keep(_Kept(self._seq, ex.request_id, failed, summary, full))
        except Exception:  # a bug here must cost the trace, never the request
            log.exception("the trace of request %s was not kept", ex.request_id)

    def listing(self, failed: bool = False, limit: int | None = None) -> bytes:
        """`GET /-/requests`: the summaries, newest first."""
        kept = list(self._failed.values()) if failed else [*self._served.values(), *self._failed.values()]
        kept.sort(key=lambda k: k.seq, reverse=True)
        kept = kept[:limit] if limit is not None else kept
        summaries = [k.summary or _summary(k.full) for k in kept]
        head = {"capacity": self.capacity, "bodies": self.bodies, "kept": len(self)}
        return orjson.dumps({**head, "requests": summaries})

    def get(self, request_id: str) -> bytes | None:
        kept = self._by_id.get(request_id)
        if kept is None:
            return None
        return kept.full if type(kept.full) is bytes else orjson.dumps(kept.full)

    def __len__(self) -> int:
        return len(self._served) + len(self._failed)

    def _keep(self, kept: _Kept) -> None:
        (self._failed if kept.failed else self._served)[kept.seq] = kept
        self._by_id[kept.id] = kept  # a request id sent twice: the newest answers
        while len(self) > self.capacity:
            gone = (self._served or self._failed).popitem(last=False)[1]
            if self._by_id.get(gone.id) is gone:
                del self._by_id[gone.id]

    def _explain(self, trace: Trace, ex, record: dict) -> None:
        """The changes, the fields sent and the story of the refused field: the request path run again."""
        call = trace.calls[-1] if trace.calls else None
        pack, model = (call.pack, call.model) if call else (ex.pack, None)
        if pack is None or trace.raw is None:
            return  # refused before a pack was chosen: nothing ran
        answer = (call.status, call.error) if call is not None and call.error is not None else None
        record.update(self._replays.explain(trace.raw, pack, model, ex.client, call.outgoing if call else None, answer))


class Trace:
    """One request being traced: what the proxy's hooks tell it, until `Traces.finish`."""

    __slots__ = ("bodies", "calls", "client_events", "headers", "raw", "upstream_events", "wall")

    def __init__(self, headers: Mapping[str, str], bodies: bool):
        self.headers = headers
        self.bodies = bodies
        self.wall = time.time()
        self.raw: bytes | None = None
        self.calls: list[Call] = []
        self.upstream_events: _Ends | None = None
        self.client_events: _Ends | None = None

    # -- the proxy's hooks

    def client(self, raw: bytes) -> None:
        """The client's body as it arrived (kept until the request ends, for a replay)."""
        self.raw = raw

    def call(self, pack: Pack, model: str | None, outgoing: bytes) -> None:
        """An upstream call is about to be made: to `pack` (a fallback's `model`), with these bytes."""
        self.calls.append(Call(pack, model, outgoing))

    def answered(self, status: int, headers: Mapping[str, str]) -> None:
        """The upstream answered the last call (with the headers it was sent)."""
        call = self.calls[-1]
        call.status, call.ms = status, round((time.perf_counter() - call.started) * 1000, 2)
        call.headers = headers

    def error_data(self, data: bytes) -> None:
        """The provider's error body (cut: 4 KiB, or 64 KiB with bodies)."""
        self.calls[-1].error = data[: BODY if self.bodies else ERROR_BODY]

    def watch(self, reader) -> None:
        """A stream starts: with bodies, keep its first and last upstream events (the proxy's `Reader`)."""
        if self.bodies:
            self.upstream_events = _Ends()
            reader.decoder = _Tap(reader.decoder, self.upstream_events)

    def sent(self, chunk: bytes) -> None:
        """Bytes of the client's stream, as written; with bodies, the first and last are kept."""
        if self.bodies:
            if self.client_events is None:
                self.client_events = _Ends()
            self.client_events.see(chunk, chunk, chunk.count(b"\n\n"))

    # -- finishing

    def record(self, ex, failed: bool) -> dict:
        seen = ex.attempts.seen if ex.attempts else []
        record = {
            "id": ex.request_id,
            "time": _second(int(self.wall)) + f".{int(self.wall % 1 * 1000):03d}Z",
            "client": ex.client,
            "route": protocols.get(ex.client).route,
            "pack": ex.pack.name if ex.pack else None,
            "upstream": ex.pack.upstream.protocol if ex.pack else None,
            "model": ex.model[:200] if isinstance(ex.model, str) else None,
            "stream": ex.stream,
            "status": ex.status,
            "failed": failed,
            "source": ex.source,
            "error": ex.error,
            "duration_ms": round((time.perf_counter() - ex.started) * 1000, 2),
            "attempts": [
                call.record(seen[i][1] if i < len(seen) else None, self.bodies) for i, call in enumerate(self.calls)
            ],
        }
        if self.bodies:
            record["headers"] = _headers(self.headers, True)
            record["body"] = _body(self.raw)
            record["events"] = {
                "upstream": self.upstream_events.record(False) if self.upstream_events else None,
                "client": self.client_events.record(True) if self.client_events else None,
            }
        return record

    def secrets(self) -> list[str]:
        """What must not appear in the trace: the client's credentials and the keys of the packs called."""
        values: list[str] = []
        # Starlette's raw pairs: `items()` would decode every header of every request.
        pairs = self.headers.raw if hasattr(self.headers, "raw") else self.headers.items()
        for name, value in pairs:
            if _sensitive(name):
                value = (value.decode("latin-1") if type(value) is bytes else value).strip()
                values.append(value)
                values.append(value.partition(" ")[2].strip())  # `Bearer X`: X alone, too
        for call in self.calls:
            values.extend(_pack_secrets(call.pack.upstream))
        # Longest first, so that a key inside a longer credential does not leave the rest behind.
        return sorted({v for v in values if len(v) >= 4}, key=len, reverse=True)


class Call:
    """One upstream call of a traced request."""

    __slots__ = ("error", "headers", "model", "ms", "outgoing", "pack", "started", "status")

    def __init__(self, pack: Pack, model: str | None, outgoing: bytes):
        self.pack, self.model, self.outgoing = pack, model, outgoing
        self.started = time.perf_counter()
        self.status: int | None = None  # None: no HTTP answer (unreachable, timed out)
        self.ms: float | None = None
        self.headers: Mapping[str, str] = {}
        self.error: bytes | None = None

    def record(self, retried: str | None, bodies: bool) -> dict:
        out = {
            "pack": self.pack.name,
            "model": self.model,
            "url": _url(self.pack.upstream),
            "status": self.status,
            "ms": self.ms if self.ms is not None else round((time.perf_counter() - self.started) * 1000, 2),
            "retried": retried,  # why another call followed this one, if one did
            "headers": _headers(self.headers, bodies),
        }
        if self.error is not None:
            out["error_body"] = _body(self.error)
        if bodies:
            out["body"] = _body(self.outgoing)
        return out


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

    def __init__(self, seq: int, request_id: str, failed: bool, summary: dict | None, full: dict | bytes):
        self.seq, self.id, self.failed, self.summary, self.full = seq, request_id, failed, summary, full


class _Ends:
    """The first and last of a stream's events (or written chunks), and how many there were."""

    __slots__ = ("count", "first", "last")

    def __init__(self) -> None:
        self.first = self.last = None
        self.count = 0

    def see(self, first, last, count: int) -> None:
        if self.first is None:
            self.first = first[:BODY]
        self.last = last
        self.count += count

    def record(self, framed: bool) -> dict:
        first, last = self.first, self.last
        if framed:  # written chunks: the first event of the first, the last event of the last
            first = first.split(b"\n\n", 1)[0]
            last = last.rstrip(b"\n").rsplit(b"\n\n", 1)[-1]
        return {"count": self.count, "first": _text(first), "last": _text(last)}


class _Tap:
    """An SSE decoder that tells `_Ends` what it decoded (the proxy reads `decode` and `flush` only)."""

    __slots__ = ("decoder", "ends")

    def __init__(self, decoder, ends: _Ends):
        self.decoder, self.ends = decoder, ends

    def decode(self, chunk: bytes) -> list:
        return self._seen(self.decoder.decode(chunk))

    def flush(self) -> list:
        return self._seen(self.decoder.flush())

    def _seen(self, events: list) -> list:
        if events:
            self.ends.see(events[0].data, events[-1].data, len(events))
        return events


def _url(upstream: Upstream) -> str:
    return _shown(endpoint(upstream))


@functools.lru_cache(maxsize=256)
def _shown(url: str) -> str:
    parts = urlsplit(url)  # user info is never in it; the query may carry a key
    return urlunsplit(parts._replace(query="", fragment=""))


def _headers(headers: Mapping[str, str], values: bool) -> list | dict:
    if not values:
        return list(headers)
    return {k: "[redacted]" if _sensitive(k) else v for k, v in headers.items()}


def _body(data: bytes | None):
    """A body as JSON when it is whole JSON, else as (cut) text."""
    if data is None:
        return None
    if len(data) <= BODY:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    return _text(data)


def _text(value) -> str | None:
    if value is None:
        return None
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    return text if len(text) <= BODY else text[:BODY] + f"... (cut at {BODY} of {len(text)})"


def _scrub(data: bytes, secrets: list[str]) -> bytes:
    """A serialized trace with each secret (as JSON writes it) and anything shaped like a key replaced."""
    for secret in secrets:
        data = data.replace(orjson.dumps(secret)[1:-1], b"[key]")
    if b"k-" in data or b"K-" in data or b"earer" in data or b"EARER" in data:
        data = _KEYLIKE.sub(b"[key]", data)
    return data


def _pack_secrets(upstream: Upstream) -> list[str]:
    """A pack's key and the values of its credential-like headers."""
    values = [upstream.api_key or "", *(v for k, v in upstream.headers.items() if _sensitive(k))]
    # A key in the URL's query (`?api-key=...`) is cut from the URL shown, but a provider may echo it in an error.
    values += [v for k, v in parse_qsl(urlsplit(upstream.url).query) if _sensitive(k)]
    return [v.strip() for v in values]


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


@functools.lru_cache(maxsize=512)
def _sensitive(name: str | bytes) -> bool:
    low = (name.decode("latin-1") if type(name) is bytes else name).lower()
    return any(word in low for word in _SENSITIVE)


@functools.lru_cache(maxsize=4)
def _second(wall: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(wall))
