"""The record of one request, and its finish: the metrics, the access log line and the trace.

Every way a request ends (served, refused, failed upstream, a stream that ran to its end or was cut)
goes through `Finish.done` exactly once, so the request counters, the access log and `--trace` agree
on what happened. The proxy (`server/proxy.py`) and the stream relay (`server/relay.py`) fill in the
`Exchange` as they go; neither writes a log line or a request metric of its own.

Design choice: the finish is an object of its own, built once per app with its label children bound
(`Bound`), rather than methods of the proxy, so the relay can end a stream without reaching into the
proxy. A log line nobody reads (below the log level) is not built.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from switchyard import protocols
from switchyard.errors import ClientFacing
from switchyard.language.pack import Pack
from switchyard.protocols.usage import Meter, Usage
from switchyard.server import attempts
from switchyard.server.asgi import Answer, raw_headers
from switchyard.server.limits import Admitted
from switchyard.server.logs import access_log
from switchyard.server.metrics import OTHER_MODEL, Bound, Metrics
from switchyard.server.trace import Trace
from switchyard.server.traces import Traces
from switchyard.server.upstream import KEY_SHAPE


@dataclass
class Exchange:
    """What one request log line and the metrics say about a request."""

    request_id: str
    client: str
    started: float = field(default_factory=time.perf_counter)
    pack: Pack | None = None
    model: object = None
    stream: bool = False
    status: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    upstream_ms: float | None = None
    first_byte_ms: float | None = None
    error: str | None = None
    source: str | None = None  # whose failure it was: "proxy", "upstream" or "step" (None: served)
    attempts: attempts.Attempts | None = None  # calls that failed before the one that answered
    shutdown: bool = False  # the drain ended this stream when the grace was over
    sent_fields: str | None = None  # the top-level fields sent to an upstream that answered 4xx, for the log
    trace: Trace | None = None  # with `--trace`: what `server/trace.py` records of this request
    otel: Any = None  # with OTEL_* set: the request's spans (`server/otel/telemetry.py:RequestSpans`)
    counted_until_stream_end: bool = False  # in `Proxy.in_flight` until its stream ends
    endpoint: int | None = None  # the index of the endpoint and key of the last upstream call (`server/pool.py`)
    key: int | None = None
    admitted: Admitted | None = None  # within its pack's limits: told the tokens used when the request ends
    # The name of the client token that sent it (`name:token` lines; `token-N` unnamed), for the tokens'
    # `client` label; "" when the server has no client tokens (addresses are not a bounded label set).
    caller: str = ""
    ended: bool = False  # the stream's clean-up has run (`Relay.end_stream`)
    # The answer's tokens as its client received them, after the pack's response steps and the bridge
    # back, read by the client protocol's reader (`protocols/<name>/usage.py`). Set before `Finish.done`:
    # by the relay for a stream (its `Meter`, from the client events), by the proxy for a whole body
    # (`server/proxy.py:_answer`) and for a stream folded into one (`Relay.aggregate`). None: the
    # answer carried no usage (or there was no answer), which is "unknown", never zero.
    usage: Usage | None = None
    first_content: float | None = None  # perf_counter when a stream's first content event was sent
    answer: Meter | None = None  # what the client's answer said (usage, the model that answered, why it stopped)

    @property
    def pack_name(self) -> str:
        return self.pack.name if self.pack else "-"

    @property
    def upstream_protocol(self) -> str:
        return self.pack.upstream.protocol if self.pack else "-"


class Finish:
    """How a request ends: its answer (for a whole body or an error), its metrics, its log line, its trace."""

    def __init__(self, metrics: Metrics, traces: Traces):
        self.traces = traces
        # Label children looked up in a dict: `labels()` validates and takes a lock on every call.
        self._requests = Bound(metrics.requests)
        self._duration = Bound(metrics.request_duration)
        self._failed_streams = Bound(metrics.failed_streams)
        self._tokens = Bound(metrics.tokens)
        self._ttft = Bound(metrics.time_to_first_token)
        self._rate = Bound(metrics.output_tokens_per_second)

    def ok(self, ex: Exchange, content: bytes, headers: list) -> Answer:
        ex.status = 200
        ex.bytes_out = len(content)
        self.done(ex)
        return Answer(200, content, headers)

    def fail(self, ex: Exchange, error: ClientFacing, reason: str, headers: dict | None = None) -> Answer:
        ex.status, ex.error = error.status, reason
        content = orjson.dumps(protocols.get(ex.client).render_error(error))
        ex.bytes_out = len(content)
        self.done(ex)
        return Answer(error.status, content, raw_headers({"X-Request-Id": ex.request_id, **(headers or {})}))

    def done(self, ex: Exchange) -> None:
        now = time.perf_counter()
        elapsed = now - ex.started
        pack, client, upstream, status, source = ex.pack_name, ex.client, ex.upstream_protocol, ex.status, ex.source
        self._requests(pack, client, upstream, status).inc()
        self._duration(pack, client).observe(elapsed)
        if status == 200 and source is not None:  # a stream answered 200 that ended in an error event
            self._failed_streams(pack, client, source).inc()
        usage = ex.usage
        if usage is not None:
            self._count_tokens(ex, pack, usage)
            if ex.admitted is not None:  # a pack's tokens_per_minute: the tokens the provider reported
                ex.admitted.done(usage.input + usage.output)
        if ex.first_content is not None:
            self._ttft(pack).observe(ex.first_content - ex.started)
            generating = now - ex.first_content
            if usage is not None and usage.output and generating > 0:
                self._rate(pack).observe(usage.output / generating)
        if ex.otel is not None:
            raw = ex.trace.raw if ex.trace is not None else None
            ex.otel.finish(ex, self.traces.finish(ex) if ex.trace is not None else None, raw)
        elif ex.trace is not None:
            self.traces.finish(ex)
        level = "error" if source == "step" else "warning" if source or status >= 400 else "info"
        if not access_log.wants(level):  # a line nobody reads is not made
            return
        calls = ex.attempts
        usage = ex.usage
        access_log(
            {
                "request_id": ex.request_id,
                "pack": pack,
                "model": ex.model[:200] if type(ex.model) is str else None,
                "client": client,
                "upstream": upstream,
                "stream": ex.stream,
                "status": status,
                "duration_ms": round(elapsed * 1000, 2),
                "upstream_ms": None if ex.upstream_ms is None else round(ex.upstream_ms, 2),
                "first_byte_ms": None if ex.first_byte_ms is None else round(ex.first_byte_ms, 2),
                "first_token_ms": None
                if ex.first_content is None
                else round((ex.first_content - ex.started) * 1000, 2),
                "bytes_in": ex.bytes_in,
                "bytes_out": ex.bytes_out,
                "source": source,
                "error": ex.error,
                "retried": str(calls) if calls is not None and calls.seen else None,
                "sent_fields": ex.sent_fields,
                "endpoint": ex.endpoint,
                "key": ex.key,
                **(_UNKNOWN if usage is None else _tokens(usage)),
            },
            level,
        )

    def _count_tokens(self, ex: Exchange, pack: str, usage: Usage) -> None:
        model = ex.model if ex.pack is not None and ex.model in ex.pack.models else OTHER_MODEL
        tokens, client = self._tokens, ex.caller
        tokens(pack, model, "input", client).inc(usage.input)
        tokens(pack, model, "output", client).inc(usage.output)
        # A zero is not added (each `inc` takes a lock): the series appears with its first token.
        if usage.cached:
            tokens(pack, model, "cached", client).inc(usage.cached)
        if usage.reasoning:
            tokens(pack, model, "reasoning", client).inc(usage.reasoning)
        if usage.cache_written:
            tokens(pack, model, "cache_written", client).inc(usage.cache_written)


# The log's token fields: flat, so that a text line reads `tokens_in=12 tokens_out=34 ...`.
_UNKNOWN = {"tokens": "unknown"}  # no usage reached the client: said, never logged as zero


def _tokens(usage: Usage) -> dict:
    fields = {
        "tokens_in": usage.input,
        "tokens_out": usage.output,
        "tokens_cached": usage.cached,
        "tokens_reasoning": usage.reasoning,
    }
    if usage.cache_written:
        fields["tokens_cache_written"] = usage.cache_written
    return fields


# What a provider's message may carry of a key: OpenAI-style keys (masked or not) and bearer tokens.
_KEYS = re.compile(KEY_SHAPE + r"|\bBearer\s+\S+", re.IGNORECASE)


def redact(message: str, key: str = "", limit: int = 300) -> str:
    """A provider's message for the log: shortened, on one line, with anything like a key masked."""
    if key:
        message = message.replace(key, "[key]")
    return _KEYS.sub("[key]", " ".join(message.split()))[:limit]
