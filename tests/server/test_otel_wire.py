"""switchyard/server/otel/wire.py: what it writes is what opentelemetry-proto reads, at every length."""

from __future__ import annotations

import pytest
from fakes.otlp_receiver import attributes
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from switchyard.server.otel import wire

VALUES = [
    0, 1, 127, 128, 300, 2**40, -1, -(2**40), 0.5, -2.25, True, False, "", "é", "x" * 127, "x" * 128, "y" * 70_000,
    ["stop", "length"], ("a",), [1, 2],
]  # fmt: skip


def decoded_span(attrs: bytes, events: bytes = b"", **fields):
    data = wire.span(
        bytes(range(16)), bytes(range(8)), fields.get("parent"), fields.get("state", ""), "chat m", wire.CLIENT,
        1_700_000_000_000_000_000, 1_700_000_000_500_000_000, attrs, events, fields.get("error"),
        remote_parent=fields.get("remote", False),
    )  # fmt: skip
    request = ExportTraceServiceRequest()
    request.ParseFromString(
        wire.traces_request(wire.resource({"service.name": "s"}), wire.scope("sy", "1"), [data], "u")
    )
    [resource_spans] = request.resource_spans
    assert attributes(resource_spans.resource.attributes) == {"service.name": "s"}
    assert resource_spans.scope_spans[0].scope.name == "sy" and resource_spans.schema_url == "u"
    return resource_spans.scope_spans[0].spans[0]


@pytest.mark.parametrize("value", VALUES, ids=repr)
@pytest.mark.parametrize("form", ["kept", "varying"])
def test_an_attribute_of_any_value_and_length_reads_back_as_written(value, form):
    encode = wire.attribute if form == "kept" else wire.varying
    if form == "kept" and isinstance(value, list):
        value = tuple(value)  # kept values are hashable (the callers pass tuples)
    span = decoded_span(encode(9, "k" * 3, value) + encode(9, "key." * 40, value))
    expected = list(value) if isinstance(value, tuple) else value
    assert attributes(span.attributes) == {"kkk": expected, "key." * 40: expected}


def test_a_span_reads_back_with_its_ids_times_parent_state_status_events_and_flags():
    event = wire.event(5, "switchyard.step", wire.attributes(3, {"switchyard.added": ["a"], "n": None}))
    span = decoded_span(b"", event, parent=b"\x01" * 8, state="k=v", error="upstream 503", remote=True)
    assert (span.trace_id, span.span_id, span.parent_span_id) == (bytes(range(16)), bytes(range(8)), b"\x01" * 8)
    assert (span.name, span.kind, span.trace_state) == ("chat m", 3, "k=v")
    assert (span.start_time_unix_nano, span.end_time_unix_nano) == (
        1_700_000_000_000_000_000,
        1_700_000_000_500_000_000,
    )
    assert (span.status.code, span.status.message) == (2, "upstream 503")
    assert span.flags == 0x301
    [e] = span.events
    assert (e.time_unix_nano, e.name, attributes(e.attributes)) == (5, "switchyard.step", {"switchyard.added": ["a"]})
    assert decoded_span(b"").flags == 0x101 and decoded_span(b"").parent_span_id == b""


def test_a_histogram_reads_back_with_its_buckets_bounds_and_extremes():
    point = wire.histogram_point(wire.attribute(9, "gen_ai.token.type", "input"), 1, 2, [0, 3, 1], (4, 16), 70.0, 5, 40)
    metric = wire.histogram_metric("gen_ai.client.token.usage", "d", "{token}", [point])
    request = ExportMetricsServiceRequest()
    request.ParseFromString(wire.metrics_request(wire.resource({}), wire.scope("sy", "1"), [metric], "u"))
    [m] = request.resource_metrics[0].scope_metrics[0].metrics
    assert (m.name, m.unit, m.histogram.aggregation_temporality) == ("gen_ai.client.token.usage", "{token}", 2)
    [p] = m.histogram.data_points
    assert (p.count, p.sum, p.min, p.max) == (4, 70.0, 5, 40)
    assert list(p.bucket_counts) == [0, 3, 1] and list(p.explicit_bounds) == [4, 16]
    assert attributes(p.attributes) == {"gen_ai.token.type": "input"}
