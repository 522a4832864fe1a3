"""One request's trace: the record the proxy's hooks fill in while the request runs.

The hooks (`client`, `call`, `answered`, `error_data`, `watch`, `sent`) are called by
`server/proxy.py` and `server/relay.py`, always behind `if ex.trace is not None`; `record` and
`secrets` are read once, when `Traces.finish` (`server/traces.py`) keeps the trace.

Design choices: a hook keeps references, never copies (the client's body is kept as the bytes that
arrived, an upstream call as the bytes sent), so a served request's trace costs a few small objects
(`__slots__`); only `--trace-bodies` taps the stream, and then only its first and last events are
kept. Header values are kept only with bodies, credentials never; what must be scrubbed from the
whole record is listed by `Trace.secrets`.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

import orjson

from switchyard import protocols
from switchyard.language.pack import Pack, Upstream
from switchyard.server.upstream import endpoint, pack_secrets, sensitive

ERROR_BODY = 4 * 1024  # of a provider's error body, always kept
BODY = 64 * 1024  # of each body and event, with --trace-bodies


# Header names whose values are credentials (`api-key`, `x-goog-api-key` and the like contain "key").
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

    def record(self, ex, failed: bool, finished: float | None = None) -> dict:
        """The trace as JSON-ready data; `finished` (perf_counter) when the request ended, if not now."""
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
            "duration_ms": round(((finished or time.perf_counter()) - ex.started) * 1000, 2),
            # What the client received of usage; "unknown" when the answer carried none (never zeros).
            "tokens": ex.usage.record() if ex.usage is not None else "unknown",
            "first_token_ms": None if ex.first_content is None else round((ex.first_content - ex.started) * 1000, 2),
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
            if sensitive(name):
                value = (value.decode("latin-1") if type(value) is bytes else value).strip()
                values.append(value)
                values.append(value.partition(" ")[2].strip())  # `Bearer X`: X alone, too
        for call in self.calls:
            values.extend(pack_secrets(call.pack.upstream))
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


# -- helpers


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
    return {k: "[redacted]" if sensitive(k) else v for k, v in headers.items()}


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


@functools.lru_cache(maxsize=4)
def _second(wall: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(wall))
