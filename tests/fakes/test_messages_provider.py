"""The fake Anthropic provider refuses what the Messages API refuses, accepts Claude Code's real requests,
and streams what the anthropic SDK accepts."""

from __future__ import annotations

import anthropic
import golden_files
import orjson
import pytest

from fakes.messages_provider import FakeMessagesProvider, text_events, tool_use_events

CAPTURES = golden_files.FIXTURES / "claude-code-2.1.197"
HEADERS = {"Content-Type": "application/json", "x-api-key": "sk-test", "anthropic-version": "2023-06-01"}


def body(**fields) -> dict:
    return {"model": "claude-x", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}], **fields}


@pytest.fixture
def provider() -> FakeMessagesProvider:
    return FakeMessagesProvider()


@pytest.fixture
async def client(aiohttp_client, provider):
    return await aiohttp_client(provider.app)


async def post(client, payload: dict, headers: dict = HEADERS) -> tuple[int, dict]:
    response = await client.post("/v1/messages?beta=true", data=orjson.dumps(payload), headers=headers)
    return response.status, await response.json()


@pytest.mark.parametrize("turn", ["turn1", "turn2"])
async def test_claude_codes_real_requests_are_accepted(client, turn):
    payload = orjson.loads((CAPTURES / f"{turn}-request.json").read_bytes())
    response = await client.post("/v1/messages?beta=true", data=orjson.dumps(payload), headers=HEADERS)
    assert response.status == 200
    raw = await response.read()
    assert raw.startswith(b"event: message_start\ndata: ")
    assert raw.rstrip().endswith(b'event: message_stop\ndata: {"type":"message_stop"}')
    expected = b'"name":"Bash"' if turn == "turn1" else b'"text_delta"'
    assert expected in raw


async def test_credentials_and_the_version_header_are_required(client):
    status, error = await post(client, body(), {"Content-Type": "application/json", "anthropic-version": "2023-06-01"})
    assert (status, error["error"]["type"]) == (401, "authentication_error")
    status, error = await post(client, body(), {"Content-Type": "application/json", "x-api-key": "k"})
    assert (status, error["type"], error["error"]["type"]) == (400, "error", "invalid_request_error")
    assert "anthropic-version" in error["error"]["message"]
    bearer = {"Content-Type": "application/json", "Authorization": "Bearer k", "anthropic-version": "2023-06-01"}
    assert (await post(client, body(), bearer))[0] == 200


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        ({"model": "m", "messages": [{"role": "user", "content": "hi"}]}, "max_tokens: Field required"),
        (body(store=False), "store: Extra inputs are not permitted"),
        (body(messages=[{"role": "system", "content": "x"}]), "messages.0.role"),
        (body(messages=[{"role": "user", "content": [{"type": "text", "text": ""}]}]), "non-empty"),
        (body(metadata={"user_id": "u", "session": "s"}), "metadata.session"),
        (body(temperature=1.5), "temperature"),
        (body(thinking={"type": "enabled", "budget_tokens": 200}), "budget_tokens"),
        (body(thinking={"type": "enabled", "budget_tokens": 2000}), "max_tokens"),
        (body(tools=[{"name": "a.b", "input_schema": {"type": "object"}}]), "tools.0.custom.name"),
        (body(tool_choice={"type": "required"}), "tool_choice"),
        (
            body(messages=[{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1"}]}]),
            "unexpected `tool_use_id`",
        ),
        (
            body(messages=[
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}]},
                {"role": "user", "content": "and?"},
            ]),
            "without `tool_result` blocks",
        ),
        (
            body(messages=[
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}]},
                {"role": "user", "content": [{"type": "text", "text": "x"},
                                             {"type": "tool_result", "tool_use_id": "toolu_1"}]},
            ]),
            "must come first",
        ),
    ],
)  # fmt: skip
async def test_what_the_messages_api_refuses_is_a_400_in_its_error_shape(client, payload, words):
    status, error = await post(client, payload)
    assert status == 400
    assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error"
    assert words in error["error"]["message"]


async def test_the_anthropic_sdk_accepts_the_fakes_streams(aiohttp_server, provider):
    server = await aiohttp_server(provider.app)
    sdk = anthropic.AsyncAnthropic(base_url=str(server.make_url("")), api_key="sk-test", max_retries=0)
    provider.reply_stream(text_events("Hel", "lo", thinking=("Hm",)))
    provider.reply_stream(tool_use_events("toolu_1", "Bash", ['{"command": ', '"ls"}'], text="Let me look."))
    async with sdk.messages.stream(model="m", max_tokens=10, messages=[{"role": "user", "content": "hi"}]) as stream:
        message = await stream.get_final_message()
    assert [b.type for b in message.content] == ["thinking", "text"] and message.content[1].text == "Hello"
    async with sdk.messages.stream(model="m", max_tokens=10, messages=[{"role": "user", "content": "hi"}]) as stream:
        message = await stream.get_final_message()
    assert message.content[1].input == {"command": "ls"} and message.stop_reason == "tool_use"
    await sdk.close()
