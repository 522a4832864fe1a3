"""The fake Chat provider refuses what DashScope refuses and streams what it is told to, in pieces."""

from __future__ import annotations

import aiohttp
import golden_files
import orjson
import pytest

from fakes.chat_provider import FakeChatProvider, completion, text_chunks, tool_call_chunks

PATH = "/compatible-mode/v1/chat/completions"
GOLDEN = golden_files.GOLDEN / "bridges" / "responses_over_chat"


def body(**fields) -> dict:
    return {"model": "qwen-plus", "messages": [{"role": "user", "content": "hi"}], **fields}


def call_history(*results: str) -> list[dict]:
    calls = [
        {"id": "call_1", "type": "function", "function": {"name": "ls", "arguments": "{}"}},
        {"id": "call_2", "type": "function", "function": {"name": "pwd", "arguments": "{}"}},
    ]
    tools = [{"role": "tool", "tool_call_id": call_id, "content": "ok"} for call_id in results]
    return [{"role": "user", "content": "hi"}, {"role": "assistant", "content": None, "tool_calls": calls}, *tools]


@pytest.fixture
def provider() -> FakeChatProvider:
    return FakeChatProvider()


@pytest.fixture
async def client(aiohttp_client, provider):
    return await aiohttp_client(provider.app)


async def post(client, payload: dict, path: str = PATH) -> tuple[int, dict]:
    response = await client.post(path, data=orjson.dumps(payload), headers={"Content-Type": "application/json"})
    return response.status, await response.json()


async def read_sse(response) -> list:
    raw = await response.read()
    events = [line[len(b"data: ") :] for line in raw.split(b"\n\n") if line.startswith(b"data: ")]
    return [event.decode() if event == b"[DONE]" else orjson.loads(event) for event in events]


async def test_an_unknown_field_is_refused_with_dashscopes_error_shape(client):
    status, payload = await post(client, body(store=False))
    assert status == 400
    assert payload["error"]["code"] == "invalid_parameter_error"
    assert payload["error"]["type"] == "invalid_request_error"
    assert payload["error"]["param"] == "store"
    assert "store" in payload["error"]["message"]


async def test_the_developer_role_is_refused_with_the_documented_message(client):
    status, payload = await post(client, body(messages=[{"role": "developer", "content": "be brief"}]))
    assert status == 400
    assert payload["error"]["message"] == (
        "developer is not one of ['system', 'assistant', 'user', 'tool', 'function'] - 'messages.[0].role'"
    )


async def test_tool_calls_without_a_result_for_every_id_are_refused(client):
    status, payload = await post(client, body(messages=call_history("call_1")))
    assert status == 400
    assert "did not have response messages: call_2" in payload["error"]["message"]


async def test_tool_calls_interrupted_by_another_message_are_refused(client):
    messages = [*call_history("call_1"), {"role": "user", "content": "and?"}]
    status, payload = await post(client, body(messages=messages))
    assert status == 400
    assert "call_2" in payload["error"]["message"]


async def test_a_tool_message_without_a_preceding_call_is_refused(client):
    messages = [{"role": "user", "content": "hi"}, {"role": "tool", "tool_call_id": "call_9", "content": "x"}]
    status, _ = await post(client, body(messages=messages))
    assert status == 400


async def test_a_complete_tool_call_history_is_accepted(client):
    status, payload = await post(client, body(messages=call_history("call_1", "call_2")))
    assert status == 200
    assert payload["object"] == "chat.completion"


@pytest.mark.parametrize(
    "tool",
    [
        {"type": "function", "name": "flat_responses_style", "parameters": {}},
        {"type": "web_search"},
        {"type": "function", "function": {"name": "has.dot"}},
        {"type": "function", "function": {"name": "x" * 65}},
    ],
    ids=["flat", "built_in", "bad_name", "too_long"],
)
async def test_tools_that_are_not_valid_nested_functions_are_refused(client, tool):
    status, payload = await post(client, body(tools=[tool]))
    assert status == 400
    assert payload["error"]["param"].startswith("tools.[0]")


async def test_stream_options_without_stream_are_refused(client):
    status, _ = await post(client, body(stream_options={"include_usage": True}))
    assert status == 400


async def test_every_request_is_recorded_with_headers_and_body(client, provider):
    await client.post(PATH, data=orjson.dumps(body(store=True)), headers={"Authorization": "Bearer k"})
    await post(client, body())
    assert [r.body.get("store") for r in provider.received] == [True, None]
    assert provider.received[0].headers["Authorization"] == "Bearer k"
    assert provider.received[0].path == PATH


async def test_a_path_not_ending_in_chat_completions_is_not_found(client):
    response = await client.post("/v1/responses", data=orjson.dumps(body()))
    assert response.status == 404


async def test_a_queued_stream_is_sent_as_sse_split_across_writes_and_ends_with_done(client, provider):
    provider.pause = 0.01
    provider.reply_stream(text_chunks("Hel", "lo"))
    pieces = []
    response = await client.post(PATH, data=orjson.dumps(body(stream=True)))
    async for piece in response.content.iter_any():
        pieces.append(piece)
    events = [line for line in b"".join(pieces).split(b"\n\n") if line]
    assert events[-1] == b"data: [DONE]"
    texts = [orjson.loads(e[6:])["choices"][0]["delta"].get("content") for e in events[:-1] if b'"choices":[{' in e]
    assert "".join(t or "" for t in texts) == "Hello"
    # Writes are split, so at least one received piece ends in the middle of an event.
    assert any(not piece.endswith(b"\n\n") for piece in pieces)


async def test_tool_call_chunks_carry_id_and_name_first_then_argument_pieces(client, provider):
    provider.reply_stream(tool_call_chunks(("ls", '{"path": "."}')))
    response = await client.post(PATH, data=orjson.dumps(body(stream=True)))
    events = await read_sse(response)
    deltas = [c["choices"][0]["delta"] for c in events[:-1] if c["choices"]]
    calls = [d["tool_calls"][0] for d in deltas if "tool_calls" in d]
    assert calls[0]["id"] == "call_1" and calls[0]["function"]["name"] == "ls"
    assert "".join(c["function"]["arguments"] for c in calls) == '{"path": "."}'
    assert len(calls) > 2


async def test_queued_json_and_errors_are_answered_in_order(client, provider):
    provider.reply_json(completion("first"))
    provider.reply_error(429, {"error": {"message": "slow down", "code": "rate_limit"}})
    assert (await post(client, body()))[1]["choices"][0]["message"]["content"] == "first"
    assert await post(client, body()) == (429, {"error": {"message": "slow down", "code": "rate_limit"}})


async def test_a_cut_stream_ends_without_done_and_the_client_sees_a_broken_body(client, provider):
    provider.reply_cut(text_chunks("partial", usage=False)[:2])
    response = await client.post(PATH, data=orjson.dumps(body(stream=True)))
    with pytest.raises(aiohttp.ClientPayloadError):
        await response.read()


async def test_the_default_reply_echoes_the_last_user_message(client):
    status, payload = await post(client, body(messages=[{"role": "user", "content": "ping"}]))
    assert status == 200
    assert payload["choices"][0]["message"]["content"] == "echo: ping"


async def test_a_delay_holds_the_reply_back(client, provider):
    import time

    provider.reply_json(completion("late"), delay=0.2)
    started = time.monotonic()
    await post(client, body())
    assert time.monotonic() - started >= 0.2


async def test_the_bridged_codex_request_is_accepted_once_a_pack_strips_what_dashscope_refuses(client):
    from switchyard.bridges.responses_over_chat.request import to_chat

    codex = GOLDEN / "requests" / "codex_turn2.in.json"
    chat = to_chat(orjson.loads(codex.read_bytes()))
    status, _ = await post(client, chat)
    assert status == 400, "the bridge is provider-neutral: Codex's extra fields reach the provider until a pack acts"
    # What a DashScope pack does on top of the bridge:
    for key in ("store", "include", "client_metadata", "prompt_cache_key"):
        chat.pop(key)
    chat["tools"] = [tool for tool in chat["tools"] if tool["type"] == "function"]
    chat["messages"] = [{**m, "role": "system"} if m["role"] == "developer" else m for m in chat["messages"]]
    response = await client.post(PATH, data=orjson.dumps(chat))
    assert response.status == 200, await response.text()
    events = await read_sse(response)
    assert events[-1] == "[DONE]"
