"""The fake Responses upstreams reject what the real ones reject and stream what the real ones stream.

End-to-end tests trust these fakes to fail a proxy that sends a bad body, so each refusal the bridge
once provoked in production is checked here by its message.
"""

from __future__ import annotations

import json

import aiohttp
import pytest

from fakes.responses_provider import (
    FakeResponsesProvider,
    cut_reply,
    error_reply,
    function_call_item,
    json_reply,
    message_item,
    reasoning_item,
    response_object,
    sse_pieces,
    stream_events,
    stream_reply,
)
from switchyard.protocols.responses.aggregate import final_response

VALID = {
    "model": "gpt-5.4",
    "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}],
}
CHATGPT_VALID = {**VALID, "instructions": "Be brief.", "stream": True, "store": False}


async def post(client, body, path="/v1/responses"):
    response = await client.post(path, json=body)
    return response.status, await response.json()


async def read_events(response) -> list[dict]:
    raw = (await response.read()).decode()
    return [json.loads(line[6:]) for line in raw.splitlines() if line.startswith("data: ")]


@pytest.fixture
def provider():
    return FakeResponsesProvider()


@pytest.fixture
async def client(aiohttp_client, provider):
    return await aiohttp_client(provider.app)


def error_message(body: dict) -> str:
    return body["error"]["message"]


async def test_an_unknown_parameter_is_refused_in_openai_words(client):
    status, body = await post(client, {**VALID, "max_tokens": 50})
    assert status == 400
    assert body == {
        "error": {
            "message": "Unknown parameter: 'max_tokens'.",
            "type": "invalid_request_error",
            "param": "max_tokens",
            "code": "unknown_parameter",
        }
    }


async def test_a_chat_messages_array_is_an_unknown_parameter(client):
    status, body = await post(client, {"model": "m", "messages": [{"role": "user", "content": "hi"}]})
    assert (status, error_message(body)) == (400, "Unknown parameter: 'messages'.")


async def test_a_nested_tool_choice_is_refused(client):
    choice = {"type": "function", "function": {"name": "f"}}
    status, body = await post(client, {**VALID, "tool_choice": choice})
    assert (status, error_message(body)) == (400, "Unknown parameter: 'tool_choice.function'.")


async def test_a_flat_tool_choice_is_accepted(client):
    tool = {"type": "function", "name": "f", "parameters": {"type": "object", "properties": {}}, "strict": False}
    status, _ = await post(client, {**VALID, "tools": [tool], "tool_choice": {"type": "function", "name": "f"}})
    assert status == 200


async def test_a_nested_function_tool_is_refused(client):
    tool = {"type": "function", "function": {"name": "f", "parameters": {}}}
    status, body = await post(client, {**VALID, "tools": [tool]})
    assert (status, error_message(body)) == (400, "Missing required parameter: 'tools[0].name'.")


async def test_assistant_input_text_is_refused(client):
    assistant = {"type": "message", "role": "assistant", "content": [{"type": "input_text", "text": "earlier"}]}
    status, body = await post(client, {**VALID, "input": [*VALID["input"], assistant]})
    assert status == 400
    assert error_message(body) == "Invalid value: 'input_text'. Supported values are: 'output_text' and 'refusal'."
    assert body["error"]["param"] == "input[1].content[0]"


async def test_user_output_text_is_refused(client):
    user = {"type": "message", "role": "user", "content": [{"type": "output_text", "text": "x"}]}
    status, body = await post(client, {**VALID, "input": [user]})
    assert status == 400
    assert "Supported values are: 'input_text', 'input_image', and 'input_file'." in error_message(body)


async def test_metadata_over_sixteen_keys_is_refused(client):
    status, body = await post(client, {**VALID, "metadata": {f"k{i}": "v" for i in range(29)}})
    assert status == 400
    assert error_message(body) == (
        "Invalid 'metadata': too many properties. Expected an object with at most 16 properties, "
        "but got an object with 29 properties instead."
    )


async def test_a_tool_output_without_its_call_is_refused(client):
    output = {"type": "function_call_output", "call_id": "call_9", "output": "42"}
    status, body = await post(client, {**VALID, "input": [*VALID["input"], output]})
    assert (status, error_message(body)) == (400, "No tool call found for function call output with call_id call_9.")


async def test_a_tool_output_after_its_call_is_accepted(client):
    call = {"type": "function_call", "call_id": "call_9", "name": "f", "arguments": "{}"}
    output = {"type": "function_call_output", "call_id": "call_9", "output": "42"}
    status, _ = await post(client, {**VALID, "input": [*VALID["input"], call, output]})
    assert status == 200


async def test_chat_stream_options_are_refused(client):
    status, body = await post(client, {**VALID, "stream_options": {"include_usage": True}})
    assert (status, error_message(body)) == (400, "Unknown parameter: 'stream_options.include_usage'.")


async def test_any_path_ending_in_responses_is_served_and_recorded(client, provider):
    response = await client.post("/backend-api/codex/responses", json=VALID, headers={"Authorization": "Bearer k"})
    assert response.status == 200
    assert provider.requests[0]["path"] == "/backend-api/codex/responses"
    assert provider.requests[0]["body"] == VALID
    assert provider.requests[0]["headers"]["Authorization"] == "Bearer k"


async def test_the_default_reply_echoes_the_last_user_text(client):
    status, body = await post(client, VALID)
    assert status == 200
    assert body["output"][0]["content"][0]["text"] == "You said: hi"


async def test_the_default_streamed_reply_is_a_complete_event_sequence(client):
    response = await client.post("/v1/responses", json={**VALID, "stream": True})
    events = await read_events(response)
    assert events[0]["type"] == "response.created"
    assert events[-1]["type"] == "response.completed"
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert final_response(events)["output"][0]["content"][0]["text"] == "You said: hi"


async def test_scripted_replies_are_served_in_order(client, provider):
    provider.enqueue(
        json_reply(response_object([message_item("one")])), error_reply(429, {"error": {"message": "slow"}})
    )
    assert (await post(client, VALID))[1]["output"][0]["content"][0]["text"] == "one"
    assert await post(client, VALID) == (429, {"error": {"message": "slow"}})


async def test_a_refused_request_leaves_the_scripted_reply_queued(client, provider):
    provider.enqueue(json_reply(response_object([message_item("kept")])))
    await post(client, {**VALID, "bogus": 1})
    assert (await post(client, VALID))[1]["output"][0]["content"][0]["text"] == "kept"


async def test_a_scripted_stream_is_served_event_by_event(client, provider):
    events = stream_events([reasoning_item("Thinking."), function_call_item("f", '{"a": 1}')])
    provider.enqueue(stream_reply(events))
    response = await client.post("/v1/responses", json={**VALID, "stream": True})
    assert response.headers["Content-Type"].startswith("text/event-stream")
    assert await read_events(response) == events


def test_every_event_is_split_across_several_writes_even_inside_a_character():
    pieces = sse_pieces({"type": "response.output_text.delta", "delta": "héllo wörld ✓"})
    assert len(pieces) == 3
    frame = b"".join(pieces)
    assert frame.startswith(b"event: response.output_text.delta\ndata: {") and frame.endswith(b"}\n\n")
    assert json.loads(frame.decode().split("data: ", 1)[1])["delta"] == "héllo wörld ✓"


async def test_a_cut_stream_ends_without_a_terminal_event_and_with_a_broken_body(client, provider):
    provider.enqueue(cut_reply(stream_events([message_item("half an answer")])[:5]))
    response = await client.post("/v1/responses", json={**VALID, "stream": True})
    received = b""
    with pytest.raises(aiohttp.ClientPayloadError):
        async for data in response.content.iter_any():
            received += data
    assert b"response.created" in received
    assert b"response.completed" not in received


def test_built_streams_rebuild_to_their_final_response():
    items = [reasoning_item(["First.", "Second."]), message_item("Hello there"), function_call_item("f", "{}")]
    assert final_response(stream_events(items)) == response_object(items)


# -- ChatGPT backend


@pytest.fixture
async def chatgpt(aiohttp_client):
    provider = FakeResponsesProvider(chatgpt_backend=True)
    return provider, await aiohttp_client(provider.app)


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        ({"stream": False}, "Stream must be set to true"),
        ({"store": None}, "Store must be set to false"),
        ({"input": "hi"}, "Input must be a list"),
        ({"instructions": None}, "Instructions are required"),
        ({"max_output_tokens": 100}, "Unsupported parameter: max_output_tokens"),
    ],
)
async def test_the_chatgpt_backend_refuses_what_it_requires(chatgpt, change, detail):
    _, client = chatgpt
    body = {**CHATGPT_VALID, **change}
    body = {key: value for key, value in body.items() if value is not None}
    assert await post(client, body, "/backend-api/codex/responses") == (400, {"detail": detail})


async def test_the_chatgpt_backend_completes_with_an_empty_output(chatgpt):
    provider, client = chatgpt
    provider.enqueue(stream_reply(stream_events([function_call_item("f", '{"a": 1}')])))
    response = await client.post("/backend-api/codex/responses", json=CHATGPT_VALID)
    events = await read_events(response)
    assert events[-1]["type"] == "response.completed"
    assert events[-1]["response"]["output"] == []
    assert any(e["type"] == "response.output_item.done" for e in events)
