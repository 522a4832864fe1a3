"""Chat Completions clients in front of Responses-only models, end to end, with the shipped packs.

The client is the real `openai` SDK (`AsyncOpenAI`: the sync client would block the event loop the fakes
run in); the proxy is a real `switchyard serve` process running copies of `rules/openai.yaml` and
`rules/chatgpt.yaml`, unchanged but for their `${OPENAI_BASE_URL}` / `${CHATGPT_BASE_URL}`, which point at
two strict fake upstreams: an OpenAI-like one and a ChatGPT-backend-like one that refuses non-streaming
requests and closes every stream with an EMPTY `output`. So these tests prove the packs as shipped.

Each conversation shape runs against both upstreams and in the three ways a Chat client reads an answer:
the SDK's stream helper (`chat.completions.stream(...)` and its `get_final_completion()`), a raw
`create(stream=True)`, and a plain `create()` (for the ChatGPT backend the proxy streams upstream and
aggregates, `force_stream`). Then one test per bug the bridges in the wild have shipped (issue 5).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass

import openai
import pytest
from fakes.responses_provider import (
    FakeResponsesProvider,
    cut_reply,
    function_call_item,
    json_reply,
    message_item,
    response_object,
    stream_events,
    stream_reply,
)
from openai import omit
from openai.lib.streaming.chat import ChatCompletionStreamState
from proxy_process import ROOT, ProxyProcess

CLIENT_KEY = "sk-client-own-key"
CHATGPT_TOKEN = "chatgpt-access-token"
MODES = ("stream_helper", "create_stream", "create")

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
CITY_FORMAT = {
    "type": "json_schema",
    "json_schema": {
        "name": "city",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "country": {"type": "string"}},
            "required": ["name", "country"],
            "additionalProperties": False,
        },
    },
}
TOOL_TURN = [
    {"role": "user", "content": "What is the weather in Paris?"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "call_7", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}
        ],
    },
    {"role": "tool", "tool_call_id": "call_7", "content": "18C and sunny"},
]


@dataclass
class Upstream:
    """One fake upstream behind the proxy and what the client calls its model."""

    name: str
    fake: FakeResponsesProvider
    model: str  # as the client names it
    upstream_model: str  # as the upstream must receive it

    @property
    def chatgpt(self) -> bool:
        return self.fake.chatgpt_backend

    def streams_upstream(self, mode: str) -> bool:
        return mode != "create" or self.chatgpt

    def answer(self, items: list[dict], mode: str, **fields) -> None:
        """Script the upstream's next answer in the form the proxy will ask for (a stream or one body)."""
        if self.streams_upstream(mode):
            self.fake.enqueue(stream_reply(stream_events(items, model=self.upstream_model, **fields)))
        else:
            self.fake.enqueue(json_reply(response_object(items, model=self.upstream_model, **fields)))

    @property
    def received(self) -> dict:
        """The last request the upstream received: path, headers, body."""
        assert self.fake.requests, "the upstream received no request"
        return self.fake.requests[-1]


@dataclass
class Rig:
    client: openai.AsyncOpenAI
    proxy: ProxyProcess
    upstreams: dict[str, Upstream]


@pytest.fixture
async def rig(aiohttp_server, start_proxy, tmp_path):
    """Both fake upstreams, a proxy running the shipped packs pointed at them, and an SDK client."""
    openai_fake = FakeResponsesProvider()
    chatgpt_fake = FakeResponsesProvider(chatgpt_backend=True)
    openai_server = await aiohttp_server(openai_fake.app)
    chatgpt_server = await aiohttp_server(chatgpt_fake.app)
    rules = tmp_path / "rules"
    rules.mkdir()
    for pack in ("openai.yaml", "chatgpt.yaml"):
        shutil.copy(ROOT / "rules" / pack, rules / pack)
    env = {
        "OPENAI_BASE_URL": str(openai_server.make_url("/v1")),
        "OPENAI_API_KEY": "",  # empty: the client's own Authorization goes on
        "CHATGPT_BASE_URL": str(chatgpt_server.make_url("/backend-api/codex")),
        "CHATGPT_API_KEY": CHATGPT_TOKEN,
    }
    proxy = start_proxy(rules, env=env)
    client = openai.AsyncOpenAI(base_url=proxy.base_url, api_key=CLIENT_KEY, max_retries=0, timeout=20)
    upstreams = {
        "openai": Upstream("openai", openai_fake, "gpt-5.4", "gpt-5.4"),
        "chatgpt": Upstream("chatgpt", chatgpt_fake, "chatgpt/gpt-5.5", "gpt-5.5"),
    }
    yield Rig(client, proxy, upstreams)
    await client.close()


async def ask(client: openai.AsyncOpenAI, mode: str, **kwargs):
    """The completion the client ends up with, and the chunks it saw on the way (none for `create`)."""
    if mode == "create":
        return await client.chat.completions.create(**kwargs), []
    if mode == "stream_helper":
        async with client.chat.completions.stream(**kwargs) as stream:
            chunks = [event.chunk async for event in stream if event.type == "chunk"]
            return await stream.get_final_completion(), chunks
    stream = await client.chat.completions.create(stream=True, **kwargs)
    state = ChatCompletionStreamState(
        input_tools=kwargs.get("tools", omit), response_format=kwargs.get("response_format", omit)
    )
    chunks = []
    async for chunk in stream:
        chunks.append(chunk)
        state.handle_chunk(chunk)
    return state.get_final_completion(), chunks


def both_upstreams_and_modes():
    return pytest.mark.parametrize(
        "upstream_name, mode", [(u, m) for u in ("openai", "chatgpt") for m in MODES], ids=lambda v: v
    )


# -- conversations, on both upstreams, read the three ways


@both_upstreams_and_modes()
async def test_a_plain_chat_gets_the_upstream_answer(rig, upstream_name, mode):
    upstream = rig.upstreams[upstream_name]
    completion, _ = await ask(rig.client, mode, model=upstream.model, messages=[{"role": "user", "content": "hi"}])

    choice = completion.choices[0]
    assert (choice.message.role, choice.message.content, choice.finish_reason) == ("assistant", "You said: hi", "stop")
    assert completion.object == "chat.completion"
    if mode == "create":  # one body always carries usage; a stream only when asked (see include_usage below)
        assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (12, 3)
    else:
        assert completion.usage is None
    body = upstream.received["body"]
    assert body["model"] == upstream.upstream_model
    assert body["store"] is False
    assert body["input"] == [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}]
    assert body.get("stream", False) is upstream.streams_upstream(mode)


@both_upstreams_and_modes()
async def test_a_named_tool_choice_gets_the_forced_tool_call(rig, upstream_name, mode):
    upstream = rig.upstreams[upstream_name]
    upstream.answer([function_call_item("get_weather", '{"city": "Paris"}', call_id="call_42")], mode)
    completion, chunks = await ask(
        rig.client,
        mode,
        model=upstream.model,
        messages=[{"role": "user", "content": "What is the weather in Paris?"}],
        tools=[WEATHER_TOOL],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )

    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    [call] = choice.message.tool_calls
    assert (call.id, call.type, call.function.name) == ("call_42", "function", "get_weather")
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    if chunks:  # the first fragment of a call names it; the rest only add arguments
        fragments = [tc for c in chunks for ch in c.choices for tc in ch.delta.tool_calls or []]
        assert (fragments[0].index, fragments[0].id, fragments[0].function.name) == (0, "call_42", "get_weather")
        assert all(f.index == 0 and f.id is None for f in fragments[1:])
    body = upstream.received["body"]
    assert body["tool_choice"] == {"type": "function", "name": "get_weather"}
    assert body["tools"] == [
        {
            "type": "function",
            "name": "get_weather",
            "description": "The weather in a city.",
            "parameters": WEATHER_TOOL["function"]["parameters"],
            "strict": False,
        }
    ]


@both_upstreams_and_modes()
async def test_a_conversation_continues_after_an_assistant_reply(rig, upstream_name, mode):
    upstream = rig.upstreams[upstream_name]
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "Hello! How can I help?"},
        {"role": "user", "content": "tell me a joke"},
    ]
    completion, _ = await ask(rig.client, mode, model=upstream.model, messages=messages)

    assert completion.choices[0].message.content == "You said: tell me a joke"
    body = upstream.received["body"]
    assert body["instructions"] == "You are terse."
    assert [(item["role"], item["content"][0]["type"]) for item in body["input"]] == [
        ("user", "input_text"),
        ("assistant", "output_text"),
        ("user", "input_text"),
    ]


@both_upstreams_and_modes()
async def test_a_tool_result_turn_gets_the_answer_that_uses_it(rig, upstream_name, mode):
    upstream = rig.upstreams[upstream_name]
    upstream.answer([message_item("It is 18C and sunny in Paris.")], mode)
    completion, _ = await ask(rig.client, mode, model=upstream.model, messages=TOOL_TURN, tools=[WEATHER_TOOL])

    choice = completion.choices[0]
    assert (choice.message.content, choice.finish_reason) == ("It is 18C and sunny in Paris.", "stop")
    assert not choice.message.tool_calls
    items = upstream.received["body"]["input"]
    assert items[1:] == [
        {"type": "function_call", "call_id": "call_7", "name": "get_weather", "arguments": '{"city":"Paris"}'},
        {"type": "function_call_output", "call_id": "call_7", "output": "18C and sunny"},
    ]


@both_upstreams_and_modes()
async def test_a_json_schema_response_format_gets_json_that_fits_it(rig, upstream_name, mode):
    upstream = rig.upstreams[upstream_name]
    upstream.answer([message_item('{"name": "Paris", "country": "France"}')], mode)
    completion, _ = await ask(
        rig.client,
        mode,
        model=upstream.model,
        messages=[{"role": "user", "content": "The capital of France, as JSON."}],
        response_format=CITY_FORMAT,
    )

    assert json.loads(completion.choices[0].message.content) == {"name": "Paris", "country": "France"}
    assert upstream.received["body"]["text"] == {"format": {"type": "json_schema", **CITY_FORMAT["json_schema"]}}


# -- what each upstream receives


async def test_the_chatgpt_backend_gets_the_bare_model_store_false_a_stream_and_the_packs_token(rig):
    upstream = rig.upstreams["chatgpt"]
    await rig.client.chat.completions.create(
        model="chatgpt/gpt-5.5", messages=[{"role": "user", "content": "hi"}], max_tokens=200, temperature=0.3
    )

    received = upstream.received
    assert received["path"] == "/backend-api/codex/responses"
    assert received["headers"]["Authorization"] == f"Bearer {CHATGPT_TOKEN}"
    body = received["body"]
    assert (body["model"], body["store"], body["stream"], body["instructions"]) == ("gpt-5.5", False, True, "")
    assert "max_output_tokens" not in body and "temperature" not in body


async def test_openai_gets_the_clients_own_authorization_when_the_pack_has_no_key(rig):
    await rig.client.chat.completions.create(model="gpt-5.4", messages=[{"role": "user", "content": "hi"}])

    received = rig.upstreams["openai"].received
    assert received["path"] == "/v1/responses"
    assert received["headers"]["Authorization"] == f"Bearer {CLIENT_KEY}"


async def test_a_reasoning_model_loses_the_temperature_it_would_reject(rig):
    await rig.client.chat.completions.create(
        model="gpt-5.5", messages=[{"role": "user", "content": "hi"}], temperature=0.2, top_p=0.5
    )

    body = rig.upstreams["openai"].received["body"]
    assert body["model"] == "gpt-5.5"
    assert "temperature" not in body and "top_p" not in body


async def test_models_lists_what_both_packs_serve(rig):
    models = {m.id: m.owned_by async for m in rig.client.models.list()}

    assert models["gpt-5.5-pro"] == "openai" and models["codex-mini-latest"] == "openai"
    assert models["chatgpt/gpt-5.5"] == "chatgpt"


# -- the seed bugs of issue 5, each failing on the wrong behaviour


async def test_assistant_content_reaches_the_upstream_as_output_text_not_input_text(rig):
    # The OpenAI-like fake answers input_text in an assistant turn the way OpenAI does: "Invalid value:
    # 'input_text'. Supported values are: 'output_text' and 'refusal'." So the call itself would fail.
    messages = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [{"type": "text", "text": "Hello!"}]},
        {"role": "user", "content": "again"},
    ]
    completion = await rig.client.chat.completions.create(model="gpt-5.4", messages=messages)

    assert completion.choices[0].message.content == "You said: again"
    assistant = rig.upstreams["openai"].received["body"]["input"][1]
    assert assistant == {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Hello!"}]}


async def test_a_named_tool_choice_is_sent_flat_never_nested(rig):
    # Nested, the upstream answers "Unknown parameter: 'tool_choice.function'."
    upstream = rig.upstreams["openai"]
    upstream.answer([function_call_item("get_weather", '{"city":"Oslo"}')], "create")
    completion = await rig.client.chat.completions.create(
        model="gpt-5.4",
        messages=[{"role": "user", "content": "Oslo?"}],
        tools=[WEATHER_TOOL],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )

    assert completion.choices[0].message.tool_calls[0].function.name == "get_weather"
    assert upstream.received["body"]["tool_choice"] == {"type": "function", "name": "get_weather"}


async def test_the_proxy_adds_no_metadata_of_its_own(rig):
    # Sixteen keys is OpenAI's limit: one key added by the proxy gets "Invalid 'metadata': too many properties".
    metadata = {f"key{i}": f"value{i}" for i in range(16)}
    completion = await rig.client.chat.completions.create(
        model="gpt-5.4",
        messages=[{"role": "user", "content": "hi"}],
        metadata=metadata,
        extra_headers={"X-Request-Id": "req-from-client"},
    )
    await rig.client.chat.completions.create(model="gpt-5.4", messages=[{"role": "user", "content": "bye"}])

    assert completion.choices[0].message.content == "You said: hi"
    first, second = (r["body"] for r in rig.upstreams["openai"].fake.requests)
    assert first["metadata"] == metadata
    assert "metadata" not in second


@pytest.mark.parametrize("mode", MODES)
async def test_an_empty_output_in_response_completed_is_rebuilt_from_the_items_streamed_before_it(rig, mode):
    # The ChatGPT-like fake empties `output` in every response.completed, as the real backend does.
    upstream = rig.upstreams["chatgpt"]
    items = [message_item("Let me check.", id="msg_1"), function_call_item("get_weather", '{"city":"Rome"}', id="fc_2")]
    upstream.answer(items, mode)
    completion, _ = await ask(
        rig.client, mode, model="chatgpt/gpt-5.5", messages=[{"role": "user", "content": "Rome?"}], tools=[WEATHER_TOOL]
    )

    choice = completion.choices[0]
    assert choice.message.content == "Let me check."
    assert [(c.id, c.function.name, c.function.arguments) for c in choice.message.tool_calls] == [
        ("call_1", "get_weather", '{"city":"Rome"}')
    ]
    assert choice.finish_reason == "tool_calls"


@pytest.mark.parametrize("mode", MODES)
async def test_items_sent_only_as_output_item_done_before_an_empty_completed_still_reach_the_client(rig, mode):
    upstream = rig.upstreams["chatgpt"]
    item = message_item("Only in the done event.")
    done_only = [
        {"type": "response.created", "sequence_number": 0, "response": response_object([], status="completed")},
        {"type": "response.output_item.done", "sequence_number": 1, "output_index": 0, "item": item},
        {"type": "response.completed", "sequence_number": 2, "response": response_object([item])},
    ]
    upstream.fake.enqueue(stream_reply(done_only))
    completion, _ = await ask(rig.client, mode, model="chatgpt/gpt-5.5", messages=[{"role": "user", "content": "x"}])

    assert completion.choices[0].message.content == "Only in the done event."
    assert completion.choices[0].finish_reason == "stop"


async def test_a_responses_client_without_a_stream_gets_the_output_the_chatgpt_backend_left_empty(rig):
    # Same protocol, no bridge: the pack makes the string input a list and forces the stream; the proxy
    # folds the stream into one body, whose `output` must be rebuilt from the `output_item.done` events.
    response = await rig.client.responses.create(model="chatgpt/gpt-5.4-mini", input="hello there")

    assert response.output_text == "You said: hello there"
    assert response.status == "completed"
    body = rig.upstreams["chatgpt"].received["body"]
    assert body["input"] == [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello there"}]}
    ]
    assert (body["model"], body["store"], body["stream"], body["instructions"]) == ("gpt-5.4-mini", False, True, "")


@pytest.mark.parametrize("upstream_name", ["openai", "chatgpt"])
async def test_include_usage_gives_the_usage_chunk_before_done(rig, upstream_name):
    upstream = rig.upstreams[upstream_name]
    upstream.answer([message_item("four words right here")], "create_stream", usage=None)
    stream = await rig.client.chat.completions.create(
        model=upstream.model,
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]

    *body, last = chunks
    assert last.choices == []
    assert last.usage.model_dump(exclude_none=True) == {
        "prompt_tokens": 12,
        "completion_tokens": 4,
        "total_tokens": 16,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }
    assert all(chunk.usage is None for chunk in body)
    assert body[-1].choices[0].finish_reason == "stop"
    assert "stream_options" not in upstream.received["body"]  # Responses would reject include_usage


async def test_no_usage_chunk_comes_when_the_client_did_not_ask_for_one(rig):
    stream = await rig.client.chat.completions.create(
        model="gpt-5.4", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    chunks = [chunk async for chunk in stream]

    assert all(chunk.choices for chunk in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


RATE_LIMITED = {"code": "rate_limit_exceeded", "message": "Rate limit reached. Please try again in 11.054s."}


def _failed_events(upstream_model: str) -> list[dict]:
    events = stream_events([message_item("partial answer")], model=upstream_model)
    failed = response_object([], status="failed", error=RATE_LIMITED, model=upstream_model)
    return [*events[:5], {"type": "response.failed", "sequence_number": 5, "response": failed}]


def _error_event(upstream_model: str) -> list[dict]:
    # The ChatGPT backend's own shape of the `error` event (protocols.md A.4.4).
    events = stream_events([message_item("partial answer")], model=upstream_model)
    error = {"type": "server_error", "code": "server_error", "message": "The backend had an error."}
    return [*events[:5], {"type": "error", "sequence_number": 5, "error": error}]


@pytest.mark.parametrize("upstream_name", ["openai", "chatgpt"])
@pytest.mark.parametrize("mode", ["stream_helper", "create_stream"])
@pytest.mark.parametrize(
    "script, message",
    [(_failed_events, RATE_LIMITED["message"]), (_error_event, "The backend had an error.")],
    ids=["response.failed", "error event"],
)
async def test_a_failed_stream_raises_in_the_sdk_instead_of_ending_as_a_short_answer(
    rig, upstream_name, mode, script, message
):
    upstream = rig.upstreams[upstream_name]
    upstream.fake.enqueue(stream_reply(script(upstream.upstream_model)))

    with pytest.raises(openai.APIError) as raised:
        await ask(rig.client, mode, model=upstream.model, messages=[{"role": "user", "content": "hi"}])
    assert raised.value.message == message


@pytest.mark.parametrize("upstream_name", ["openai", "chatgpt"])
async def test_a_failed_response_is_a_429_for_a_client_that_did_not_stream(rig, upstream_name):
    upstream = rig.upstreams[upstream_name]
    if upstream.chatgpt:
        upstream.fake.enqueue(stream_reply(_failed_events(upstream.upstream_model)))
    else:
        upstream.fake.enqueue(json_reply(response_object([], status="failed", error=RATE_LIMITED)))

    with pytest.raises(openai.RateLimitError) as raised:
        await rig.client.chat.completions.create(model=upstream.model, messages=[{"role": "user", "content": "hi"}])
    assert raised.value.body["code"] == "rate_limit_exceeded"
    assert "Rate limit reached" in raised.value.body["message"]


@pytest.mark.parametrize("upstream_name", ["openai", "chatgpt"])
@pytest.mark.parametrize("mode", ["stream_helper", "create_stream"])
async def test_a_stream_cut_mid_answer_raises_in_the_sdk(rig, upstream_name, mode):
    upstream = rig.upstreams[upstream_name]
    events = stream_events([message_item("a long answer that never gets to its end")], model=upstream.upstream_model)
    upstream.fake.enqueue(cut_reply(events[:6]))

    with pytest.raises(openai.APIError, match="upstream stream broke"):
        await ask(rig.client, mode, model=upstream.model, messages=[{"role": "user", "content": "hi"}])


async def test_a_stream_cut_mid_answer_is_an_error_for_a_client_that_did_not_stream(rig):
    upstream = rig.upstreams["chatgpt"]
    events = stream_events([message_item("a long answer that never gets to its end")], model="gpt-5.5")
    upstream.fake.enqueue(cut_reply(events[:6]))

    with pytest.raises(openai.APIStatusError) as raised:
        await rig.client.chat.completions.create(model="chatgpt/gpt-5.5", messages=[{"role": "user", "content": "hi"}])
    assert raised.value.status_code == 502


@pytest.mark.parametrize("upstream_name", ["openai", "chatgpt"])
@pytest.mark.parametrize("stream", [False, True])
async def test_n_above_one_is_a_400_in_the_chat_error_shape_and_nothing_is_sent(rig, upstream_name, stream):
    upstream = rig.upstreams[upstream_name]

    with pytest.raises(openai.BadRequestError) as raised:
        await rig.client.chat.completions.create(
            model=upstream.model, messages=[{"role": "user", "content": "hi"}], n=2, stream=stream
        )
    assert raised.value.status_code == 400
    assert raised.value.body == {
        "message": "This model's upstream produces one choice per request; 'n' must be 1, got 2.",
        "type": "invalid_request_error",
        "param": "n",
        "code": None,
    }
    assert upstream.fake.requests == []
