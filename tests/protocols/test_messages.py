"""switchyard/protocols/messages: Anthropic's error shape and table, the failure parser, the SSE framing,
the identity translator and the fold of a stream into one `message`.

Golden files: `tests/golden/protocols/messages/aggregate/<case>.in.jsonl` holds the events of one
stream, `<case>.out.json` the message it folds into (or the error it raises). Successful folds are
also checked against the anthropic SDK's own accumulator (`accumulate_event`).
"""

from __future__ import annotations

import anthropic
import golden_files
import orjson
import pytest
from aiohttp import web
from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import Message
from anthropic.types.shared import ErrorResponse

from switchyard import protocols
from switchyard.errors import RequestError, UpstreamError, UpstreamFailed
from switchyard.language.loader import load_text
from switchyard.language.pack import compile_pack
from switchyard.pipeline import Pipeline
from switchyard.protocols.messages import PROTOCOL
from switchyard.protocols.messages.aggregate import final_message
from switchyard.protocols.messages.errors import (
    STATUS_OF_TYPE,
    client_status,
    describe_error_body,
    error_body,
    error_type,
    is_error_shape,
    render_error,
    upstream_error,
)
from switchyard.protocols.messages.passthrough import MessagesPassthrough
from switchyard.protocols.sse import Event, SSEDecoder

GOLDEN = golden_files.GOLDEN / "protocols" / "messages" / "aggregate"
CASES = sorted(path.name.removesuffix(".in.jsonl") for path in GOLDEN.glob("*.in.jsonl"))
frame = PROTOCOL.frame  # `event: NAME` + `data: JSON`, the name the event's own `type`


# --- errors ------------------------------------------------------------------------------------------


def test_the_documented_status_of_each_error_type_both_ways():
    documented = {
        400: "invalid_request_error", 401: "authentication_error", 403: "permission_error", 404: "not_found_error",
        413: "request_too_large", 429: "rate_limit_error", 500: "api_error", 529: "overloaded_error",
    }  # fmt: skip
    for status, kind in documented.items():
        assert STATUS_OF_TYPE[kind] == status and error_type(status) == kind
    assert error_type(422) == "invalid_request_error" and error_type(502) == "api_error"
    assert error_type(503) == "overloaded_error"


def test_an_error_body_is_anthropics_shape_and_the_sdk_reads_it():
    body = error_body("No such model.", 404)
    assert body == {"type": "error", "error": {"type": "not_found_error", "message": "No such model."}}
    ErrorResponse.model_validate(body)
    assert is_error_shape(body) and not is_error_shape({"error": {"message": "openai"}})


def test_a_client_facing_error_is_rendered_with_the_type_of_its_status_or_code():
    assert render_error(RequestError("bad", param="x"))["error"] == {"type": "invalid_request_error", "message": "bad"}
    limited = UpstreamFailed("slow down", code="rate_limit_exceeded", status=429, type="server_error")
    assert render_error(limited)["error"]["type"] == "rate_limit_error"
    assert render_error(UpstreamError("gone"))["error"]["type"] == "api_error"
    assert render_error(UpstreamError("x", status=429, type="overloaded_error"))["error"]["type"] == "overloaded_error"


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        ({"type": "overloaded_error", "message": "Overloaded"}, 503, "server_is_overloaded"),
        ({"type": "rate_limit_error", "message": "Number of requests has exceeded"}, 429, "rate_limit_exceeded"),
        ({"type": "invalid_request_error", "message": "prompt is too long: 210000 tokens > 200000"}, 400,
         "context_length_exceeded"),
        ({"type": "api_error", "message": "Internal server error"}, 502, "server_error"),
    ],
)  # fmt: skip
def test_an_anthropic_error_event_is_classified_like_every_other_failure(error, status, code):
    failure = upstream_error({"type": "error", "error": error})
    assert isinstance(failure, UpstreamFailed)
    assert failure.status == status and failure.responses_code == code and failure.type == error["type"]
    assert failure.message == error["message"]


def test_an_upstream_error_body_keeps_the_providers_message_and_type():
    body = {"type": "error", "error": {"type": "not_found_error", "message": "model: claude-x"}}
    described = describe_error_body(body, orjson.dumps(body), 404)
    assert (described.status, described.type, described.message) == (404, "not_found_error", "model: claude-x")
    page = describe_error_body(None, b"<html>Bad gateway</html>", 502)
    assert page.message.startswith("upstream answered 502") and render_error(page)["error"]["type"] == "api_error"


def test_the_status_policy_for_messages_clients():
    assert client_status(400) == 400 and client_status(401) == 401 and client_status(429) == 429
    assert client_status(422) == 400  # no SDK class: Anthropic's own rule for other 4xx
    assert client_status(503, "server_is_overloaded") == 529 and client_status(500, "step_failed") == 400
    assert client_status(502) == 502


# --- framing and the identity translator -----------------------------------------------------------------


def test_each_event_is_framed_with_its_type_as_the_event_name():
    assert frame({"type": "ping"}) == b'event: ping\ndata: {"type":"ping"}\n\n'
    decoded = SSEDecoder().decode(frame({"type": "message_stop"}))
    assert decoded[0].event == "message_stop"
    assert PROTOCOL.end == b"" and PROTOCOL.terminal({"type": "message_stop"}) and PROTOCOL.terminal({"type": "error"})
    assert PROTOCOL.failure({"type": "error", "error": {"type": "api_error", "message": "m"}}) == "m"
    assert protocols.get("messages") is PROTOCOL and PROTOCOL.route == "/v1/messages"


def test_the_passthrough_ends_a_cut_stream_with_an_error_event_and_pings_until_the_end():
    translator = MessagesPassthrough()
    start = {"type": "message_start", "message": {"id": "msg_1"}}
    assert translator.feed(start) == [start]
    assert translator.keepalive() == [{"type": "ping"}]
    [event] = translator.close()
    assert event == {
        "type": "error",
        "error": {"type": "api_error", "message": "the upstream stream ended before it finished"},
    }
    assert translator.keepalive() == [] and translator.fail("again") == []
    finished = MessagesPassthrough()
    finished.feed({"type": "message_stop"})
    assert finished.close() == []
    overloaded = MessagesPassthrough().fail("busy", "server_is_overloaded")
    assert overloaded[0]["error"]["type"] == "overloaded_error"


def pipeline(protocol: str = "messages") -> Pipeline:
    text = f"pack: p\nmatch: model\nupstream: {{url: 'http://u', protocol: {protocol}}}\n"
    doc, _ = load_text(text, "p.yaml")
    compiled, problems = compile_pack(doc)
    assert not problems, problems
    return Pipeline(compiled, "messages")


def test_through_the_pipeline_a_same_protocol_stream_ends_at_message_stop_and_a_cut_one_with_an_error():
    stream = pipeline().stream({})
    events = [Event(orjson.dumps(e).decode(), e["type"]) for e in read(GOLDEN / "text_with_thinking.in.jsonl")]
    out = stream.encode(stream.feed(events) + stream.close())
    names = [e.event for e in SSEDecoder().decode(out)]
    assert names[0] == "message_start" and names[-1] == "message_stop" and stream.ended and stream.failure is None
    cut = pipeline().stream({})
    events = [Event(orjson.dumps(e).decode(), e["type"]) for e in read(GOLDEN / "cut_before_message_stop.in.jsonl")]
    out = cut.encode(cut.feed(events) + cut.close())
    last = SSEDecoder().decode(out)[-1]
    assert last.event == "error" and cut.failure == "the upstream stream ended before it finished"


# --- the fold -----------------------------------------------------------------------------------------


def read(path):
    return golden_files.read(path)


def fold(events: list[dict]) -> dict:
    try:
        return final_message(events)
    except UpstreamFailed as failure:
        return {"raises": {"status": failure.status, "type": failure.type, "code": failure.code,
                           "message": failure.message}}  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_each_golden_stream_folds_into_its_expected_message(case):
    events = read(GOLDEN / f"{case}.in.jsonl")
    actual = fold(events)
    golden_files.check(GOLDEN / f"{case}.out.json", actual)
    if "raises" in actual:
        return
    Message.model_validate(actual)
    snapshot, buffers = None, {}
    for event in events:
        snapshot = accumulate_event(event=event, current_snapshot=snapshot, json_bufs=buffers)
    assert snapshot.to_dict(exclude_none=True) == {k: v for k, v in actual.items() if v is not None}


def test_the_aggregator_is_the_protocols_and_a_cut_stream_is_never_a_body():
    assert PROTOCOL.aggregate is final_message
    with pytest.raises(UpstreamFailed, match="ended before"):
        final_message([{"type": "message_start", "message": {"id": "m"}}])


async def test_the_sdk_raises_on_the_error_event_the_protocol_renders(aiohttp_server):
    body = frame({"type": "message_start", "message": {"id": "m"}}) + frame(error_body("Overloaded", 529))

    async def answer(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="text/event-stream")

    app = web.Application()
    app.router.add_post("/v1/messages", answer)
    server = await aiohttp_server(app)
    sdk = anthropic.AsyncAnthropic(base_url=str(server.make_url("")), api_key="k", max_retries=0)
    messages = [{"role": "user", "content": "hi"}]
    with pytest.raises(anthropic.APIStatusError) as raised:
        async with sdk.messages.stream(model="m", max_tokens=1, messages=messages) as stream:
            await stream.get_final_message()
    assert raised.value.type == "overloaded_error" and raised.value.api_message == "Overloaded"
    await sdk.close()
