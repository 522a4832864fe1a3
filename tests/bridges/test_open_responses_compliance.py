"""The Open Responses compliance suite's scenarios, through a real `switchyard serve`, every object validated.

The specification's own suite (openresponses.org/compliance: basic text, streaming, system prompt, tool
calling, tool calling streamed, image input, multi-turn) sends the requests below to `POST /v1/responses`
and validates what comes back with the spec's schemas. Here a Responses client sends them to the shipped
packs in front of two fakes: the strict Chat provider (the qwen pack: what Codex CLI users run) and the
strict Anthropic provider (the anthropic pack: Responses composed over Chat over Messages). Every body,
every streamed event (with its `response`) and every request the fakes received is checked by
tests/conformance.py; so are the error paths: a refused request, a failed upstream, a broken stream.
The other directions through the same server are checked the same way: a Messages client in front of the
Chat fake and a Chat client in front of the Anthropic fake, by the anthropic and openai SDKs' own types.
"""

from __future__ import annotations

import shutil

import aiohttp
import conformance
import orjson
import pytest
from client_protocols import ROUTES, sse_frames
from fakes.chat_provider import FakeChatProvider, completion, text_chunks, tool_call_chunks
from fakes.messages_provider import FakeMessagesProvider, Reply, message_of, text_events, tool_use_events
from proxy_process import ROOT, ProxyProcess, rebindable_port

from switchyard import bridges
from switchyard.bridges.responses_over_chat.stream import to_response

# A 1x1 PNG.
PNG = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Get the current weather for a location",
    "parameters": {
        "type": "object",
        "properties": {"location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"}},
        "required": ["location"],
    },
}


def message(role: str, content) -> dict:
    return {"type": "message", "role": role, "content": content}


PIRATE = "You are a pirate. Always respond in pirate speak."
WEATHER_QUESTION = "What's the weather like in San Francisco?"
IMAGE = [
    {"type": "input_text", "text": "What do you see in this image? Answer in one sentence."},
    {"type": "input_image", "image_url": PNG},
]
ALICE = "Hello Alice! Nice to meet you. How can I help you today?"

# The suite's scenarios: (id, streamed, input, tools), as its compliance-tests.ts sends them.
SCENARIOS = [
    ("basic-response", False, [message("user", "Say hello in exactly 3 words.")], None),
    ("streaming-response", True, [message("user", "Count from 1 to 5.")], None),
    ("system-prompt", False, [message("system", PIRATE), message("user", "Say hello.")], None),
    ("tool-calling", False, [message("user", WEATHER_QUESTION)], [WEATHER]),
    ("tool-calling-streaming", True, [message("user", WEATHER_QUESTION)], [WEATHER]),
    ("image-input", False, [message("user", IMAGE)], None),
    (
        "multi-turn",
        False,
        [message("user", "My name is Alice."), message("assistant", ALICE), message("user", "What is my name?")],
        None,
    ),
]
MODELS = {"chat": "qwen3-coder-plus", "messages": "claude-sonnet-4-5"}
CALL = '{"location": "San Francisco, CA"}'


class ChatFake(FakeChatProvider):
    """The strict Chat fake, answering a request that offers tools with a call (streamed or not, as asked)."""

    async def _handle(self, request):
        body = orjson.loads(await request.read())  # aiohttp keeps the body for the fake's own read
        if isinstance(body, dict) and body.get("tools") and not self.replies:
            if body.get("stream"):
                self.reply_stream(tool_call_chunks(("get_weather", CALL)))
            else:
                call = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": CALL}}
                self.reply_json(completion(None, tool_calls=[call]))
        return await super()._handle(request)


class MessagesFake(FakeMessagesProvider):
    async def _handle(self, request):
        body = orjson.loads(await request.read())
        if isinstance(body, dict) and body.get("tools") and not self.replies:
            events = tool_use_events("toolu_1", "get_weather", [CALL[:10], CALL[10:]])
            reply = Reply("stream", events=events) if body.get("stream") else Reply("json", body=message_of(events))
            self.replies.append(reply)
        return await super()._handle(request)


@pytest.fixture(scope="module")
def ports() -> dict:
    return {"chat": rebindable_port(), "messages": rebindable_port()}


@pytest.fixture(scope="module")
def proxy(ports, tmp_path_factory):
    rules = tmp_path_factory.mktemp("compliance") / "rules"
    rules.mkdir()
    shutil.copy(ROOT / "rules" / "qwen.yaml", rules / "qwen.yaml")
    shutil.copy(ROOT / "rules" / "anthropic.yaml", rules / "anthropic.yaml")
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
async def upstreams(aiohttp_server, ports) -> dict:
    chat, messages = ChatFake(), MessagesFake()
    await aiohttp_server(chat.app, port=ports["chat"])
    await aiohttp_server(messages.app, port=ports["messages"])
    return {"chat": chat, "messages": messages}


async def post(proxy, body: dict, client: str = "responses") -> tuple[int, object]:
    """The answer as the client reads it: a body (JSON), or the list of streamed events."""
    headers = {"Authorization": "Bearer sk-x", "anthropic-version": "2023-06-01"}
    url = proxy.url + ROUTES[client]
    async with aiohttp.ClientSession() as http, http.post(url, json=body, headers=headers) as r:
        raw = await r.read()
        if r.content_type == "text/event-stream":
            return r.status, [orjson.loads(data) for _, data in sse_frames(raw) if data and data != "[DONE]"]
        return r.status, orjson.loads(raw)


@pytest.mark.parametrize("upstream", ["chat", "messages"])
@pytest.mark.parametrize(("scenario", "streamed", "input", "tools"), SCENARIOS, ids=[s[0] for s in SCENARIOS])
async def test_each_compliance_scenario_answers_with_objects_valid_by_the_spec(
    proxy, upstreams, upstream, scenario, streamed, input, tools
):
    body = {"model": MODELS[upstream], "input": input, "stream": streamed}
    if tools:
        body["tools"] = tools
    status, answer = await post(proxy, body)
    assert status == 200, answer
    if streamed:
        conformance.responses_stream(answer)
        assert answer[0]["type"] == "response.created" and answer[-1]["type"] == "response.completed"
        final = answer[-1]["response"]
    else:
        conformance.response(answer)
        final = answer
    assert final["status"] == "completed" and final["output"], final
    assert final["completed_at"] is not None and final["completed_at"] >= final["created_at"]
    if tools:
        assert [item["type"] for item in final["output"]] == ["function_call"]
        assert final["tools"] == [{**WEATHER, "strict": None}]
    # What the upstream received is valid by its own protocol's published request types.
    for received in upstreams[upstream].received:
        conformance.upstream_request(upstream, received.body)
    assert upstreams[upstream].received


async def test_what_the_client_sent_is_echoed_and_the_spec_defaults_fill_the_rest(proxy, upstreams):
    body = {"model": MODELS["chat"], "input": "hi", "temperature": 0.2, "max_tool_calls": 3, "service_tier": "flex",
            "reasoning": {"effort": "low"}, "text": {"verbosity": "low"}}  # fmt: skip
    status, answer = await post(proxy, body)
    assert status == 200
    conformance.response(answer)
    assert (answer["temperature"], answer["top_p"], answer["presence_penalty"], answer["frequency_penalty"]) == (
        0.2,
        1.0,
        0.0,
        0.0,
    )
    assert (answer["max_tool_calls"], answer["service_tier"], answer["background"]) == (3, "flex", False)
    assert answer["reasoning"] == {"effort": "low", "summary": None}
    assert answer["text"] == {"verbosity": "low", "format": {"type": "text"}}


# --- the error paths ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("upstream", ["chat", "messages"])
@pytest.mark.parametrize("streamed", [False, True], ids=["body", "stream"])
async def test_a_refused_request_answers_with_the_specs_error_object(proxy, upstreams, upstream, streamed):
    status, answer = await post(proxy, {"model": MODELS[upstream], "input": 42, "stream": streamed})
    assert status == 400
    conformance.responses_error(answer)
    assert not upstreams[upstream].received


@pytest.mark.parametrize("upstream", ["chat", "messages"])
@pytest.mark.parametrize("streamed", [False, True], ids=["body", "stream"])
async def test_a_failed_upstream_answers_with_the_specs_error_object(proxy, upstreams, upstream, streamed):
    # What the proxy writes itself: a gateway's HTML page from the Chat upstream, Anthropic's error translated.
    fake = upstreams[upstream]
    if upstream == "chat":
        fake.reply_error(502, "<html><body>502 Bad Gateway</body></html>")
    else:
        fake.reply_error(400, {"type": "error", "error": {"type": "invalid_request_error", "message": "bad model"}})
    status, answer = await post(proxy, {"model": MODELS[upstream], "input": "hi", "stream": streamed})
    assert status == (502 if upstream == "chat" else 400), answer
    conformance.responses_error(answer)


@pytest.mark.parametrize("upstream", ["chat", "messages"])
async def test_a_broken_stream_ends_with_a_response_failed_valid_by_the_spec(proxy, upstreams, upstream):
    fake = upstreams[upstream]
    if upstream == "chat":
        fake.reply_cut(text_chunks("Hello", " there")[:3])
    else:
        fake.reply_cut(text_events("Hello", " there")[:4])
    status, events = await post(proxy, {"model": MODELS[upstream], "input": "hi", "stream": True})
    assert status == 200
    conformance.responses_stream(events)
    assert events[-1]["type"] == "response.failed"
    assert events[-1]["response"]["completed_at"] is None and events[-1]["response"]["error"]["code"]


def test_a_responses_upstream_cut_mid_stream_fails_with_its_own_response_valid_by_the_spec():
    # The identity path: the failure Switchyard adds is the upstream's last Response, failed.
    client = {"model": "gpt-5.5", "input": "hi", "stream": True}
    upstream = to_response(completion("Hello"), client, ids=lambda prefix: f"{prefix}_1", clock=lambda: 1700000000)
    started = {**upstream, "status": "in_progress", "completed_at": None, "output": [], "usage": None}
    stream = bridges.get("responses", "responses").stream(client)
    events = stream.feed({"type": "response.created", "sequence_number": 0, "response": started})
    events += stream.feed({"type": "response.in_progress", "sequence_number": 1, "response": started})
    events += stream.close()
    conformance.responses_stream(events)
    failed = events[-1]["response"]
    assert (events[-1]["type"], failed["id"], failed["status"]) == ("response.failed", "resp_1", "failed")


# --- the other directions: Messages clients in front of Chat, Chat clients in front of Anthropic -----------------

OTHER = {"messages": "chat", "chat": "messages"}  # client -> the upstream it is bridged to here


def other_body(client: str, streamed: bool, tools: bool) -> dict:
    body = {"model": MODELS[OTHER[client]], "stream": streamed, "messages": [{"role": "user", "content": "Weather?"}]}
    if client == "messages":
        body["max_tokens"] = 100
        if tools:
            body["tools"] = [{"name": "get_weather", "input_schema": WEATHER["parameters"]}]
    elif tools:
        body["tools"] = [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER["parameters"]}}]
    return body


@pytest.mark.parametrize("client", ["messages", "chat"])
@pytest.mark.parametrize("tools", [False, True], ids=["text", "tool_call"])
@pytest.mark.parametrize("streamed", [False, True], ids=["body", "stream"])
async def test_the_other_bridges_answer_with_objects_valid_by_their_sdks_types(
    proxy, upstreams, client, tools, streamed
):
    status, answer = await post(proxy, other_body(client, streamed, tools), client)
    assert status == 200, answer
    if streamed:
        conformance.client_stream(client, answer)
    else:
        conformance.client_body(client, answer)
    for received in upstreams[OTHER[client]].received:
        conformance.upstream_request(OTHER[client], received.body)
    assert upstreams[OTHER[client]].received


@pytest.mark.parametrize("client", ["messages", "chat"])
async def test_the_other_bridges_end_a_broken_stream_with_an_error_valid_by_their_sdks_types(proxy, upstreams, client):
    if client == "messages":
        upstreams["chat"].reply_cut(text_chunks("Hello", " there")[:3])
    else:
        upstreams["messages"].reply_cut(text_events("Hello", " there")[:4])
    status, events = await post(proxy, other_body(client, True, False), client)
    assert status == 200
    conformance.client_stream(client, events)
    assert "error" in events[-1]
