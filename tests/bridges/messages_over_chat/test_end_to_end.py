"""Anthropic Messages clients, end to end: the real anthropic SDK and Claude Code's own requests through a
real `switchyard serve`.

Two upstreams sit behind one proxy process: the strict fake Chat provider (DashScope's rules) behind a
copy of the shipped `rules/qwen.yaml` (its URL pointed at the fake), so Claude Code in front of Qwen is
proved with the pack as shipped; and the strict fake Anthropic provider behind a pack of protocol
`messages`, for the same-protocol path and for Chat clients in front of Anthropic (`chat_over_messages`,
and Responses clients composed through Chat).

The SDK reads every answer three ways: `messages.stream()` + `get_final_message()`, a raw
`create(stream=True)`, and a plain `create()`.
"""

from __future__ import annotations

import asyncio
import shutil

import aiohttp
import anthropic
import golden_files
import openai
import orjson
import pytest
from fakes.chat_provider import FakeChatProvider, chunk, text_chunks, tool_call_chunks, usage_chunk
from fakes.messages_provider import FakeMessagesProvider, text_events, tool_use_events
from proxy_process import ROOT, ProxyProcess, rebindable_port

JSON = {"Content-Type": "application/json"}  # what every client sends (415 otherwise)

CAPTURES = golden_files.FIXTURES / "claude-code-2.1.197"
BASH = {
    "name": "Bash",
    "description": "Run a command.",
    "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]},
}
HI = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def ports() -> dict:
    return {"chat": rebindable_port(), "messages": rebindable_port()}


@pytest.fixture(scope="module")
def proxy(ports, tmp_path_factory):
    rules = tmp_path_factory.mktemp("messages") / "rules"
    rules.mkdir()
    shutil.copy(ROOT / "rules" / "qwen.yaml", rules / "qwen.yaml")
    shutil.copy(ROOT / "rules" / "anthropic.yaml", rules / "anthropic.yaml")  # the shipped pack, unedited
    env = {
        "QWEN_BASE_URL": f"http://127.0.0.1:{ports['chat']}/compatible-mode/v1",
        "QWEN_API_KEY": "sk-qwen",
        "ANTHROPIC_BASE_URL": f"http://127.0.0.1:{ports['messages']}/v1",
        "ANTHROPIC_API_KEY": "sk-anthropic-pack",
    }
    process = ProxyProcess(rules, env=env)
    try:
        yield process.wait_ready()
    finally:
        process.stop()


@pytest.fixture
async def chat_upstream(aiohttp_server, ports) -> FakeChatProvider:
    fake = FakeChatProvider()
    await aiohttp_server(fake.app, port=ports["chat"])
    return fake


@pytest.fixture
async def messages_upstream(aiohttp_server, ports) -> FakeMessagesProvider:
    fake = FakeMessagesProvider()
    await aiohttp_server(fake.app, port=ports["messages"])
    return fake


@pytest.fixture
async def sdk(proxy):
    async with anthropic.AsyncAnthropic(base_url=proxy.url, api_key="sk-client", max_retries=0) as client:
        yield client


async def read_three_ways(sdk, mode: str, **request):
    if mode == "stream_helper":
        async with sdk.messages.stream(**request) as stream:
            return await stream.get_final_message()
    if mode == "create_stream":
        events = [event async for event in await sdk.messages.create(stream=True, **request)]
        return events
    return await sdk.messages.create(**request)


MODES = ("stream_helper", "create_stream", "create")


# --- Claude Code in front of a Chat provider (the shipped qwen pack) -------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_a_text_answer_with_thinking_reaches_the_sdk(sdk, chat_upstream, mode):
    chat_upstream.reply_stream(text_chunks("The files are ", "a.txt and b.txt.", reasoning=("Let me ", "look.")))
    request = {"model": "qwen3-coder-plus", "max_tokens": 1000, "messages": HI,
               "thinking": {"type": "enabled", "budget_tokens": 2000}}  # fmt: skip
    result = await read_three_ways(sdk, mode, **request)
    sent = chat_upstream.received[0].body
    assert sent["enable_thinking"] is (mode != "create")  # the qwen pack: thinking needs a stream on DashScope
    if mode == "create_stream":
        types = [event.type for event in result]
        assert types[0] == "message_start" and types[-1] == "message_stop"
        return
    assert [block.type for block in result.content] == ["thinking", "text"]
    assert result.content[1].text == "The files are a.txt and b.txt." and result.stop_reason == "end_turn"
    assert result.usage.input_tokens == 10 and result.usage.output_tokens == 5


@pytest.mark.parametrize("mode", ["stream_helper", "create"])
async def test_two_tool_calls_arrive_as_tool_use_blocks_with_their_streamed_input(sdk, chat_upstream, mode):
    chat_upstream.reply_stream(tool_call_chunks(("Bash", '{"command": "ls -la"}'), ("Bash", '{"command": "pwd"}')))
    message = await read_three_ways(sdk, mode, model="qwen3-coder-plus", max_tokens=100, messages=HI, tools=[BASH])
    assert [(b.type, b.name, b.input) for b in message.content] == [
        ("tool_use", "Bash", {"command": "ls -la"}),
        ("tool_use", "Bash", {"command": "pwd"}),
    ]
    assert message.stop_reason == "tool_use"
    sent = chat_upstream.received[0].body
    assert sent["tools"][0]["function"]["name"] == "Bash" and "input_schema" not in str(sent["tools"])


async def test_the_tool_loop_goes_back_as_tool_calls_and_tool_messages(sdk, chat_upstream):
    chat_upstream.reply_stream(text_chunks("Done."))
    messages = [
        *HI,
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "I will list.", "signature": "switchyard-unsigned"},
            {"type": "tool_use", "id": "call_1", "name": "Bash", "input": {"command": "ls"}},
        ]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": "a.txt"}]},
    ]  # fmt: skip
    async with sdk.messages.stream(model="qwen3-coder-plus", max_tokens=100, messages=messages, tools=[BASH]) as s:
        assert (await s.get_final_message()).content[0].text == "Done."
    sent = chat_upstream.received[0].body["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool"]
    assert sent[1]["reasoning_content"] == "I will list." and sent[2]["tool_call_id"] == "call_1"


@pytest.mark.parametrize("turn", ["turn1", "turn2"])
async def test_claude_codes_captured_requests_reach_the_chat_provider_valid(proxy, chat_upstream, turn):
    body = orjson.loads((CAPTURES / f"{turn}-request.json").read_bytes())
    body["model"] = "qwen3-coder-plus"  # ANTHROPIC_MODEL=qwen3-coder-plus, as in the capture's variant
    chat_upstream.reply_stream(tool_call_chunks(("Bash", '{"command": "ls", "description": "List files"}')))
    headers = {"x-api-key": "sk-client", "anthropic-version": "2023-06-01", "Content-Type": "application/json"}
    url = f"{proxy.url}/v1/messages?beta=true"
    async with aiohttp.ClientSession() as http, http.post(url, data=orjson.dumps(body), headers=headers) as r:
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/event-stream")
        raw = await r.read()
    assert raw.startswith(b"event: message_start\ndata: ") and raw.endswith(
        b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
    )
    sent = chat_upstream.received[0].body
    assert len(sent["tools"]) == 24 and sent["enable_thinking"] is True


async def test_an_error_chunk_mid_stream_raises_the_sdks_error_with_the_providers_words(sdk, chat_upstream):
    error = {"error": {"message": "Rate limit reached", "code": "rate_limit_exceeded"}}
    chat_upstream.reply_stream([chunk({"role": "assistant", "content": "Par"}), error])
    with pytest.raises(anthropic.APIStatusError) as raised:
        async with sdk.messages.stream(model="qwen3-coder-plus", max_tokens=100, messages=HI) as stream:
            await stream.get_final_message()
    assert raised.value.type == "rate_limit_error" and raised.value.api_message == "Rate limit reached"


async def test_a_cut_stream_raises_and_is_never_a_short_success(sdk, chat_upstream):
    chat_upstream.reply_cut([chunk({"role": "assistant", "content": ""}), chunk({"content": "Half an ans"})])
    with pytest.raises(anthropic.APIStatusError) as raised:
        async with sdk.messages.stream(model="qwen3-coder-plus", max_tokens=100, messages=HI) as stream:
            await stream.get_final_message()
    assert raised.value.type == "api_error"


async def test_a_provider_http_error_reaches_the_sdk_as_its_class_in_anthropics_shape(sdk, chat_upstream):
    chat_upstream.reply_error(429, {"error": {"message": "Too many requests", "type": "rate_limit", "code": "429"}})
    with pytest.raises(anthropic.RateLimitError) as raised:
        await sdk.messages.create(model="qwen3-coder-plus", max_tokens=100, messages=HI)
    assert raised.value.body["type"] == "error" and raised.value.api_message == "Too many requests"


async def test_a_request_chat_cannot_express_is_a_400_in_anthropics_shape(sdk, chat_upstream):
    with pytest.raises(anthropic.BadRequestError) as raised:
        await sdk.messages.create(model="qwen3-coder-plus", max_tokens=10, messages=HI, extra_body={"container": "c"})
    assert raised.value.type == "invalid_request_error" and "container" in raised.value.api_message
    assert chat_upstream.received == []


# --- the same protocol, and Chat and Responses clients in front of Anthropic ----------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_a_messages_upstream_is_passed_through(sdk, messages_upstream, mode):
    messages_upstream.reply_stream(text_events("Hel", "lo", thinking=("Hm.",)))
    if mode == "create":
        messages_upstream.replies.clear()  # the fake's own default answer: an echo body
    result = await read_three_ways(sdk, mode, model="claude-test-model", max_tokens=100, messages=HI)
    received = messages_upstream.received[0]
    # The client's own API version goes on (the SDK's); the pack's key replaced the client's.
    assert received.headers["anthropic-version"] not in ("", None)
    assert received.headers["x-api-key"] == "sk-anthropic-pack"
    if mode == "stream_helper":
        assert [b.type for b in result.content] == ["thinking", "text"] and result.content[1].text == "Hello"
    elif mode == "create":
        assert result.content[0].text == "echo: hi"


async def test_a_cut_anthropic_stream_ends_with_an_error_event(sdk, messages_upstream):
    messages_upstream.reply_cut(text_events("Half")[:4])
    with pytest.raises(anthropic.APIStatusError):
        async with sdk.messages.stream(model="claude-test-model", max_tokens=100, messages=HI) as stream:
            await stream.get_final_message()


@pytest.mark.parametrize("mode", ["stream", "create"])
async def test_the_openai_sdk_reads_an_anthropic_upstream_through_chat_over_messages(proxy, messages_upstream, mode):
    messages_upstream.reply_stream(
        tool_use_events("toolu_1", "get_weather", ['{"city": ', '"Paris"}'], text="Let me check.")
    )
    if mode == "create":
        messages_upstream.replies.clear()
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    async with openai.AsyncOpenAI(base_url=proxy.base_url, api_key="sk-client", max_retries=0) as client:
        if mode == "stream":
            async with client.chat.completions.stream(
                model="claude-test-model", messages=[{"role": "system", "content": "Be brief."}, *HI], tools=tools
            ) as stream:
                completion = await stream.get_final_completion()
            call = completion.choices[0].message.tool_calls[0]
            assert (call.id, call.function.name, call.function.arguments) == (
                "toolu_1",
                "get_weather",
                '{"city": "Paris"}',
            )
            assert completion.choices[0].message.content == "Let me check."
            assert completion.choices[0].finish_reason == "tool_calls"
        else:
            completion = await client.chat.completions.create(model="claude-test-model", messages=HI)
            assert completion.choices[0].message.content == "echo: hi" and completion.usage.prompt_tokens == 10
    sent = messages_upstream.received[0].body
    assert sent["max_tokens"] == 4096
    if mode == "stream":
        assert sent["system"] == "Be brief." and sent["tools"][0]["input_schema"] == {"type": "object"}


async def test_a_responses_client_reaches_an_anthropic_upstream_composed_through_chat(proxy, messages_upstream):
    messages_upstream.reply_stream(text_events("Composed ", "answer."))
    async with (
        openai.AsyncOpenAI(base_url=proxy.base_url, api_key="sk-client", max_retries=0) as client,
        client.responses.stream(model="claude-test-model", input="hi", instructions="Be brief.") as stream,
    ):
        response = await stream.get_final_response()
    assert response.output_text == "Composed answer." and response.status == "completed"
    assert messages_upstream.received[0].body["system"] == "Be brief."


async def test_an_anthropic_error_event_reaches_a_chat_client_as_an_api_error(proxy, messages_upstream):
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    events = [*text_events("Par")[:4], overloaded]
    messages_upstream.reply_stream(events)
    async with openai.AsyncOpenAI(base_url=proxy.base_url, api_key="sk-client", max_retries=0) as client:
        with pytest.raises(openai.APIError, match="Overloaded"):
            async with client.chat.completions.stream(model="claude-test-model", messages=HI) as stream:
                await stream.get_final_completion()


async def test_usage_of_the_chat_provider_is_anthropics_usage(sdk, chat_upstream):
    chunks = [*text_chunks("ok", usage=False), usage_chunk(120, 30, prompt_tokens_details={"cached_tokens": 100})]
    chat_upstream.reply_stream(chunks)
    async with sdk.messages.stream(model="qwen3-coder-plus", max_tokens=100, messages=HI) as stream:
        usage = (await stream.get_final_message()).usage
    assert (usage.input_tokens, usage.cache_read_input_tokens, usage.output_tokens) == (20, 100, 30)


async def test_count_tokens_is_answered_by_the_proxy_with_an_estimate(start_proxy, tmp_path):
    import aiohttp

    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "p.yaml").write_text(
        'pack: p\nmatch: "`true`"\nupstream: {url: "http://127.0.0.1:9/v1", protocol: chat}\n'
    )
    proxy = start_proxy(rules)
    body = {"model": "claude-test-model", "system": "Be brief.", "messages": [{"role": "user", "content": "x" * 400}]}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{proxy.base_url}/messages/count_tokens", json=body) as r:
            assert r.status == 200
            counted = (await r.json())["input_tokens"]
        async with http.post(f"{proxy.base_url}/messages/count_tokens", data=b"{nope", headers=JSON) as r:
            assert r.status == 400 and (await r.json())["type"] == "error"
    assert 100 < counted < 200  # about a quarter of the characters


async def test_a_quiet_upstream_gets_ping_events_to_the_messages_client(aiohttp_server, start_proxy, tmp_path):
    release = asyncio.Event()
    fake = FakeChatProvider()
    server = await aiohttp_server(fake.app)
    rules = tmp_path / "rules"
    rules.mkdir()
    shutil.copy(ROOT / "rules" / "qwen.yaml", rules / "qwen.yaml")
    env = {"QWEN_BASE_URL": str(server.make_url("/v1")), "QWEN_API_KEY": "k"}
    proxy = start_proxy(rules, env=env, args=("--keepalive", "0.2"))
    fake.reply_stream([chunk({"role": "assistant", "content": "Hel"}), chunk({"content": "lo"}), chunk({}, "stop")],
                      hold=(1, release))  # fmt: skip
    body = {"model": "qwen3-coder-plus", "max_tokens": 50, "stream": True, "messages": HI}
    url, headers = f"{proxy.base_url}/messages", {"anthropic-version": "2023-06-01"}
    async with aiohttp.ClientSession() as http, http.post(url, json=body, headers=headers) as r:
        await asyncio.sleep(1.0)  # the upstream is quiet for a second
        release.set()
        text = (await r.read()).decode()
    names = [line[7:] for line in text.splitlines() if line.startswith("event: ")]
    assert names.count("ping") >= 2, names
    assert names[-1] == "message_stop" and "error" not in names
