"""The pack `switchyard probe` writes works unedited: `switchyard serve` runs it in front of the fake it
was learnt from, and the real `openai` SDK and the real Codex CLI get their answers.

Per strict fake (tests/fakes/strict_providers.py): probe it, put the pack as written into a rules
folder, start a real `switchyard serve` on it with only the key's variable set (the pack's URL
default is the probed URL), then drive real clients. The fakes refuse what the probe found they
refuse, so a pack that missed something fails here with the provider's 400.
"""

from __future__ import annotations

import openai
import pytest
from codex_cli import CODEX, run_codex_exec
from fakes.chat_provider import text_chunks, tool_call_chunks
from fakes.responses_provider import function_call_item, message_item, stream_events, stream_reply
from fakes.strict_providers import CHAT_PROVIDERS, KEY, FakeResponsesLite, reasoning_chunks
from probe_run import KEY_ENV, MODEL, probe

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        "strict": False,
    },
}


async def probed_proxy(fake, aiohttp_server, start_proxy, tmp_path, protocol: str = "chat"):
    server = await aiohttp_server(fake.app)
    probed = await probe(str(server.make_url("/v1")), tmp_path, protocol=protocol)
    assert probed.returncode == 0, probed.stderr
    return start_proxy(probed.pack.parent, env={KEY_ENV: KEY})


@pytest.mark.parametrize("name", sorted(CHAT_PROVIDERS))
async def test_the_sdk_gets_text_streams_and_tool_calls_through_the_probed_pack(
    aiohttp_server, start_proxy, tmp_path, name
):
    fake = CHAT_PROVIDERS[name]()
    proxy = await probed_proxy(fake, aiohttp_server, start_proxy, tmp_path)
    sent = len(fake.received)
    client = openai.AsyncOpenAI(base_url=proxy.base_url, api_key="unused", max_retries=0, timeout=20)
    # What SDK users send: a developer message, the newer cap, content parts, fields the provider may not know.
    messages = [
        {"role": "developer", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Say OK."}]},
    ]
    try:
        answer = await client.chat.completions.create(
            model=MODEL, messages=messages, max_completion_tokens=20, user="u1", metadata={"a": "b"}, store=False
        )
        assert answer.choices[0].message.content == "OK"

        stream = await client.chat.completions.create(
            model=MODEL, messages=messages, max_tokens=20, stream=True, stream_options={"include_usage": True}
        )
        chunks = [c async for c in stream]
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "OK"
        assert chunks[-1].usage is not None
        extras = [c.choices[0].delta.model_extra or {} for c in chunks if c.choices]
        reasoning = "".join(extra.get("reasoning_content") or "" for extra in extras)
        assert reasoning == "The user wants OK."  # under `thoughts` from that fake, mapped by its pack

        fake.reply_stream(tool_call_chunks(("get_weather", '{"city": "Paris"}')))
        named = {"type": "function", "function": {"name": "get_weather"}}
        stream = await client.chat.completions.create(
            model=MODEL, messages=messages, tools=[WEATHER], tool_choice=named, parallel_tool_calls=True, stream=True
        )
        calls = [t for c in [c async for c in stream] if c.choices for t in c.choices[0].delta.tool_calls or []]
        assert calls[0].function.name == "get_weather"
        function = {"name": "get_weather", "arguments": '{"city": "Paris"}'}
        call = {"id": calls[0].id, "type": "function", "function": function}
        fake.reply_stream(text_chunks("Sunny in Paris."))
        followed = await client.chat.completions.create(
            model=MODEL,
            messages=[
                *messages,
                {"role": "assistant", "content": None, "tool_calls": [call]},
                {"role": "tool", "tool_call_id": calls[0].id, "content": "sunny"},
            ],
            tools=[WEATHER],
        )
        assert followed.choices[0].message.content == "Sunny in Paris."
    finally:
        await client.close()
    assert len(fake.received) - sent == 4, proxy.log()


@pytest.mark.clients
@pytest.mark.skipif(CODEX is None, reason="Codex CLI is not installed: run `make clients` (needs npm)")
@pytest.mark.parametrize("name", ["dashscope", "opaque", "thoughts"])
async def test_codex_runs_a_tool_loop_through_the_probed_pack(aiohttp_server, start_proxy, tmp_path, name):
    fake = CHAT_PROVIDERS[name]()
    proxy = await probed_proxy(fake, aiohttp_server, start_proxy, tmp_path)
    sent = len(fake.received)
    fake.reply_stream(tool_call_chunks(("exec_command", '{"cmd": "echo switchyard-ok"}'), pieces=5))
    answer = reasoning_chunks(fake.reasoning_field, "It printed it.", "The command printed ", "switchyard-ok.")
    fake.reply_stream(answer)
    output = await run_codex_exec(proxy, tmp_path, MODEL)
    turns = [r.body for r in fake.received[sent:]]
    assert len(turns) == 2, output + proxy.log()
    tool = [m for m in turns[1]["messages"] if m["role"] == "tool"]
    assert tool and "switchyard-ok" in tool[-1]["content"]


@pytest.mark.clients
@pytest.mark.skipif(CODEX is None, reason="Codex CLI is not installed: run `make clients` (needs npm)")
async def test_codex_runs_a_tool_loop_through_a_pack_probed_on_a_responses_provider(
    aiohttp_server, start_proxy, tmp_path
):
    fake = FakeResponsesLite()
    proxy = await probed_proxy(fake, aiohttp_server, start_proxy, tmp_path, protocol="responses")
    sent = len(fake.requests)
    call = function_call_item("exec_command", '{"cmd": "echo switchyard-ok"}')
    fake.enqueue(stream_reply(stream_events([call], model=MODEL)))
    fake.enqueue(stream_reply(stream_events([message_item("The command printed switchyard-ok.")], model=MODEL)))
    output = await run_codex_exec(proxy, tmp_path, MODEL)
    turns = [r["body"] for r in fake.requests[sent:]]
    assert len(turns) == 2, output + proxy.log()
    outputs = [i for i in turns[1]["input"] if i.get("type") == "function_call_output"]
    assert outputs and "switchyard-ok" in str(outputs[-1]["output"])


async def test_the_sdk_chats_through_a_pack_probed_on_a_responses_provider(aiohttp_server, start_proxy, tmp_path):
    fake = FakeResponsesLite()
    proxy = await probed_proxy(fake, aiohttp_server, start_proxy, tmp_path, protocol="responses")
    sent = len(fake.requests)
    client = openai.AsyncOpenAI(base_url=proxy.base_url, api_key="unused", max_retries=0, timeout=20)
    messages = [{"role": "developer", "content": "Be brief."}, {"role": "user", "content": "Say OK."}]
    try:
        answer = await client.chat.completions.create(model=MODEL, messages=messages, max_tokens=20)
        assert answer.choices[0].message.content == "You said: Say OK."
        stream = await client.chat.completions.create(model=MODEL, messages=messages, stream=True)
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        assert text == "You said: Say OK."
        fake.enqueue(stream_reply(stream_events([function_call_item("get_weather", '{"city": "Paris"}')], model=MODEL)))
        stream = await client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER], stream=True)
        calls = [t for c in [c async for c in stream] if c.choices for t in c.choices[0].delta.tool_calls or []]
        assert calls[0].function.name == "get_weather"
    finally:
        await client.close()
    bodies = [r["body"] for r in fake.requests[sent:]]
    assert len(bodies) == 3 and all(i.get("role") != "developer" for b in bodies for i in b["input"]), proxy.log()
