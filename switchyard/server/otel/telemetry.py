"""One app's telemetry: a request's spans as it runs (`RequestSpans`, the proxy's hooks), and their end.

    server span  POST /v1/responses             kind SERVER, parent: the client's `traceparent`
      client span  chat qwen3-coder-plus        kind CLIENT, one per upstream call (a retry or a
      client span  chat qwen3-coder-plus        fallback is another), whose id goes upstream as
                                                the `traceparent` of that call

The hooks are called by `server/proxy.py` (`call`, `inject`, `answered`, `retried`) and by
`Finish.done` (`finish`), always behind `if ex.otel is not None`. On the loop a request costs a few
ids and timestamps and, when it ends, one append to the export queue; the spans are encoded by the
export thread (`export.py`, `wire.py`).

Attributes follow the GenAI semantic conventions v1.41.0 (`gen_ai.operation.name` is `chat` for
the three protocols; `gen_ai.provider.name` is the pack's name: Switchyard knows its providers
only as packs), plus `switchyard.pack`, `switchyard.bridge`, `switchyard.client_protocol` and
`switchyard.request_id`. For a failed request, what the bridge and each request step changed (as
`switchyard trace` shows it) are events of the server span. Never a key or a header value; the
client's body only with `--trace-bodies`.
"""

from __future__ import annotations

import functools
import logging
import random
import time
from urllib.parse import urlsplit

from switchyard import bridges, protocols
from switchyard.server.metrics import OTHER_MODEL
from switchyard.server.otel import SCHEMA_URL, Config, wire
from switchyard.server.otel.export import Exporter
from switchyard.server.otel.metrics import GenAIMetrics
from switchyard.server.upstream import endpoint

log = logging.getLogger("switchyard")
SCOPE = "switchyard"
BODY = 16 * 1024  # of the client's body, as an attribute, with --trace-bodies
_random = random.Random()  # ids need to be unique, not secret: the fast generator, seeded from the OS


class Telemetry:
    """The spans and metrics of one app, and the thread that exports them."""

    def __init__(self, config: Config, bodies: bool = False):
        self.config = config
        self.bodies = bodies
        self.traces = config.traces_url is not None
        self.sample = _sampler(config.sampler, config.sampler_arg)
        self.metrics = GenAIMetrics() if config.metrics_url else None
        self._resource = wire.resource(config.service)
        self._scope = wire.scope(SCOPE, config.service.get("service.version", ""))
        self.exporter = Exporter(
            config,
            self._encode_spans if self.traces else None,
            self._encode_metrics if self.metrics is not None else None,
        )

    def open(self) -> None:
        self.exporter.start()

    def close(self) -> None:
        self.exporter.close()

    def start(self, headers: dict, client: str) -> RequestSpans:
        """A request has arrived (its headers, its client protocol): its spans begin."""
        parent = _parent(headers.get("traceparent")) if "traceparent" in headers else None
        if parent is not None:
            trace_id, parent_id, sampled = parent
            sampled = self.sample(trace_id, sampled)
            state = headers.get("tracestate", "")[:512]
        else:
            trace_id, parent_id, state = _random.getrandbits(128).to_bytes(16, "big"), None, ""
            sampled = self.sample(trace_id, None)
        return RequestSpans(self, client, trace_id, parent_id, state, sampled and self.traces)

    # -- the export thread's side

    def _encode_spans(self, batch: list) -> bytes:
        spans: list[bytes] = []
        for request in batch:
            try:
                spans.extend(request.encode())
            except Exception:  # a bug must cost that request's spans, not the batch's
                log.exception("telemetry: the spans of request %s were not encoded", request.ex.request_id)
        return wire.traces_request(self._resource, self._scope, spans, SCHEMA_URL)

    def _encode_metrics(self) -> bytes | None:
        found = self.metrics.encode()
        return wire.metrics_request(self._resource, self._scope, found, SCHEMA_URL) if found else None


class RequestSpans:
    """One request's server span and its upstream calls, recorded as plain facts until `encode`."""

    __slots__ = (
        "calls",
        "client",
        "ex",
        "parent_id",
        "raw",
        "record",
        "sampled",
        "span_id",
        "start",
        "state",
        "telemetry",
        "trace_id",
        "wall_end",
    )

    def __init__(self, telemetry, client, trace_id, parent_id, state, sampled):
        self.telemetry = telemetry
        self.client = client
        self.trace_id, self.parent_id, self.state, self.sampled = trace_id, parent_id, state, sampled
        self.span_id = _random.getrandbits(64).to_bytes(8, "big")
        self.start = time.time_ns()
        self.calls: list[Call] = []
        self.ex = None
        self.record: dict | None = None  # a failed request's trace record (its changes become events)
        self.raw: bytes | None = None  # the client's body, with --trace-bodies
        self.wall_end = 0

    # -- the proxy's hooks

    def call(self, pack, model: str | None) -> None:
        """An upstream call is about to be made: to `pack` (a fallback's `model`)."""
        self.calls.append(Call(pack, model))

    def inject(self, headers: dict) -> None:
        """The upstream call's headers carry its client span as the parent (W3C trace context)."""
        if not self.calls:
            return
        call = self.calls[-1]
        flags = "01" if self.sampled else "00"
        headers["traceparent"] = f"00-{self.trace_id.hex()}-{call.span_id.hex()}-{flags}"
        if self.state:
            headers["tracestate"] = self.state

    def answered(self, status: int) -> None:
        if self.calls:
            self.calls[-1].status = status

    def retried(self, reason: str) -> None:
        """The last call failed in a way another call may fix (the `reason` of the metrics and the log)."""
        if self.calls:
            call = self.calls[-1]
            call.end, call.error = time.time_ns(), reason

    def finish(self, ex, record: dict | None = None, raw: bytes | None = None) -> None:
        """The request ended (`Finish.done`): its metrics now, its spans to the export queue.

        `record` is a failed request's trace (`Traces.finish`), `raw` the client's body as the trace kept it.
        """
        self.wall_end = time.time_ns()
        telemetry = self.telemetry
        if self.calls and not self.calls[-1].end:
            self.calls[-1].end = self.wall_end
        if telemetry.metrics is not None and ex.pack is not None:
            try:
                self._measure(ex, telemetry.metrics)
            except Exception:  # a bug here must cost a metric point, never the request
                log.exception("telemetry: request %s not measured", ex.request_id)
        if self.sampled:
            self.ex, self.record = ex, record
            self.raw = raw if telemetry.bodies else None
            telemetry.exporter.add(self)

    def _measure(self, ex, metrics: GenAIMetrics) -> None:
        base = _metric_base(ex.pack, ex.model if ex.model in ex.pack.models else OTHER_MODEL)
        failed = ex.status >= 400 or ex.source is not None
        metrics.duration.record(
            (self.wall_end - self.start) / 1e9, (*base, ("error.type", _error_type(ex))) if failed else base
        )
        usage = ex.usage
        if usage is not None:
            metrics.tokens.record(usage.input, (*base, _INPUT))
            metrics.tokens.record(usage.output, (*base, _OUTPUT))
        if ex.first_content is not None:
            metrics.first_chunk.record(ex.first_content - ex.started, base)

    # -- the export thread's side

    def encode(self) -> list[bytes]:
        ex = self.ex
        server_attrs, usage_attrs = self._server_attributes(ex)
        spans = []
        failed = ex.status >= 500 or ex.source is not None
        events = self._events()
        spans.append(
            wire.span(
                self.trace_id, self.span_id, self.parent_id, self.state,
                f"POST {protocols.get(self.client).route}", wire.SERVER, self.start, self.wall_end,
                server_attrs + usage_attrs, events, (ex.error or "failed") if failed else None,
                remote_parent=self.parent_id is not None,
            )
        )  # fmt: skip
        last = len(self.calls) - 1
        for i, call in enumerate(self.calls):
            attrs = call.attributes(ex, i)
            error = call.error
            if i == last:
                attrs += usage_attrs + self._answer_attributes(ex)
                if error is None and (ex.source == "upstream" or (call.status or 0) >= 400):
                    error = _error_type(ex)
            spans.append(
                wire.span(
                    self.trace_id, call.span_id, self.span_id, self.state, f"chat {call.model_name(ex)}",
                    wire.CLIENT, call.start, call.end or self.wall_end, attrs, b"", error,
                )
            )  # fmt: skip
        return spans

    def _server_attributes(self, ex) -> tuple[bytes, bytes]:
        a = wire.attribute
        pack = ex.pack
        parts = [
            _server_constant(self.client, pack.name if pack else None, pack.upstream.protocol if pack else None),
            a(9, "http.response.status_code", ex.status),
            wire.varying(9, "switchyard.request_id", ex.request_id),
        ]
        if type(ex.model) is str:
            parts.append(a(9, "gen_ai.request.model", ex.model[:200]))
        if ex.status >= 400 or ex.source is not None:
            parts.append(a(9, "error.type", _error_type(ex)))
        if ex.first_content is not None:
            parts.append(wire.varying(9, "switchyard.first_token_ms", round((ex.first_content - ex.started) * 1000, 3)))
        if self.raw is not None:
            parts.append(wire.varying(9, "switchyard.request.body", self.raw[:BODY].decode("utf-8", "replace")))
        return b"".join(parts), _usage_attributes(ex.usage)

    def _answer_attributes(self, ex) -> bytes:
        answer = ex.answer
        if answer is None:
            return b""
        out = b"" if answer.model is None else wire.attribute(9, "gen_ai.response.model", answer.model)
        if answer.finish:
            out += wire.attribute(9, "gen_ai.response.finish_reasons", tuple(answer.finish))
        return out

    def _events(self) -> bytes:
        """What the bridge and each request step changed, for a failed request (`switchyard trace`'s changes)."""
        changes = (self.record or {}).get("changes") or ()
        out = []
        for change in changes:
            if not change.get("ran", True):
                continue
            what = {k: _paths(change.get(k)) for k in ("added", "removed", "renamed", "changed")}
            what = {f"switchyard.{k}": v for k, v in what.items() if v}
            if not what:
                continue
            attrs = {"switchyard.step": change.get("label", ""), "switchyard.where": change.get("where") or None}
            out.append(wire.event(self.wall_end, "switchyard.step", wire.attributes(3, {**attrs, **what})))
        return b"".join(out)


class Call:
    """One upstream call's client span."""

    __slots__ = ("end", "error", "model", "pack", "span_id", "start", "status")

    def __init__(self, pack, model: str | None):
        self.pack, self.model = pack, model
        self.span_id = _random.getrandbits(64).to_bytes(8, "big")
        self.start = time.time_ns()
        self.end = 0
        self.status: int | None = None
        self.error: str | None = None

    def model_name(self, ex) -> str:
        model = self.model if self.model is not None else ex.model
        return model[:200] if type(model) is str else "unknown"

    def attributes(self, ex, index: int) -> bytes:
        a = wire.attribute
        parts = [
            _call_constant(self.pack),
            a(9, "gen_ai.request.model", self.model_name(ex)),
            a(9, "switchyard.attempt", index + 1),
        ]
        if self.status is not None:
            parts.append(a(9, "http.response.status_code", self.status))
        if self.error is not None:
            parts.append(a(9, "error.type", self.error))
        return b"".join(parts)


# -- helpers


_INPUT, _OUTPUT = ("gen_ai.token.type", "input"), ("gen_ai.token.type", "output")
_BASES: dict[tuple, tuple] = {}


def _metric_base(pack, model: str) -> tuple:
    """The attributes every GenAI metric point of this pack and model carries (made once per pair)."""
    key = (pack.name, pack.upstream.url, pack.upstream.protocol, model)
    base = _BASES.get(key)
    if base is None:
        if len(_BASES) > 4096:  # packs reloaded many times over: start again rather than grow
            _BASES.clear()
        base = _BASES[key] = (
            ("gen_ai.operation.name", "chat"),
            ("gen_ai.provider.name", pack.name),
            ("gen_ai.request.model", model),
            ("server.address", _address(pack.upstream)[0]),
        )
    return base


@functools.lru_cache(maxsize=256)
def _server_constant(client: str, pack: str | None, upstream: str | None) -> bytes:
    """The server span's attributes that depend only on the route and the pack."""
    a = wire.attribute
    route = protocols.get(client).route
    parts = [
        a(9, "http.request.method", "POST"),
        a(9, "http.route", route),
        a(9, "url.path", route),
        a(9, "gen_ai.operation.name", "chat"),
        a(9, "switchyard.client_protocol", client),
    ]
    if pack is not None:
        parts.append(a(9, "switchyard.pack", pack))
        parts.append(a(9, "switchyard.bridge", _bridge(client, upstream)))
    return b"".join(parts)


_CALLS: dict[tuple, bytes] = {}


def _call_constant(pack) -> bytes:
    """A client span's attributes that depend only on its pack."""
    upstream = pack.upstream
    key = (pack.name, upstream.url, upstream.protocol)
    found = _CALLS.get(key)
    if found is None:
        if len(_CALLS) > 1024:
            _CALLS.clear()
        a = wire.attribute
        host, port = _address(upstream)
        found = _CALLS[key] = b"".join(
            [
                a(9, "gen_ai.operation.name", "chat"),
                a(9, "gen_ai.provider.name", pack.name),
                a(9, "switchyard.pack", pack.name),
                a(9, "switchyard.upstream_protocol", upstream.protocol),
                a(9, "http.request.method", "POST"),
                a(9, "server.address", host),
                a(9, "server.port", port) if port is not None else b"",
            ]
        )
    return found


def _usage_attributes(usage) -> bytes:
    if usage is None:
        return b""
    found = {"gen_ai.usage.input_tokens": usage.input, "gen_ai.usage.output_tokens": usage.output}
    if usage.cached:
        found["gen_ai.usage.cache_read.input_tokens"] = usage.cached
    if usage.cache_written:
        found["gen_ai.usage.cache_creation.input_tokens"] = usage.cache_written
    if usage.reasoning:
        found["gen_ai.usage.reasoning.output_tokens"] = usage.reasoning
    return wire.attributes(9, found)


def _error_type(ex) -> str:
    """A low-cardinality error class: the upstream's status, or who failed (proxy, step, upstream)."""
    if ex.status >= 400:
        return str(ex.status)
    return ex.source or "error"


def _bridge(client: str, upstream: str) -> str:
    bridge = bridges.get(client, upstream)
    return "identity" if bridge.identity else f"{client} -> {upstream}"


_ADDRESSES: dict[str, tuple[str, int | None]] = {}


def _address(upstream) -> tuple[str, int | None]:
    """The upstream's host and port (never its user info or query)."""
    url = endpoint(upstream)
    found = _ADDRESSES.get(url)
    if found is None:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        found = _ADDRESSES[url] = (parts.hostname or "", port)
    return found


def _paths(value) -> list[str] | None:
    if not value:
        return None
    return [" -> ".join(map(str, v)) if isinstance(v, list | tuple) else str(v) for v in value][:50]


def _parent(header: str | None) -> tuple[bytes, bytes, bool] | None:
    """A W3C `traceparent` -> (trace id, parent span id, sampled); None when it is not a valid one."""
    if not header or len(header) < 55:
        return None
    parts = header.strip().split("-")
    if len(parts) < 4 or len(parts[0]) != 2 or parts[0] == "ff" or len(parts[1]) != 32 or len(parts[2]) != 16:
        return None
    try:
        trace_id, span_id, flags = bytes.fromhex(parts[1]), bytes.fromhex(parts[2]), int(parts[3][:2], 16)
    except ValueError:
        return None
    if not any(trace_id) or not any(span_id) or (parts[0] == "00" and len(parts) != 4):
        return None
    return trace_id, span_id, bool(flags & 1)


def _sampler(name: str, arg: str):
    """`OTEL_TRACES_SAMPLER` as a function (trace id, the parent's sampled flag or None) -> sampled."""
    try:
        ratio = min(1.0, max(0.0, float(arg))) if arg else 1.0
    except ValueError:
        ratio = 1.0
    bound = int(ratio * (1 << 64))

    def by_ratio(trace_id: bytes) -> bool:
        return int.from_bytes(trace_id[8:], "big") < bound

    root = {
        "always_on": lambda t: True,
        "always_off": lambda t: False,
        "traceidratio": by_ratio,
        "parentbased_always_off": lambda t: False,
        "parentbased_traceidratio": by_ratio,
    }.get(name, lambda t: True)  # parentbased_always_on, the default, and any name not known
    parent_based = name not in ("always_on", "always_off", "traceidratio")

    def sample(trace_id: bytes, parent_sampled: bool | None) -> bool:
        if parent_based and parent_sampled is not None:
            return parent_sampled
        return root(trace_id)

    return sample
