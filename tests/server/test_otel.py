"""switchyard/server/otel end to end: a real `switchyard serve` exporting to a real OTLP/HTTP receiver.

The receiver (`fakes/otlp_receiver.py`) decodes every export with opentelemetry-proto, so a span
that reaches these asserts was valid OTLP. The questions: is the caller's trace continued (the
client's `traceparent` is the server span's parent, and the upstream call carries our client span as
its parent), does each upstream call get its own span (a retry is visible), do the spans carry the
GenAI semantic conventions' attributes and the tokens, are the metrics the spec's, and does nothing
secret leave.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import aiohttp
import pytest
from fakes.chat_provider import FakeChatProvider, text_chunks, usage_chunk
from fakes.otlp_receiver import OTLPReceiver, attributes
from proxy_process import write_pack

from switchyard.server.otel import read_config
from switchyard.server.otel.telemetry import _parent, _sampler

PACK_KEY = "sk-pack-OTEL-5e1f-TESTKEY"
CLIENT_TRACE = "0af7651916cd43dd8448eb211c80319c"
CLIENT_SPAN = "b7ad6b7169203331"
SERVER, CLIENT = 2, 3  # Span.SpanKind


@pytest.fixture
async def rig(aiohttp_server, start_proxy, tmp_path):
    receiver = OTLPReceiver()
    collector = await aiohttp_server(receiver.app)
    upstream = FakeChatProvider(allowed_fields=None)
    url = str((await aiohttp_server(upstream.app)).make_url("/v1"))
    rules = tmp_path / "rules"
    write_pack(
        rules,
        "qwen",
        f"""
        pack: qwen
        match: "starts_with(model, 'qwen')"
        models: [qwen3-coder-plus]
        upstream: {{url: "{url}", protocol: chat, api_key: "{PACK_KEY}", retries: 1}}
        request:
          - match: "user == 'bad'"
            default: {{vendor_flag: true}}
        """,
    )
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": str(collector.make_url("")),
        "OTEL_SERVICE_NAME": "gateway-test",
        "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment.name=test",
        "OTEL_BSP_SCHEDULE_DELAY": "50",
        "OTEL_METRIC_EXPORT_INTERVAL": "100",
    }
    proxy = start_proxy(rules, env=env)
    async with aiohttp.ClientSession() as http:
        yield proxy, http, upstream, receiver


async def codex_turn(http, proxy, stream: bool = True, traceparent: str | None = None) -> str:
    """A Responses request (Codex's protocol) bridged to the Chat upstream; its request id."""
    headers = {"Authorization": "Bearer sk-client-OTEL-9a8b-TESTKEY"}
    if traceparent:
        headers["traceparent"] = traceparent
    body = {"model": "qwen3-coder-plus", "input": "hi", "stream": stream}
    async with http.post(proxy.url + "/v1/responses", json=body, headers=headers) as r:
        raw = await r.read()
        assert r.status == 200, raw
        return r.headers["X-Request-Id"]


def by_request(spans, request_id: str) -> tuple:
    [server] = [s for s in spans if attributes(s.attributes).get("switchyard.request_id") == request_id]
    calls = [s for s in spans if s.parent_span_id == server.span_id and s.kind == CLIENT]
    return server, calls


async def test_a_bridged_stream_continues_the_callers_trace_to_the_upstream_with_genai_attributes(rig):
    proxy, http, upstream, receiver = rig
    details = {"prompt_tokens_details": {"cached_tokens": 6}, "completion_tokens_details": {"reasoning_tokens": 2}}
    upstream.reply_stream([*text_chunks("Hello", usage=False), usage_chunk(40, 9, **details)])
    request_id = await codex_turn(http, proxy, traceparent=f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01")

    spans = await receiver.wait_spans(lambda spans: len(spans) >= 2)
    server, [call] = by_request(spans, request_id)
    # The caller's trace, continued: same trace id, the caller's span is our server span's parent.
    assert server.trace_id.hex() == call.trace_id.hex() == CLIENT_TRACE
    assert server.parent_span_id.hex() == CLIENT_SPAN and server.kind == SERVER
    assert server.name == "POST /v1/responses"
    # The upstream call carried our client span as its parent.
    sent = upstream.received[0].headers["traceparent"]
    assert sent == f"00-{CLIENT_TRACE}-{call.span_id.hex()}-01"
    assert server.start_time_unix_nano <= call.start_time_unix_nano <= call.end_time_unix_nano
    assert call.end_time_unix_nano <= server.end_time_unix_nano

    s, c = attributes(server.attributes), attributes(call.attributes)
    assert (s["switchyard.pack"], s["switchyard.bridge"], s["switchyard.client_protocol"]) == (
        "qwen", "responses -> chat", "responses"
    )  # fmt: skip
    assert (s["http.response.status_code"], s["gen_ai.request.model"]) == (200, "qwen3-coder-plus")
    assert s["switchyard.first_token_ms"] > 0
    assert call.name == "chat qwen3-coder-plus"
    assert c["gen_ai.operation.name"] == "chat" and c["gen_ai.provider.name"] == "qwen"
    assert c["server.address"] == "127.0.0.1" and c["server.port"] == upstream_port(upstream)
    assert (c["gen_ai.usage.input_tokens"], c["gen_ai.usage.output_tokens"]) == (40, 9)
    assert c["gen_ai.usage.cache_read.input_tokens"] == 6 and c["gen_ai.usage.reasoning.output_tokens"] == 2
    assert c["gen_ai.response.model"] == "qwen3-coder-plus" and c["gen_ai.response.finish_reasons"] == ["completed"]
    assert (s["gen_ai.usage.input_tokens"], s["gen_ai.usage.output_tokens"]) == (40, 9)
    assert call.status.code == 0 and server.status.code == 0
    assert receiver.resources[0]["service.name"] == "gateway-test"
    assert receiver.resources[0]["deployment.environment.name"] == "test"
    assert receiver.schemas[0] == "https://opentelemetry.io/schemas/1.41.0"
    # No prompt without --trace-bodies, and never a key.
    everything = b"".join(receiver.bodies)
    assert b"sk-pack-OTEL" not in everything and b"sk-client-OTEL" not in everything
    assert b"switchyard.request.body" not in everything


def upstream_port(upstream) -> int:
    host = upstream.received[0].headers["Host"]
    return int(host.rsplit(":", 1)[1])


async def test_a_retried_call_is_two_client_spans_under_one_server_span(rig):
    proxy, http, upstream, receiver = rig
    upstream.reply_error(503, {"error": {"message": "overloaded", "type": "server_error", "code": None}})
    request_id = await codex_turn(http, proxy, stream=False)

    spans = await receiver.wait_spans(lambda spans: len(spans) >= 3)
    server, calls = by_request(spans, request_id)
    assert len(calls) == 2 and server.parent_span_id == b""  # no caller's trace: ours is the root
    first, second = sorted(calls, key=lambda s: s.start_time_unix_nano)
    a, b = attributes(first.attributes), attributes(second.attributes)
    assert (a["switchyard.attempt"], a["http.response.status_code"], a["error.type"]) == (1, 503, "503")
    assert first.status.code == 2 and first.end_time_unix_nano <= second.start_time_unix_nano
    assert (b["switchyard.attempt"], b["http.response.status_code"]) == (2, 200) and "error.type" not in b
    assert second.status.code == 0 and b["gen_ai.usage.input_tokens"] == 10
    # Each call went upstream with its own span as the parent.
    parents = [r.headers["traceparent"].split("-")[2] for r in upstream.received]
    assert parents == [first.span_id.hex(), second.span_id.hex()]


async def test_a_failed_request_has_an_error_status_and_the_steps_that_changed_it_as_events(rig):
    proxy, http, _, receiver = rig
    # The strict fake refuses the field the step adds, as a provider would.
    body = {"model": "qwen3-coder-plus", "messages": [{"role": "user", "content": "hi"}], "user": "bad"}
    async with http.post(proxy.url + "/v1/chat/completions", json=body) as r:
        assert r.status == 400
        request_id = r.headers["X-Request-Id"]
    spans = await receiver.wait_spans(lambda spans: any(s.kind == SERVER for s in spans))
    server, [call] = by_request(spans, request_id)
    assert attributes(server.attributes)["error.type"] == "400" and call.status.code == 2
    steps = {attributes(e.attributes)["switchyard.step"]: attributes(e.attributes) for e in server.events}
    [event] = [v for k, v in steps.items() if "default" in k]
    assert (
        event["switchyard.added"] == ["vendor_flag"]
        and "qwen.yaml:7:5: request step 1 (default)" in event["switchyard.where"]
    )


async def test_the_genai_metrics_are_exported_with_the_specs_names_units_and_attributes(rig):
    proxy, http, _, receiver = rig
    await codex_turn(http, proxy)
    names = {
        "gen_ai.client.token.usage",
        "gen_ai.client.operation.duration",
        "gen_ai.client.operation.time_to_first_chunk",
    }

    async def exported() -> dict:
        for _ in range(100):
            found = {m.name: m for m in receiver.metrics if m.name in names}
            if len(found) == 3:
                return found
            await asyncio_sleep()
        raise AssertionError(f"metrics: {[m.name for m in receiver.metrics]}")

    found = await exported()
    usage = found["gen_ai.client.token.usage"]
    assert usage.unit == "{token}" and found["gen_ai.client.operation.duration"].unit == "s"
    points = {attributes(p.attributes)["gen_ai.token.type"]: p for p in usage.histogram.data_points}
    assert points["input"].sum == 10 and points["output"].sum == 5 and points["input"].count == 1
    attrs = attributes(points["input"].attributes)
    assert attrs == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "qwen",
        "gen_ai.request.model": "qwen3-coder-plus",
        "server.address": "127.0.0.1",
        "gen_ai.token.type": "input",
    }
    assert usage.histogram.aggregation_temporality == 2  # cumulative
    assert list(points["input"].explicit_bounds)[:3] == [1, 4, 16]
    assert sum(points["input"].bucket_counts) == 1 and points["input"].bucket_counts[2] == 1  # 10 in (4, 16]


async def asyncio_sleep() -> None:
    await asyncio.sleep(0.05)


def test_without_otel_variables_nothing_of_opentelemetry_is_imported_by_a_server():
    code = (
        "import sys; from switchyard.server.app import create_app; import tempfile, pathlib;"
        "d = pathlib.Path(tempfile.mkdtemp());"
        "create_app(str(d), partial=True);"
        "print(sorted(m for m in sys.modules if 'otel.' in m or m.startswith('opentelemetry')))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("env", "wanted"),
    [
        ({}, None),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, ("http://c:4318/v1/traces", "http://c:4318/v1/metrics")),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/t"}, ("http://c:4318/t", None)),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"}, None),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_METRICS_EXPORTER": "none"},
         ("http://c:4318/v1/traces", None)),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, None),
    ],
)  # fmt: skip
def test_the_standard_variables_decide_what_is_exported_where(env, wanted):
    config = read_config(env)
    assert (None if config is None else (config.traces_url, config.metrics_url)) == wanted


def test_a_traceparent_is_read_only_when_it_is_valid():
    assert _parent(f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01") == (
        bytes.fromhex(CLIENT_TRACE),
        bytes.fromhex(CLIENT_SPAN),
        True,
    )
    assert _parent(f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-00")[2] is False
    bad = [
        f"00-{'0' * 32}-{CLIENT_SPAN}-01",
        f"00-{CLIENT_TRACE}-{'0' * 16}-01",
        f"ff-{CLIENT_TRACE}-{CLIENT_SPAN}-01",
        f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01-extra",
        "00-xyz",
        f"00-{'g' * 32}-{CLIENT_SPAN}-01",
    ]
    assert [_parent(header) for header in bad] == [None] * len(bad)


def test_the_samplers_follow_the_parent_or_the_ratio():
    low, high = bytes(8) + (1).to_bytes(8, "big"), bytes(8) + (2**64 - 1).to_bytes(8, "big")
    ratio = _sampler("parentbased_traceidratio", "0.5")
    assert (ratio(low, None), ratio(high, None), ratio(high, True), ratio(low, False)) == (True, False, True, False)
    assert _sampler("always_off", "")(low, True) is False
    assert _sampler("parentbased_always_on", "")(low, False) is False
