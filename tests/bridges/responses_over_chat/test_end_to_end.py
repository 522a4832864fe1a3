"""Responses clients in front of a Chat-Completions-only model, end to end, with the shipped Qwen pack.

The proxy is a real `switchyard serve` process running a copy of `rules/qwen.yaml`, unchanged but for its
`${QWEN_BASE_URL}`, which points at the strict fake chat provider (tests/fakes/chat_provider.py: DashScope's
field allowlist, no `developer` role, no built-in or Responses-style tools, tool calls answered by tool
messages). Every stream the fake sends is cut into several writes per event.

Three clients:
- the real `openai` SDK (`AsyncOpenAI`: the sync client would block the event loop the fake runs in), with
  `responses.create` and `responses.stream(...)` + `get_final_response()`, for text, tool calls split in
  many deltas, and reasoning: the SDK's stream accumulator must accept every stream;
- Codex CLI 0.169.0's real turn-1 request, POSTed raw, checked event by event against what Codex needs
  (protocols.md D.3);
- Codex CLI itself (`codex exec`), when it is installed (`make codex`): it must run the tool the model asks
  for, send the output back, print the final answer and exit 0. Skipped, with the reason, when it is not.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass

import aiohttp
import openai
import orjson
import pytest
from codex_cli import CLIENT_KEY, CODEX, CODEX_CONFIG, run_codex_exec
from fakes.chat_provider import FakeChatProvider, chunk, completion, text_chunks, tool_call_chunks, usage_chunk
from proxy_process import ROOT, ProxyProcess, free_port

FIXTURES = ROOT / "tests" / "fixtures" / "codex-cli-0.169.0"
MODEL = "qwen3-coder-plus"
PACK_KEY = "sk-pack-qwen-e2e"
SHELL_TOOL = {
    "type": "function",
    "name": "exec_command",
    "description": "Run a shell command.",
    "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}, "required": ["cmd"]},
}
NAMESPACE_TOOL = {
    "type": "namespace",
    "name": "mcp__files",
    "description": "Files.",
    "tools": [{"type": "function", "name": "read", "parameters": {"type": "object", "properties": {}}}],
}


@dataclass
class Rig:
    client: openai.AsyncOpenAI
    proxy: ProxyProcess
    fake: FakeChatProvider

    @property
    def received(self) -> dict:
        """The body of the last request the fake provider accepted."""
        assert self.fake.received, "the provider received no request"
        return self.fake.received[-1].body


async def qwen_rig(aiohttp_server, start_proxy, tmp_path, pack: str):
    """The strict fake provider, a proxy running `pack` (a qwen pack) pointed at it, and an SDK client."""
    fake = FakeChatProvider()
    server = await aiohttp_server(fake.app)
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "qwen.yaml").write_text(pack, encoding="utf-8")
    proxy = start_proxy(rules, env={"QWEN_BASE_URL": str(server.make_url("/v1")), "QWEN_API_KEY": PACK_KEY})
    client = openai.AsyncOpenAI(base_url=proxy.base_url, api_key=CLIENT_KEY, max_retries=0, timeout=20)
    yield Rig(client, proxy, fake)
    await client.close()


@pytest.fixture
async def rig(aiohttp_server, start_proxy, tmp_path):
    """The rig with the shipped qwen pack."""
    pack = (ROOT / "rules" / "qwen.yaml").read_text(encoding="utf-8")
    async for made in qwen_rig(aiohttp_server, start_proxy, tmp_path, pack):
        yield made


async def stream(client: openai.AsyncOpenAI, **kwargs):
    """The SDK's own accumulation of a stream: (events, final response)."""
    async with client.responses.stream(model=MODEL, **kwargs) as events:
        seen = [event async for event in events]
        return seen, await events.get_final_response()


def assert_well_formed(events: list) -> None:
    """What both the SDK and Codex rely on: one start, dense sequence numbers, one terminal event at the end."""
    types = [e.type for e in events]
    assert types[:2] == ["response.created", "response.in_progress"]
    assert types[-1] == "response.completed" and types.count("response.completed") == 1
    assert [e.sequence_number for e in events] == list(range(len(events)))


# -- the openai SDK


async def test_create_returns_the_text_answer_and_sends_dashscope_a_body_it_accepts(rig):
    rig.fake.reply_json(completion("Hello there."))
    response = await rig.client.responses.create(model=MODEL, instructions="Be brief.", input="hi", store=False)

    assert (response.status, response.output_text) == ("completed", "Hello there.")
    assert (response.usage.input_tokens, response.usage.output_tokens, response.usage.total_tokens) == (10, 5, 15)
    body = rig.received
    assert body["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
    assert body["enable_thinking"] is False  # non-streaming: DashScope refuses thinking
    assert "store" not in body and "stream_options" not in body
    assert rig.fake.received[-1].headers["Authorization"] == f"Bearer {PACK_KEY}"


async def test_create_returns_tool_calls_with_their_namespace_restored(rig):
    calls = [
        {"id": "call_1", "type": "function", "function": {"name": "exec_command", "arguments": '{"cmd": "ls"}'}},
        {"id": "call_2", "type": "function", "function": {"name": "mcp__files__read", "arguments": "{}"}},
    ]
    rig.fake.reply_json(completion(None, tool_calls=calls))
    response = await rig.client.responses.create(model=MODEL, input="look", tools=[SHELL_TOOL, NAMESPACE_TOOL])

    first, second = response.output
    assert (first.type, first.name, first.arguments, first.call_id) == (
        "function_call",
        "exec_command",
        '{"cmd": "ls"}',
        "call_1",
    )
    assert (second.name, second.namespace, second.call_id) == ("read", "mcp__files", "call_2")
    assert [t["function"]["name"] for t in rig.received["tools"]] == ["exec_command", "mcp__files__read"]


async def test_create_returns_the_reasoning_as_a_reasoning_item_before_the_answer(rig):
    rig.fake.reply_json(completion("42", reasoning="Six times seven."))
    response = await rig.client.responses.create(model=MODEL, input="6*7?")

    reasoning, _message = response.output
    assert reasoning.type == "reasoning" and reasoning.content[0].text == "Six times seven."
    assert response.output_text == "42"


async def test_a_streamed_text_answer_is_accumulated_by_the_sdk(rig):
    rig.fake.reply_stream(text_chunks("Hel", "lo", " world"))
    developer_then_user = [{"role": "developer", "content": "Be brief."}, {"role": "user", "content": "hi"}]
    events, final = await stream(rig.client, input=developer_then_user)

    assert_well_formed(events)
    assert final.output_text == "Hello world"
    assert [e.delta for e in events if e.type == "response.output_text.delta"] == ["Hel", "lo", " world"]
    assert (final.usage.input_tokens, final.usage.output_tokens) == (10, 5)
    body = rig.received
    assert body["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
    assert body["stream_options"] == {"include_usage": True}


async def test_streamed_tool_calls_split_in_many_deltas_arrive_whole(rig):
    rig.fake.reply_stream(
        tool_call_chunks(("exec_command", '{"cmd": "echo switchyard-ok"}'), ("mcp__files__read", "{}"), pieces=9)
    )
    events, final = await stream(rig.client, input="run it", tools=[SHELL_TOOL, NAMESPACE_TOOL])

    assert_well_formed(events)
    shell, read = final.output
    assert (shell.type, shell.name, shell.arguments, shell.call_id) == (
        "function_call",
        "exec_command",
        '{"cmd": "echo switchyard-ok"}',
        "call_1",
    )
    assert (read.name, read.namespace, read.arguments) == ("read", "mcp__files", "{}")
    deltas = [e.delta for e in events if e.type == "response.function_call_arguments.delta" and e.output_index == 0]
    assert len(deltas) > 5 and "".join(deltas) == shell.arguments


async def test_streamed_reasoning_becomes_a_reasoning_item_and_effort_turns_thinking_on(rig):
    rig.fake.reply_stream(text_chunks("The answer is 42.", reasoning=("Six ", "times seven.")))
    events, final = await stream(rig.client, input="6*7?", reasoning={"effort": "high"})

    assert_well_formed(events)
    reasoning, message = final.output
    assert reasoning.type == "reasoning" and reasoning.content[0].text == "Six times seven."
    assert message.type == "message" and final.output_text == "The answer is 42."
    assert [e.delta for e in events if e.type == "response.reasoning_text.delta"] == ["Six ", "times seven."]
    assert rig.received["enable_thinking"] is True


async def test_a_second_turn_sends_the_reasoning_and_tool_result_back_in_a_form_dashscope_accepts(rig):
    rig.fake.reply_stream(text_chunks("Done."))
    history = [
        {"role": "user", "content": "run it"},
        {"type": "reasoning", "summary": [], "content": [{"type": "reasoning_text", "text": "Use the shell."}]},
        {"type": "function_call", "call_id": "call_1", "name": "exec_command", "arguments": '{"cmd": "ls"}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "a.txt"},
    ]
    _, final = await stream(rig.client, input=history, tools=[SHELL_TOOL])

    assert final.output_text == "Done."
    assistant, tool = rig.received["messages"][1:]
    assert assistant["reasoning_content"] == "Use the shell." and assistant["tool_calls"][0]["id"] == "call_1"
    assert tool == {"role": "tool", "tool_call_id": "call_1", "content": "a.txt"}


# -- Codex's own request, raw


async def post_codex_turn(rig: Rig, name: str) -> list[dict]:
    """POST a real Codex request with Codex's headers; the Responses events of the answer, in order."""
    body = (FIXTURES / name).read_bytes()
    headers = {
        "Authorization": f"Bearer {CLIENT_KEY}",
        "Accept": "text/event-stream",
        "Content-Type": "application/json",
        "originator": "codex_exec",
    }
    url = f"{rig.proxy.base_url}/responses"
    async with aiohttp.ClientSession() as session, session.post(url, data=body, headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        raw = await resp.text()
    events = []
    for block in raw.split("\n\n"):
        data = [line[len("data:") :].strip() for line in block.splitlines() if line.startswith("data:")]
        if data:
            event = orjson.loads("\n".join(data))
            assert f"event: {event['type']}" in block  # the event line names the type, as OpenAI's server does
            events.append(event)
    return events


async def test_codex_turn1_gets_every_event_codex_needs_for_a_tool_call(rig):
    rig.fake.reply_stream(
        [
            chunk({"role": "assistant", "content": "Listing."}),
            *tool_call_chunks(("exec_command", '{"cmd": "ls"}'), pieces=4)[1:],
        ]
    )
    events = await post_codex_turn(rig, "turn1-request.json")

    types = [e["type"] for e in events]
    assert types == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        *["response.function_call_arguments.delta"] * 4,
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    message_added, call_added = (e for e in events if e["type"] == "response.output_item.added")
    assert message_added["item"]["content"] == [] and message_added["output_index"] == 0
    assert (call_added["output_index"], call_added["item"]["type"]) == (1, "function_call")
    # Codex executes items from output_item.done: the call must be complete there, arguments as a string.
    call = events[-2]["item"]
    assert (call["name"], call["arguments"], call["call_id"], call["status"]) == (
        "exec_command",
        '{"cmd": "ls"}',
        "call_1",
        "completed",
    )
    completed = events[-1]["response"]
    assert isinstance(completed["id"], str) and completed["status"] == "completed"
    assert [item["type"] for item in completed["output"]] == ["message", "function_call"]
    usage = completed["usage"]
    assert (usage["input_tokens"], usage["output_tokens"], usage["total_tokens"]) == (10, 5, 15)
    assert usage["input_tokens_details"]["cached_tokens"] == 0
    assert usage["output_tokens_details"]["reasoning_tokens"] == 0
    # What DashScope got: the strict fake answered 200, so it passed; spot-check the pack's work.
    body = rig.received
    assert [m["role"] for m in body["messages"]] == ["system", "user", "user"]
    assert not {"store", "include", "prompt_cache_key", "client_metadata"} & set(body)


async def test_codex_turn2_with_an_upstream_usage_chunk_only_completes_with_the_text(rig):
    rig.fake.reply_stream([*text_chunks("There is one file: a.txt.", usage=False), usage_chunk(120, 8)])
    events = await post_codex_turn(rig, "turn2-request.json")

    assert events[-1]["type"] == "response.completed"
    done = [e["item"] for e in events if e["type"] == "response.output_item.done"]
    assert done == [events[-1]["response"]["output"][0]]
    assert done[0]["content"][0]["text"] == "There is one file: a.txt."
    assert events[-1]["response"]["usage"]["input_tokens"] == 120
    assert rig.received["messages"][-1]["role"] == "tool"


# -- Codex CLI itself


async def codex_tool_loop(rig: Rig, tmp_path, model: str = MODEL) -> str:
    """Run `codex exec` through the rig's proxy: the model asks for `echo switchyard-ok`, then answers."""
    rig.fake.reply_stream(tool_call_chunks(("exec_command", '{"cmd": "echo switchyard-ok"}'), pieces=5))
    rig.fake.reply_stream(text_chunks("The command printed ", "switchyard-ok."))
    return await run_codex_exec(rig.proxy, tmp_path, model)


@pytest.mark.clients
@pytest.mark.skipif(CODEX is None, reason="Codex CLI is not installed: run `make clients` (needs npm)")
async def test_codex_exec_runs_the_tool_the_model_asks_for_and_prints_the_final_answer(rig, tmp_path):
    output = await codex_tool_loop(rig, tmp_path)
    assert len(rig.fake.received) == 2, output
    tool_messages = [m for m in rig.received["messages"] if m["role"] == "tool"]
    assert tool_messages and tool_messages[-1]["tool_call_id"] == "call_1"
    assert "switchyard-ok" in tool_messages[-1]["content"]
    assert all(m["role"] != "developer" for r in rig.fake.received for m in r.body["messages"])


# Codex's bundled model metadata sets `use_responses_lite` for gpt-5.6 and later families: for those,
# Codex declares its tools in an `additional_tools` input item instead of `tools`. A pack routing such a
# model to a Chat provider must still hand the provider every tool.
def lite_pack() -> str:
    """The shipped qwen pack, also serving `gpt-6-sol` (as qwen3-coder-plus): its steps, a Lite client."""
    text = (ROOT / "rules" / "qwen.yaml").read_text(encoding="utf-8")
    match = "match: \"starts_with(model, 'qwen') || starts_with(model, 'qwq')\"\n"
    assert match in text, "the qwen pack's match changed: update this test"
    text = text.replace(match, "match: \"model == 'gpt-6-sol' || starts_with(model, 'qwen')\"\n", 1)
    rename = "  - match: \"model == 'gpt-6-sol'\"\n    set: {model: qwen3-coder-plus}\n"
    return text.replace("request:\n", "request:\n" + rename, 1)


@pytest.fixture
async def lite_rig(aiohttp_server, start_proxy, tmp_path):
    async for made in qwen_rig(aiohttp_server, start_proxy, tmp_path, lite_pack()):
        yield made


@pytest.mark.clients
@pytest.mark.skipif(CODEX is None, reason="Codex CLI is not installed: run `make clients` (needs npm)")
async def test_codex_sending_its_tools_in_additional_tools_still_gets_them_to_a_chat_provider(lite_rig, tmp_path):
    output = await codex_tool_loop(lite_rig, tmp_path, model="gpt-6-sol")
    first = lite_rig.fake.received[0].body
    names = [tool["function"]["name"] for tool in first.get("tools") or []]
    # Codex 0.171.0 sends `tools: []` and its tools (a `functions` namespace: exec, wait, ...) in the item
    # (seen on the wire); the provider gets them flattened, as for any namespace.
    assert "functions__exec" in names, output


def test_the_codex_config_keys_used_here_are_the_ones_codex_documents():
    # protocols.md D.2 lists ModelProviderInfo's keys; a typo would make Codex ignore the setting silently.
    known = {"name", "base_url", "env_key", "wire_api", "request_max_retries", "stream_max_retries"}
    known |= {"stream_idle_timeout_ms"}
    section = CODEX_CONFIG.split("[model_providers.switchyard]")[1]
    keys = {line.split("=")[0].strip() for line in section.splitlines() if "=" in line}
    assert keys == known


# -- `switchyard apply` runs the server's own path

_IDS = re.compile(rb'"(resp|msg|rs|fc|ctc|call)_[0-9a-f]+"')
_TIMES = re.compile(rb'"(created_at|completed_at)":\d+')


def normalised(stream: bytes) -> bytes:
    """A stream with its made-up ids and clock readings replaced: what stays must be byte-identical."""
    return _TIMES.sub(rb'"\1":0', _IDS.sub(rb'"\1_ID"', stream))


def switchyard(*args: str, cwd) -> subprocess.CompletedProcess:
    command = [str(ROOT / ".venv" / "bin" / "switchyard")]
    if not os.path.exists(command[0]):
        command = [sys.executable, "-m", "switchyard"]
    env = {**os.environ, "QWEN_API_KEY": PACK_KEY}  # the pack's own variables, as the server had them
    return subprocess.run([*command, *args], cwd=cwd, env=env, capture_output=True, timeout=60)


@pytest.mark.parametrize("turn", ["turn1", "turn2"])
async def test_apply_gives_the_upstream_body_and_the_client_stream_that_serve_gives(rig, tmp_path, turn):
    chunks = [
        chunk({"role": "assistant", "content": "Listing."}),
        *tool_call_chunks(("exec_command", '{"cmd": "ls"}'), pieces=4)[1:],
    ]
    rig.fake.reply_stream(chunks)
    request = FIXTURES / f"{turn}-request.json"
    headers = {"Authorization": f"Bearer {CLIENT_KEY}", "Content-Type": "application/json"}
    url = f"{rig.proxy.base_url}/responses"
    async with aiohttp.ClientSession() as session, session.post(url, data=request.read_bytes(), headers=headers) as r:
        assert r.status == 200
        served = await r.read()
    rules = tmp_path / "rules"  # the rig's copy of rules/qwen.yaml, which the server loaded

    sent = switchyard("apply", "--rules", str(rules), "--client", "responses", str(request), cwd=tmp_path)
    assert sent.returncode == 0, sent.stderr
    assert orjson.loads(sent.stdout) == rig.received

    upstream = tmp_path / "upstream.sse"
    upstream.write_bytes(b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks) + b"data: [DONE]\n\n")
    args = ("--pack", "qwen", "--client", "responses", "--stage", "response", "--stream", "--request", str(request))
    relayed = switchyard("apply", "--rules", str(rules), *args, str(upstream), cwd=tmp_path)
    assert relayed.returncode == 0, relayed.stderr
    assert normalised(relayed.stdout) == normalised(served)
    assert b"response.completed" in served


async def test_tools_declared_in_an_additional_tools_item_reach_the_chat_provider(rig):
    # Codex's "Responses Lite" declares tools inside the input; a bridge that skipped the item would
    # send the model no tools at all.
    rig.fake.reply_json(completion("ok"))
    extra = {"type": "additional_tools", "role": "developer", "tools": [SHELL_TOOL, NAMESPACE_TOOL]}
    await rig.client.responses.create(model=MODEL, input=[extra, {"role": "user", "content": "list files"}])
    names = [tool["function"]["name"] for tool in rig.received["tools"]]
    assert names == ["exec_command", "mcp__files__read"]


# -- a provider outage: the fallback carries Codex through

OUTAGE_PACK = """\
pack: primary
priority: 10
match: "model == 'qwen3-coder-plus'"
upstream: {{url: "http://127.0.0.1:{port}/v1", protocol: chat, retries: 1, timeout: {{connect: 2}}}}
fallback:
  - {{pack: qwen}}
"""


@pytest.fixture
async def outage_rig(aiohttp_server, start_proxy, tmp_path):
    """The first provider is down (nothing listens on its port); the shipped qwen pack is its fallback."""
    fake = FakeChatProvider()
    server = await aiohttp_server(fake.app)
    rules = tmp_path / "rules"
    rules.mkdir()
    shutil.copy(ROOT / "rules" / "qwen.yaml", rules / "qwen.yaml")
    (rules / "primary.yaml").write_text(OUTAGE_PACK.format(port=free_port()))
    proxy = start_proxy(rules, env={"QWEN_BASE_URL": str(server.make_url("/v1")), "QWEN_API_KEY": PACK_KEY})
    client = openai.AsyncOpenAI(base_url=proxy.base_url, api_key=CLIENT_KEY, max_retries=0, timeout=20)
    yield Rig(client, proxy, fake)
    await client.close()


async def test_a_request_whose_provider_is_down_is_served_by_the_fallback_pack(outage_rig):
    outage_rig.fake.reply_json(completion("Served by the fallback."))
    raw = await outage_rig.client.responses.with_raw_response.create(model=MODEL, input="hi")
    assert raw.headers["X-Switchyard-Pack"] == "qwen"
    assert raw.parse().output_text == "Served by the fallback."
    # The fallback's own bridge and steps ran: DashScope's strict fake accepted the body.
    assert outage_rig.received["model"] == MODEL
    [line] = [row for row in outage_rig.proxy.log().splitlines() if "request_id" in row and "status" in row][-1:]
    assert "primary:upstream_unreachable primary:upstream_unreachable" in line


@pytest.mark.clients
@pytest.mark.skipif(CODEX is None, reason="Codex CLI is not installed: run `make clients` (needs npm)")
async def test_codex_exec_completes_its_tool_loop_through_an_outage_of_its_first_provider(outage_rig, tmp_path):
    await codex_tool_loop(outage_rig, tmp_path)
    assert len(outage_rig.fake.received) == 2  # both turns reached the fallback, none was lost
    assert outage_rig.proxy.log().count("primary:upstream_unreachable primary:upstream_unreachable") == 2


# -- Codex in front of Claude: Responses -> Chat -> Messages, composed, through the shipped anthropic pack


@pytest.mark.clients
@pytest.mark.skipif(CODEX is None, reason="Codex CLI is not installed: run `make clients` (needs npm)")
async def test_codex_exec_runs_its_tool_loop_against_an_anthropic_upstream(aiohttp_server, start_proxy, tmp_path):
    from fakes.messages_provider import FakeMessagesProvider, text_events, tool_use_events

    fake = FakeMessagesProvider()
    server = await aiohttp_server(fake.app)
    rules = tmp_path / "rules"
    rules.mkdir()
    shutil.copy(ROOT / "rules" / "anthropic.yaml", rules / "anthropic.yaml")
    env = {"ANTHROPIC_BASE_URL": str(server.make_url("/v1")), "ANTHROPIC_API_KEY": "sk-anthropic"}
    proxy = start_proxy(rules, env=env)
    fake.reply_stream(tool_use_events("toolu_1", "exec_command", ['{"cmd": ', '"echo switchyard-ok"}']))
    fake.reply_stream(text_events("The command printed ", "switchyard-ok."))
    await run_codex_exec(proxy, tmp_path, "claude-sonnet-4-5")
    second = fake.received[-1].body
    assert second["messages"][-1]["content"][0]["type"] == "tool_result"
    assert "switchyard-ok" in str(second["messages"][-1]["content"][0]["content"])
    assert fake.received[-1].headers["x-api-key"] == "sk-anthropic"
