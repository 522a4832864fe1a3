"""Gemini clients, end to end: the real google-genai SDK through a real `switchyard serve`, in front of Chat packs.

The strict fake Chat provider (DashScope's rules) sits behind a copy of the shipped `rules/qwen.yaml`
(its URL pointed at the fake), so a Gemini client in front of Qwen is proved with the pack as shipped.
The SDK is the client: `generate_content`, `generate_content_stream` with a system instruction, a
function-call round trip, `count_tokens`, `models.list`, both API versions; raw HTTP checks what the
SDK does not do (the JSON-array stream, `?key=`) and that a key in the query is never written anywhere.
"""

from __future__ import annotations

import shutil

import aiohttp
import gemini_types
import orjson
import pytest
from fakes.chat_provider import FakeChatProvider, text_chunks, tool_call_chunks
from google import genai
from google.genai import errors, types
from proxy_process import ROOT, ProxyProcess, rebindable_port

QUERY_KEY = "AIzaQueryKey-0123456789abcdef"
# google-genai's async client subclasses aiohttp's ClientSession, which aiohttp warns against: theirs to fix.
pytestmark = pytest.mark.filterwarnings("ignore:Inheritance class AiohttpClientSession:DeprecationWarning")


@pytest.fixture(scope="module")
def port() -> int:
    return rebindable_port()


@pytest.fixture(scope="module")
def proxy(port, tmp_path_factory):
    rules = tmp_path_factory.mktemp("gemini") / "rules"
    rules.mkdir()
    shutil.copy(ROOT / "rules" / "qwen.yaml", rules / "qwen.yaml")
    env = {"QWEN_BASE_URL": f"http://127.0.0.1:{port}/compatible-mode/v1", "QWEN_API_KEY": "sk-qwen"}
    process = ProxyProcess(rules, env=env, args=("--trace", "50", "--trace-bodies"))
    try:
        yield process.wait_ready()
    finally:
        process.stop()


@pytest.fixture
async def chat_upstream(aiohttp_server, port) -> FakeChatProvider:
    fake = FakeChatProvider()
    await aiohttp_server(fake.app, port=port)
    return fake


@pytest.fixture
async def sdk(proxy):
    """`sdk()`: the SDK's async client for the proxy (`sdk("v1")`, `sdk(key="...")`), closed after the test."""
    opened = []

    def make(version: str = "v1beta", key: str = "client-key", url: str | None = None):
        options = types.HttpOptions(base_url=url or proxy.url, api_version=version)
        opened.append(genai.Client(api_key=key, http_options=options).aio)
        return opened[-1]

    yield make
    for aio in opened:
        await aio.aclose()


async def test_generate_content_answers_with_text_and_usage(proxy, chat_upstream, sdk):
    chat_upstream.reply_json(
        {"id": "c", "object": "chat.completion", "created": 0, "model": "qwen3-coder-plus",
         "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Hello!"}}],
         "usage": {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9}}
    )  # fmt: skip
    response = await sdk().models.generate_content(model="qwen3-coder-plus", contents="hi")
    assert response.text == "Hello!"
    assert response.candidates[0].finish_reason == types.FinishReason.STOP
    assert response.usage_metadata.prompt_token_count == 7 and response.usage_metadata.total_token_count == 9
    sent = chat_upstream.received[-1].body
    assert sent["model"] == "qwen3-coder-plus" and sent["messages"] == [{"role": "user", "content": "hi"}]
    assert sent["stream"] is False and sent["enable_thinking"] is False  # the pack's rule for non-streaming calls


@pytest.mark.parametrize("version", ["v1beta", "v1"])
async def test_generate_content_stream_with_a_system_instruction(proxy, chat_upstream, sdk, version):
    chat_upstream.reply_stream(text_chunks("The files ", "are a and b.", reasoning=("Looking.",)))
    config = types.GenerateContentConfig(
        system_instruction="Be brief.",
        temperature=0.3,
        max_output_tokens=200,
        thinking_config=types.ThinkingConfig(include_thoughts=True, thinking_level=types.ThinkingLevel.LOW),
    )
    chunks = [
        chunk
        async for chunk in await sdk(version).models.generate_content_stream(
            model="qwen3-coder-plus", contents="list the files", config=config
        )
    ]
    parts = [p for c in chunks for p in c.candidates[0].content.parts]
    assert [p.text for p in parts if p.thought] == ["Looking."]
    assert "".join(p.text for p in parts if not p.thought) == "The files are a and b."
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    assert chunks[-1].usage_metadata.total_token_count == 15
    sent = chat_upstream.received[-1].body
    assert sent["messages"][0] == {"role": "system", "content": "Be brief."}
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    assert sent["temperature"] == 0.3 and sent["max_tokens"] == 200 and sent["enable_thinking"] is True


async def test_a_function_call_round_trip(proxy, chat_upstream, sdk):
    tool = types.Tool(
        function_declarations=[
            types.FunctionDeclaration(
                name="get_weather",
                description="The weather in a city",
                parameters=types.Schema(
                    type=types.Type.OBJECT,
                    properties={"city": types.Schema(type=types.Type.STRING)},
                    required=["city"],
                ),
            )
        ]
    )
    config = types.GenerateContentConfig(tools=[tool], automatic_function_calling={"disable": True})
    aio = sdk()
    chat_upstream.reply_stream(tool_call_chunks(("get_weather", '{"city": "Paris"}')))
    asked = "What is the weather in Paris?"
    stream = await aio.models.generate_content_stream(model="qwen3-coder-plus", contents=asked, config=config)
    chunks = [c async for c in stream]
    calls = [p.function_call for c in chunks for p in c.candidates[0].content.parts if p.function_call]
    assert [(c.id, c.name, c.args) for c in calls] == [("call_1", "get_weather", {"city": "Paris"})]
    first = chat_upstream.received[-1].body
    assert first["tools"][0]["function"]["parameters"] == {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]
    }  # fmt: skip
    history = [
        types.Content(role="user", parts=[types.Part(text=asked)]),
        types.Content(role="model", parts=[types.Part(function_call=calls[0])]),
        types.Content(
            role="user",
            parts=[types.Part.from_function_response(name="get_weather", response={"output": "Sunny, 21 C"})],
        ),
    ]
    chat_upstream.reply_stream(text_chunks("It is sunny."))
    stream = await aio.models.generate_content_stream(model="qwen3-coder-plus", contents=history, config=config)
    chunks = [c async for c in stream]
    assert "".join(c.text or "" for c in chunks) == "It is sunny."
    messages = chat_upstream.received[-1].body["messages"]
    assert messages[-2]["tool_calls"][0]["id"] == "call_1"
    assert messages[-1] == {"role": "tool", "tool_call_id": "call_1", "content": "Sunny, 21 C"}


async def test_count_tokens_is_answered_by_the_proxy(proxy, chat_upstream, sdk):
    counted = await sdk().models.count_tokens(model="qwen3-coder-plus", contents="hello " * 100)
    assert 100 <= counted.total_tokens <= 250
    assert chat_upstream.received == []


async def test_models_are_listed_in_geminis_shape(proxy, sdk):
    names = [m.name async for m in await sdk().models.list()]
    assert "models/qwen3-coder-plus" in names
    async with aiohttp.ClientSession() as http, http.get(f"{proxy.url}/v1beta/models") as resp:
        gemini_types.models(await resp.json())
    async with aiohttp.ClientSession() as http, http.get(f"{proxy.url}/v1/models") as resp:
        assert (await resp.json())["object"] == "list"  # the OpenAI listing stays where it was


async def test_a_model_no_pack_serves_is_a_404_the_sdk_raises(proxy, chat_upstream, sdk):
    with pytest.raises(errors.ClientError) as raised:
        await sdk().models.generate_content(model="gemini-2.5-pro", contents="hi")
    assert raised.value.code == 404 and raised.value.status == "NOT_FOUND"
    assert "gemini-2.5-pro" in raised.value.message


async def test_an_upstream_rate_limit_is_resource_exhausted(proxy, chat_upstream, sdk):
    chat_upstream.reply_error(429, {"error": {"message": "Requests rate limit exceeded", "code": "limit_requests"}})
    with pytest.raises(errors.ClientError) as raised:
        await sdk().models.generate_content(model="qwen3-coder-plus", contents="hi")
    assert raised.value.code == 429 and raised.value.status == "RESOURCE_EXHAUSTED"


async def test_a_request_chat_cannot_express_is_a_400_in_geminis_shape(proxy, chat_upstream, sdk):
    config = types.GenerateContentConfig(tools=[types.Tool(google_search=types.GoogleSearch())])
    with pytest.raises(errors.ClientError) as raised:
        await sdk().models.generate_content(model="qwen3-coder-plus", contents="news?", config=config)
    assert raised.value.code == 400 and raised.value.status == "INVALID_ARGUMENT"
    assert "googleSearch" in raised.value.message
    assert chat_upstream.received == []


async def test_without_alt_sse_the_stream_is_one_json_array(proxy, chat_upstream, sdk):
    chat_upstream.reply_stream(text_chunks("Hel", "lo"))
    url = f"{proxy.url}/v1beta/models/qwen3-coder-plus:streamGenerateContent"
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    async with aiohttp.ClientSession() as http, http.post(url, json=body) as resp:
        assert resp.status == 200 and resp.headers["Content-Type"].startswith("application/json")
        chunks = orjson.loads(await resp.read())
    assert isinstance(chunks, list) and len(chunks) >= 2
    for chunk in chunks:
        gemini_types.response(chunk)
    assert "".join(p.get("text", "") for c in chunks for p in c["candidates"][0]["content"]["parts"]) == "Hello"


async def test_a_key_in_the_query_reaches_no_log_and_no_trace(proxy, chat_upstream, sdk):
    chat_upstream.reply_stream(text_chunks("ok"))
    url = f"{proxy.url}/v1beta/models/qwen3-coder-plus:streamGenerateContent?alt=sse&key={QUERY_KEY}"
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}) as resp:
            assert resp.status == 200
            await resp.read()
        async with http.post(f"{proxy.url}/v1beta/models/nobody:generateContent?key={QUERY_KEY}", json={}) as resp:
            assert resp.status == 404
            assert QUERY_KEY not in await resp.text()
        async with http.get(f"{proxy.url}/-/requests") as resp:
            traces = await resp.text()
    assert QUERY_KEY not in proxy.log() and QUERY_KEY not in traces
    assert QUERY_KEY not in str(dict(chat_upstream.received[-1].headers))  # the pack's own key went


async def test_client_tokens_are_read_from_x_goog_api_key_or_the_query(tmp_path, aiohttp_server, sdk):
    fake = FakeChatProvider()
    server = await aiohttp_server(fake.app)
    rules = tmp_path / "rules"
    rules.mkdir()
    shutil.copy(ROOT / "rules" / "qwen.yaml", rules / "qwen.yaml")
    env = {"QWEN_BASE_URL": str(server.make_url("/v1")), "QWEN_API_KEY": "sk-qwen"}
    process = ProxyProcess(rules, env=env, args=("--client-token", "gateway-token"))
    try:
        proxy = process.wait_ready()
        ok = sdk(key="gateway-token", url=proxy.url)
        fake.reply_stream(text_chunks("ok"))
        assert (await ok.models.generate_content(model="qwen3-coder-plus", contents="hi")).text == "ok"
        assert "gateway-token" not in str(dict(fake.received[-1].headers))
        wrong = sdk(key="not-it", url=proxy.url)
        with pytest.raises(errors.ClientError) as raised:
            await wrong.models.generate_content(model="qwen3-coder-plus", contents="hi")
        assert raised.value.code == 401 and raised.value.status == "UNAUTHENTICATED"
        with pytest.raises(errors.ClientError):
            await wrong.models.count_tokens(model="qwen3-coder-plus", contents="hi")
        url = f"{proxy.url}/v1beta/models/qwen3-coder-plus:countTokens?key=gateway-token"
        async with aiohttp.ClientSession() as http, http.post(url, json={"contents": []}) as resp:
            assert resp.status == 200 and (await resp.json()) == {"totalTokens": 0}
    finally:
        process.stop()
