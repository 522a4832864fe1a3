"""OTLP's protobuf messages, written directly: the spans and histograms `server/otel` exports.

Only what Switchyard sends is here: `ExportTraceServiceRequest` (resource, scope, spans with
attributes, events and status) and `ExportMetricsServiceRequest` (cumulative explicit-bucket
histograms), field numbers from opentelemetry-proto's `trace/v1/trace.proto`,
`metrics/v1/metrics.proto` and `common/v1/common.proto` (protocol v1.x). The tests decode every
byte with opentelemetry-proto's own classes, so a wrong field number fails them.

Design choice: measured on the proxy, the SDK's span objects and encoder cost about 40% of a small
request's CPU (a span is ~15 µs to make and ~25 µs to encode; a histogram point ~4 µs), against a
budget of 5%. Written here, an attribute whose key and value repeat (a pack, a route, a model) is
encoded once and kept (`attribute`), so a span is a handful of byte joins.
"""

from __future__ import annotations

import functools
import struct

# Wire types
_VARINT, _FIXED64, _LEN, _FIXED32 = 0, 1, 2, 5
_SMALL = [bytes([n]) for n in range(128)]

SERVER, CLIENT = 2, 3  # Span.SpanKind
STATUS_ERROR = 2  # Status.StatusCode (0 unset, 1 ok)
CUMULATIVE = 2  # AggregationTemporality


def varint(n: int) -> bytes:
    if n < 128:
        return _SMALL[n] if n >= 0 else varint(n & 0xFFFFFFFFFFFFFFFF)  # int64: two's complement, 10 bytes
    out = bytearray()
    while n >= 128:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


@functools.cache
def tag(number: int, wire: int) -> bytes:
    return varint(number << 3 | wire)


def nested(number: int, data: bytes) -> bytes:
    """A length-delimited field: bytes, a string's UTF-8, or an embedded message."""
    return tag(number, _LEN) + varint(len(data)) + data


def text(number: int, value: str) -> bytes:
    return nested(number, value.encode("utf-8", "replace"))


def uint(number: int, value: int) -> bytes:
    return tag(number, _VARINT) + varint(value)


def fixed64(number: int, value: int) -> bytes:
    return tag(number, _FIXED64) + value.to_bytes(8, "little")


def fixed32(number: int, value: int) -> bytes:
    return tag(number, _FIXED32) + value.to_bytes(4, "little")


def double(number: int, value: float) -> bytes:
    return tag(number, _FIXED64) + struct.pack("<d", value)


# -- common.proto: AnyValue, KeyValue


def any_value(value) -> bytes:
    kind = type(value)
    if kind is str:
        return text(1, value)
    if kind is bool:
        return uint(2, int(value))
    if kind is int:
        return uint(3, value)
    if kind is float:
        return double(4, value)
    if kind is list or kind is tuple:  # ArrayValue { repeated AnyValue values = 1 }
        return nested(5, b"".join([nested(1, any_value(v)) for v in value]))
    return text(1, str(value))


def key_value(key: str, value) -> bytes:
    return text(1, key) + nested(2, any_value(value))


@functools.lru_cache(maxsize=4096)
def attribute(number: int, key: str, value) -> bytes:
    """A KeyValue as field `number` of its message (Span 9, Event 3, Resource 1, data point 9), kept:
    most attributes of a span repeat from request to request (a pack, a route, a status, a model)."""
    return nested(number, key_value(key, value))


@functools.cache
def _key(key: str) -> bytes:
    return text(1, key)


def varying(number: int, key: str, value) -> bytes:
    """A KeyValue whose value changes every time (an id, a count, a time): the short forms spelled out."""
    kind = type(value)
    if kind is int and value >= 0:
        inner = b"\x18" + varint(value)  # AnyValue.int_value
    elif kind is str:
        data = value.encode("utf-8", "replace")
        inner = (b"\x0a" + _SMALL[len(data)] + data) if len(data) < 128 else nested(1, data)
    elif kind is float:
        inner = b"\x21" + struct.pack("<d", value)  # AnyValue.double_value
    else:
        return nested(number, key_value(key, value))
    kv = _key(key) + b"\x12" + _SMALL[len(inner)] + inner if len(inner) < 128 else _key(key) + nested(2, inner)
    return (tag(number, _LEN) + _SMALL[len(kv)] + kv) if len(kv) < 128 else nested(number, kv)


def attributes(number: int, items: dict) -> bytes:
    """Attributes whose values vary (token counts, a client's model): encoded each time."""
    return b"".join([varying(number, k, v) for k, v in items.items() if v is not None])


# -- trace.proto


def span(
    trace_id: bytes,
    span_id: bytes,
    parent_id: bytes | None,
    trace_state: str,
    name: str,
    kind: int,
    start: int,
    end: int,
    attrs: bytes,
    events: bytes = b"",
    error: str | None = None,
    remote_parent: bool = False,
) -> bytes:
    """One `Span` (its bytes, without the field tag of the message holding it). `error` sets status ERROR."""
    parts = [b"\x0a\x10", trace_id, b"\x12\x08", span_id]  # trace_id (16 bytes), span_id (8)
    if trace_state:
        parts.append(text(3, trace_state))
    if parent_id is not None:
        parts += (b"\x22\x08", parent_id)
    parts += (_name(name), _KINDS[kind], b"\x39", _Q(start), b"\x41", _Q(end), attrs, events)
    if error is not None:
        parts.append(nested(15, text(2, error[:300]) + uint(3, STATUS_ERROR)))
    # flags: sampled (0x01), whether the parent is remote is known (0x100), and it is (0x200)
    parts.append(_REMOTE if remote_parent else _LOCAL)
    return b"".join(parts)


_Q = struct.Struct("<Q").pack
_KINDS = {SERVER: uint(6, SERVER), CLIENT: uint(6, CLIENT)}
_LOCAL, _REMOTE = fixed32(16, 0x101), fixed32(16, 0x301)


@functools.lru_cache(maxsize=1024)
def _name(name: str) -> bytes:
    return text(5, name)


def event(time_ns: int, name: str, attrs: bytes) -> bytes:
    """One `Event` as Span field 11."""
    return nested(11, fixed64(1, time_ns) + text(2, name) + attrs)


def resource(attrs: dict) -> bytes:
    return b"".join([nested(1, key_value(k, v)) for k, v in attrs.items()])


def scope(name: str, version: str) -> bytes:
    return text(1, name) + text(2, version)


def traces_request(resource_bytes: bytes, scope_bytes: bytes, spans: list[bytes], schema_url: str) -> bytes:
    """`ExportTraceServiceRequest` with one resource and one scope holding `spans`."""
    scope_spans = nested(1, scope_bytes) + b"".join([nested(2, s) for s in spans]) + text(3, schema_url)
    resource_spans = nested(1, resource_bytes) + nested(2, scope_spans) + text(3, schema_url)
    return nested(1, resource_spans)


# -- metrics.proto


def histogram_point(
    attrs: bytes, start: int, now: int, counts: list[int], bounds: tuple, total: float, low: float, high: float
) -> bytes:
    """One `HistogramDataPoint` (explicit buckets; `counts` has one more entry than `bounds`)."""
    return b"".join(
        [
            attrs,
            fixed64(2, start),
            fixed64(3, now),
            fixed64(4, sum(counts)),
            double(5, total),
            nested(6, b"".join([c.to_bytes(8, "little") for c in counts])),  # packed fixed64
            nested(7, struct.pack(f"<{len(bounds)}d", *bounds)),  # packed double
            double(11, low),
            double(12, high),
        ]
    )


def histogram_metric(name: str, description: str, unit: str, points: list[bytes]) -> bytes:
    """One `Metric` holding a cumulative `Histogram` (field 9)."""
    data = b"".join([nested(1, p) for p in points]) + uint(2, CUMULATIVE)
    return text(1, name) + text(2, description) + text(3, unit) + nested(9, data)


def metrics_request(resource_bytes: bytes, scope_bytes: bytes, metrics: list[bytes], schema_url: str) -> bytes:
    """`ExportMetricsServiceRequest` with one resource and one scope holding `metrics`."""
    scope_metrics = nested(1, scope_bytes) + b"".join([nested(2, m) for m in metrics]) + text(3, schema_url)
    resource_metrics = nested(1, resource_bytes) + nested(2, scope_metrics) + text(3, schema_url)
    return nested(1, resource_metrics)
