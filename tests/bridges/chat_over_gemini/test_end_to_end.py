"""Every client in front of a Gemini upstream, end to end, through the shipped `rules/gemini.yaml`.

The proxy is a real `switchyard serve` process running a copy of `rules/gemini.yaml`, unchanged but for
`${GEMINI_BASE_URL}`, which points at the strict fake Gemini (tests/fakes/gemini_provider.py): it refuses
unknown fields, schema keywords outside `parameters`' subset, and a replayed function call without the
signature it issued on it. The clients are the real openai SDK (a tool round trip, a stream, errors),
Codex CLI (Responses -> Chat -> Gemini) and Claude Code (Messages -> Chat -> Gemini), each finishing a
tool loop with Gemini's signature back on its call.
"""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import subprocess

import aiohttp
import openai
import pytest
from codex_cli import CODEX, run_codex_exec
from fakes.gemini_provider import FakeGeminiProvider, call_chunks, chunk, same_signature, text_chunks
from proxy_process import ROOT

PACK_KEY = "gemini-pack-key"
MODEL = "gemini-3.1-pro-preview"
SIGNATURE = "++++//5zaWctMQ=="  # standard base64 with `+`, `/` and padding: the id carries it URL-safe
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
                       "additionalProperties": False},
    },
}  # fmt: skip
CLAUDE = os.environ.get("SWITCHYARD_CLAUDE") or (
    str(ROOT / "node_modules" / ".bin" / "claude") if (ROOT / "node_modules" / ".bin" / "claude").exists() else None
)


class Rig:
    def __init__(self, fake: FakeGeminiProvider, proxy, client: openai.AsyncOpenAI):
        self.fake, self.proxy, self.client = fake, proxy, client

    @property
    def received(self) -> dict:
        return self.fake.received[-1].body


@pytest.fixture
async def rig(aiohttp_server, start_proxy, tmp_path):
    fake = FakeGeminiProvider()
    server = await aiohttp_server(fake.app)
    rules = tmp_path / "rules"
    rules.mkdir()
    shutil.copy(ROOT / "rules" / "gemini.yaml", rules / "gemini.yaml")
    env = {"GEMINI_BASE_URL": str(server.make_url("/v1beta")), "GEMINI_API_KEY": PACK_KEY}
    proxy = start_proxy(rules, env=env)
    client = openai.AsyncOpenAI(base_url=proxy.base_url, api_key="sk-client", max_retries=0)
    yield Rig(fake, proxy, client)
    await client.close()


# -- the openai SDK


async def test_the_openai_sdk_completes_a_tool_round_trip_with_the_signature_back_on_its_call(rig):
    rig.fake.reply_stream(call_chunks(("get_weather", {"city": "Paris"}), signature=SIGNATURE))
    rig.fake.reply_stream(text_chunks("18C and sunny in Paris."))
    messages = [{"role": "user", "content": "What is the weather in Paris?"}]
    first = await rig.client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER_TOOL])
    [call] = first.choices[0].message.tool_calls
    assert first.choices[0].finish_reason == "tool_calls"
    assert (call.function.name, call.function.arguments) == ("get_weather", '{"city":"Paris"}')
    assert first.choices[0].message.reasoning_content == "Let me look."  # the thought, as reasoning text
    messages += [first.choices[0].message.model_dump(exclude_none=True, exclude={"reasoning_content"}),
                 {"role": "tool", "tool_call_id": call.id, "content": "18C and sunny"}]  # fmt: skip
    second = await rig.client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER_TOOL])

    assert second.choices[0].message.content == "18C and sunny in Paris."
    sent = rig.received["contents"]
    signed = {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": SIGNATURE}
    assert sent[1] == {"role": "model", "parts": [signed]}
    assert sent[2]["parts"] == [{"functionResponse": {"name": "get_weather", "response": {"output": "18C and sunny"}}}]
    request = rig.fake.received[-1]
    assert request.path == f"/v1beta/models/{MODEL}:generateContent"
    assert request.headers["x-goog-api-key"] == PACK_KEY
    assert "authorization" not in {k.lower() for k in request.headers}
    declared = rig.received["tools"][0]["functionDeclarations"][0]
    assert declared["parametersJsonSchema"]["additionalProperties"] is False  # schemas go as JSON Schema


async def test_the_openai_sdk_streams_text_and_usage_from_gemini_sse(rig):
    rig.fake.reply_stream(text_chunks("Hel", "lo", thought="**Greeting** the user"))
    stream = await rig.client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True, stream_options={"include_usage": True}
    )
    chunks = [c async for c in stream]

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage.prompt_tokens == 12 and chunks[-1].usage.completion_tokens == 5
    request = rig.fake.received[-1]
    assert request.path == f"/v1beta/models/{MODEL}:streamGenerateContent" and request.query == {"alt": "sse"}
    assert "model" not in request.body and "stream" not in request.body


async def test_gemini_function_ids_round_trip_and_parallel_calls_keep_the_one_signature(rig):
    rig.fake.reply_stream(call_chunks(("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Rome"}),
                                      signature=SIGNATURE, ids=True))  # fmt: skip
    rig.fake.reply_stream(text_chunks("Both sunny."))
    messages = [{"role": "user", "content": "Weather in Paris and Rome?"}]
    first = await rig.client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER_TOOL])
    calls = first.choices[0].message.tool_calls
    messages += [first.choices[0].message.model_dump(exclude_none=True, exclude={"reasoning_content"})]
    messages += [{"role": "tool", "tool_call_id": c.id, "content": "sunny"} for c in calls]
    await rig.client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER_TOOL])

    model, results = rig.received["contents"][1:3]
    assert [p["functionCall"]["id"] for p in model["parts"]] == ["fc-get_weather-0", "fc-get_weather-1"]
    assert [p.get("thoughtSignature") for p in model["parts"]] == [SIGNATURE, None]
    assert [p["functionResponse"]["id"] for p in results["parts"]] == ["fc-get_weather-0", "fc-get_weather-1"]


async def test_a_history_from_another_model_passes_gemini_3s_check_with_the_documented_placeholder(rig):
    rig.fake.reply_stream(text_chunks("ok"))
    messages = [
        {"role": "user", "content": "What is the weather in Paris?"},
        {"role": "assistant", "tool_calls": [{"id": "call_from_gpt", "type": "function",
                                              "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}]},
        {"role": "tool", "tool_call_id": "call_from_gpt", "content": "18C"},
    ]  # fmt: skip
    answer = await rig.client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER_TOOL])

    assert answer.choices[0].message.content == "ok"
    assert rig.received["contents"][1]["parts"][0]["thoughtSignature"] == "skip_thought_signature_validator"


async def test_a_replayed_call_that_lost_its_signature_is_refused_by_the_strict_fake_as_gemini_does(rig):
    rig.fake.reply_stream(call_chunks(("get_weather", {"city": "Paris"}), signature=SIGNATURE))
    messages = [{"role": "user", "content": "What is the weather in Paris?"}]
    first = await rig.client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER_TOOL])
    [call] = first.choices[0].message.tool_calls
    stripped = call.id.partition("__thought__")[0]  # a client that rewrote the id
    messages += [{"role": "assistant", "tool_calls": [{"id": stripped, "type": "function",
                                                      "function": call.function.model_dump()}]},
                 {"role": "tool", "tool_call_id": stripped, "content": "18C"}]  # fmt: skip
    with pytest.raises(openai.BadRequestError) as refused:
        await rig.client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER_TOOL])
    # The pack put the placeholder on it (it looked like another model's history); the fake wants its own.
    assert "thought signature" in str(refused.value)
    assert rig.received["contents"][1]["parts"][0]["thoughtSignature"] == "skip_thought_signature_validator"


async def test_gemini_errors_reach_the_openai_sdk_as_the_errors_it_acts_on(rig):
    quota = {"error": {"code": 429, "message": "You exceeded your current quota. Please retry in 5s.",
                       "status": "RESOURCE_EXHAUSTED"}}  # fmt: skip
    for _ in range(3):  # the pack retries twice
        rig.fake.reply_error(429, quota)
    with pytest.raises(openai.RateLimitError, match="exceeded your current quota"):
        await rig.client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])


async def test_a_gemini_stream_cut_before_its_finish_reason_ends_in_an_error_for_the_client(rig):
    rig.fake.reply_cut([chunk([{"text": "Hel"}])])
    stream = await rig.client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True
    )
    with pytest.raises(openai.APIError):
        _ = [c async for c in stream]


# -- Codex CLI: Responses -> Chat -> Gemini


@pytest.mark.clients
@pytest.mark.skipif(CODEX is None, reason="Codex CLI is not installed: run `make clients` (needs npm)")
async def test_codex_exec_completes_its_tool_loop_on_gemini_with_the_signature_intact(rig, tmp_path):
    rig.fake.reply_stream(call_chunks(("exec_command", {"cmd": "echo switchyard-ok"}), signature=SIGNATURE))
    rig.fake.reply_stream(text_chunks("The command printed ", "switchyard-ok."))
    await run_codex_exec(rig.proxy, tmp_path, MODEL)

    assert len(rig.fake.received) == 2
    contents = rig.received["contents"]
    [call] = [p for c in contents if c["role"] == "model" for p in c["parts"] if "functionCall" in p]
    assert call["thoughtSignature"] == SIGNATURE
    [result] = [p for c in contents for p in c["parts"] if "functionResponse" in p]
    assert "switchyard-ok" in result["functionResponse"]["response"]["output"]


# -- Claude Code: Messages -> Chat -> Gemini


@pytest.mark.clients
@pytest.mark.skipif(CLAUDE is None, reason="Claude Code is not installed: run `make clients` (needs npm)")
async def test_claude_code_completes_its_tool_loop_on_gemini_with_the_signature_intact(rig, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "a.txt").write_text("a")
    (work / "b.txt").write_text("b")
    rig.fake.reply_stream(call_chunks(("Bash", {"command": "ls", "description": "List files"}), signature=SIGNATURE))
    rig.fake.reply_stream(text_chunks("The files are ", "a.txt and b.txt."))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CLAUDE_"))},
        "ANTHROPIC_BASE_URL": rig.proxy.url,
        "ANTHROPIC_API_KEY": "sk-test",
        "HOME": str(tmp_path / "home"),
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_AUTOUPDATER": "1",
        "IS_SANDBOX": "1",
    }
    cmd = [CLAUDE, "-p", "list the files here", "--output-format", "json", "--dangerously-skip-permissions",
           "--model", MODEL]  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        *cmd, cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        pytest.fail(f"claude did not finish in 120 s; proxy log:\n{rig.proxy.log()}")
    output = out.decode(errors="replace") + err.decode(errors="replace")
    assert proc.returncode == 0, output + "\nproxy log:\n" + rig.proxy.log()
    assert "The files are a.txt and b.txt." in out.decode(errors="replace"), output
    contents = rig.received["contents"]
    [call] = [p for c in contents if c["role"] == "model" for p in c["parts"] if "functionCall" in p]
    assert call["thoughtSignature"] == SIGNATURE
    [result] = [p for c in contents for p in c["parts"] if "functionResponse" in p]
    assert "a.txt" in result["functionResponse"]["response"]["output"]


# -- Gemini clients: no bridge, only the pack's steps


# The SDK's own aiohttp session subclasses ClientSession, which aiohttp warns about (warnings are errors here).
@pytest.mark.filterwarnings("ignore:Inheritance class AiohttpClientSession:DeprecationWarning")
async def test_the_google_genai_sdk_passes_through_with_its_signature_and_the_packs_key(rig):
    from google import genai
    from google.genai import types

    rig.fake.reply_stream(call_chunks(("get_weather", {"city": "Paris"}), signature=SIGNATURE))
    rig.fake.reply_stream(text_chunks("18C and sunny in Paris."))
    client = genai.Client(api_key="client-key", http_options=types.HttpOptions(base_url=rig.proxy.url))
    weather = types.Tool(function_declarations=[types.FunctionDeclaration(
        name="get_weather", parameters_json_schema=WEATHER_TOOL["function"]["parameters"])])  # fmt: skip
    config = types.GenerateContentConfig(tools=[weather], system_instruction="Be brief.")
    history = [types.Content(role="user", parts=[types.Part(text="What is the weather in Paris?")])]
    parts = []
    async for piece in await client.aio.models.generate_content_stream(model=MODEL, contents=history, config=config):
        parts += piece.candidates[0].content.parts
    [call] = [p for p in parts if p.function_call]
    assert call.thought_signature == base64.b64decode(SIGNATURE)
    history += [types.Content(role="model", parts=[call]), types.Content(role="user", parts=[
        types.Part.from_function_response(name="get_weather", response={"output": "18C"})])]  # fmt: skip
    answer = await client.aio.models.generate_content(model=MODEL, contents=history, config=config)

    assert answer.text == "18C and sunny in Paris."
    request = rig.fake.received[-1]
    assert request.path == f"/v1beta/models/{MODEL}:generateContent"
    assert request.headers["x-goog-api-key"] == PACK_KEY  # the pack's key, not the client's
    # The SDK writes bytes URL-safe: the same signature.
    assert same_signature(request.body["contents"][1]["parts"][0]["thoughtSignature"], SIGNATURE)


async def test_a_gemini_clients_json_schema_parameters_and_unsigned_history_are_fixed_by_the_pack(rig):
    rig.fake.reply_stream(text_chunks("ok"))
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "additionalProperties": False}
    body = {
        "contents": [
            {"role": "user", "parts": [{"text": "weather?"}]},
            {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"output": "18C"}}}]},
        ],
        "tools": [{"functionDeclarations": [{"name": "get_weather", "parameters": schema}]}],
    }
    async with aiohttp.ClientSession() as session:
        url = f"{rig.proxy.url}/v1beta/models/{MODEL}:streamGenerateContent?alt=sse"
        async with session.post(url, json=body, headers={"x-goog-api-key": "client-key"}) as response:
            raw = await response.read()
            assert response.status == 200, raw

    sent = rig.received
    assert sent["tools"][0]["functionDeclarations"][0] == {"name": "get_weather", "parametersJsonSchema": schema}
    assert sent["contents"][1]["parts"][0]["thoughtSignature"] == "skip_thought_signature_validator"
