"""Responses events become Chat chunks a Chat client accepts (switchyard.bridges.chat_over_responses.stream).

Golden files, under `golden/bridge/chat_over_responses/`:

- `streams/<case>.in.jsonl`: the upstream's Responses events, one JSON per line, fed to `ChatStream`
  and followed by `close()` (the upstream's end of stream); `<case>.client.json` is the client's Chat
  body; `<case>.out.jsonl` the chunks the client must get, one per line.
- `completions/<case>.in.json`: a non-streaming Responses body; `<case>.out.json` its `chat.completion`.

Ids and timestamps are injected (`chatcmpl-golden`, 1760000000) so the files are stable. When a change
of output is intended, regenerate the expected files and review the diff before committing:

    UPDATE_GOLDEN=1 .venv/bin/pytest tests/bridges/chat_over_responses/test_stream.py
"""

from __future__ import annotations

import json

import golden_files
import httpx2 as httpx
import openai
import pytest
from fakes.responses_provider import function_call_item, message_item, reasoning_item, response_object, stream_events
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletionChunk

from switchyard.bridges.chat_over_responses.stream import ChatStream, to_completion
from switchyard.errors import UpstreamFailed
from switchyard.protocols.chat.aggregate import chat_completion

GOLDEN = golden_files.GOLDEN / "bridges" / "chat_over_responses"
STREAMS = sorted(path.name.removesuffix(".in.jsonl") for path in (GOLDEN / "streams").glob("*.in.jsonl"))
COMPLETIONS = sorted(path.name.removesuffix(".in.json") for path in (GOLDEN / "completions").glob("*.in.json"))
CLIENT = {"model": "gpt-5.4", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
USAGE_CLIENT = {**CLIENT, "stream_options": {"include_usage": True}}


def ids(prefix: str) -> str:
    return f"{prefix}_golden"


def clock() -> int:
    return 1760000000


def translate(events: list[dict], client_body: dict = CLIENT, *, close: bool = True) -> list[dict]:
    stream = ChatStream(client_body, ids=ids, clock=clock)
    chunks = [chunk for event in events for chunk in stream.feed(event)]
    return chunks + stream.close() if close else chunks


def deltas(chunks: list[dict]) -> list[dict]:
    return [chunk["choices"][0]["delta"] for chunk in chunks if chunk.get("choices")]


def finish(chunks: list[dict]) -> str | None:
    return [c["choices"][0]["finish_reason"] for c in chunks if c.get("choices")][-1]


@pytest.mark.parametrize("case", STREAMS)
def test_each_golden_stream_translates_to_its_expected_chunks(case):
    events = golden_files.read(GOLDEN / "streams" / f"{case}.in.jsonl")
    client_body = json.loads((GOLDEN / "streams" / f"{case}.client.json").read_text())
    golden_files.check(GOLDEN / "streams" / f"{case}.out.jsonl", translate(events, client_body))


@pytest.mark.parametrize("case", COMPLETIONS)
def test_each_golden_response_body_translates_to_its_expected_completion(case):
    body = json.loads((GOLDEN / "completions" / f"{case}.in.json").read_text())
    golden_files.check(GOLDEN / "completions" / f"{case}.out.json", to_completion(body, CLIENT, ids=ids, clock=clock))


# -- the bug other bridges shipped


def test_completed_with_an_empty_output_still_finishes_with_the_tool_calls_seen_before_it():
    events = stream_events([function_call_item("run_shell", '{"cmd":"ls"}')])
    events[-1]["response"]["output"] = []  # what the ChatGPT backend sends
    chunks = translate(events)
    assert finish(chunks) == "tool_calls"
    assert not any("error" in chunk for chunk in chunks)


def test_completed_with_an_empty_output_after_items_that_never_streamed_deltas_still_delivers_them():
    item = message_item("Only in done.")
    events = [e for e in stream_events([item]) if e["type"] != "response.output_text.delta"]
    events[-1]["response"]["output"] = []
    assert "".join(d.get("content", "") for d in deltas(translate(events))) == "Only in done."


# -- chunk shapes


def test_every_chunk_names_its_completion_object_time_and_model():
    for chunk in translate(stream_events([message_item("Hi there")]), USAGE_CLIENT):
        assert (chunk["id"], chunk["object"], chunk["created"], chunk["model"]) == (
            "chatcmpl-golden",
            "chat.completion.chunk",
            1760000000,
            "gpt-5.4",
        )


def test_the_first_chunk_announces_the_assistant_role():
    assert deltas(translate(stream_events([message_item("Hi")])))[0] == {"role": "assistant", "content": ""}


def test_tool_call_indexes_count_tool_calls_not_output_items():
    items = [
        reasoning_item("think"),
        message_item("Calling."),
        function_call_item("f", "{}"),
        function_call_item("g", "{}", call_id="c2", id="fc_2"),
    ]
    headers = [c for d in deltas(translate(stream_events(items))) for c in d.get("tool_calls", []) if "id" in c]
    assert [(h["index"], h["function"]["name"]) for h in headers] == [(0, "f"), (1, "g")]


def test_a_tool_calls_first_fragment_carries_id_type_and_name_before_any_arguments():
    calls = [
        c
        for d in deltas(translate(stream_events([function_call_item("f", '{"a": 1}')])))
        for c in d.get("tool_calls", [])
    ]
    assert calls[0] == {"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": ""}}
    assert "".join(c["function"]["arguments"] for c in calls[1:]) == '{"a": 1}'
    assert all(set(c) == {"index", "function"} for c in calls[1:])


def test_arguments_sent_only_in_output_item_done_reach_the_client_once():
    events = [e for e in stream_events([function_call_item("f", '{"a": 1}')]) if "arguments" not in e["type"]]
    calls = [c for d in deltas(translate(events)) for c in d.get("tool_calls", [])]
    assert "".join(c["function"].get("arguments", "") for c in calls) == '{"a": 1}'


def test_arguments_missing_from_the_deltas_are_completed_from_done_without_repeating_the_rest():
    events = stream_events([function_call_item("f", '{"a": 1, "b": 2}')])
    deltas_only = [e for e in events if e["type"] == "response.function_call_arguments.delta"]
    events = [e for e in events if e not in deltas_only[1:]]  # the upstream lost all but the first delta
    calls = [c for d in deltas(translate(events)) for c in d.get("tool_calls", [])]
    assert "".join(c["function"].get("arguments", "") for c in calls) == '{"a": 1, "b": 2}'


def test_arguments_already_in_output_item_added_are_not_sent_twice():
    events = stream_events([function_call_item("f", '{"a": 1}')])
    events[2]["item"]["arguments"] = '{"a": 1}'  # .added already complete; the deltas then repeat nothing new
    events = [e for e in events if e["type"] != "response.function_call_arguments.delta"]
    calls = [c for d in deltas(translate(events)) for c in d.get("tool_calls", [])]
    assert "".join(c["function"].get("arguments", "") for c in calls) == '{"a": 1}'


def test_reasoning_summary_deltas_become_reasoning_content():
    text = "".join(
        d.get("reasoning_content", "") for d in deltas(translate(stream_events([reasoning_item(["A.", "B."])])))
    )
    assert text == "A.\n\nB."


@pytest.mark.parametrize(
    ("reason", "expected"), [("max_output_tokens", "length"), ("content_filter", "content_filter")]
)
def test_an_incomplete_response_finishes_with_the_matching_reason(reason, expected):
    events = stream_events([message_item("cut")], status="incomplete", incomplete_reason=reason)
    assert finish(translate(events)) == expected


# -- usage


def test_the_usage_chunk_comes_last_and_only_when_the_client_asked_for_it():
    events = stream_events(
        [message_item("Hi")],
        usage={
            "input_tokens": 10,
            "input_tokens_details": {"cached_tokens": 4},
            "output_tokens": 3,
            "output_tokens_details": {"reasoning_tokens": 1},
            "total_tokens": 13,
        },
    )
    assert not any("usage" in chunk for chunk in translate(events))
    last = translate(events, USAGE_CLIENT)[-1]
    assert last["choices"] == []
    assert last["usage"] == {
        "prompt_tokens": 10,
        "completion_tokens": 3,
        "total_tokens": 13,
        "prompt_tokens_details": {"cached_tokens": 4},
        "completion_tokens_details": {"reasoning_tokens": 1},
    }


def test_a_client_that_did_not_ask_for_a_stream_gets_usage_in_the_body_folded_from_it():
    # force_stream: the upstream streams, the client asked for one `chat.completion`, which always has usage.
    events = stream_events([message_item("Hi there")])
    completion = chat_completion(translate(events, {**CLIENT, "stream": False}))
    assert completion["usage"] == {
        "prompt_tokens": 12,
        "completion_tokens": 2,
        "total_tokens": 14,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }
    assert completion["choices"][0]["message"]["content"] == "Hi there"


# -- failures


def test_response_failed_becomes_an_error_chunk_and_no_finish_reason():
    events = [
        *stream_events([message_item("Half")])[:4],
        {
            "type": "response.failed",
            "response": response_object(
                [], status="failed", error={"code": "rate_limit_exceeded", "message": "Slow down."}
            ),
        },
    ]
    chunks = translate(events)
    assert chunks[-1] == {
        "error": {"message": "Slow down.", "type": "server_error", "param": None, "code": "rate_limit_exceeded"}
    }
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks if c.get("choices"))


@pytest.mark.parametrize(
    "event",
    [
        {"type": "error", "code": "server_error", "message": "Boom.", "param": None, "sequence_number": 3},
        {"type": "error", "error": {"type": "server_error", "code": "server_error", "message": "Boom."}},
    ],
    ids=["spec-shape", "chatgpt-backend-shape"],
)
def test_an_error_event_of_either_shape_becomes_an_error_chunk(event):
    chunks = translate([*stream_events([message_item("Half")])[:4], event])
    assert chunks[-1]["error"]["message"] == "Boom."
    assert chunks[-1]["error"]["code"] == "server_error"


def test_close_before_a_terminal_event_is_an_error_not_a_short_answer():
    chunks = translate(stream_events([message_item("Never finished")])[:5])
    assert set(chunks[-1]) == {"error"}


def test_fail_mid_stream_reports_the_message_and_code():
    stream = ChatStream(CLIENT, ids=ids, clock=clock)
    stream.feed(stream_events([message_item("x")])[0])
    assert stream.fail("upstream reset", "upstream_disconnected") == [
        {"error": {"message": "upstream reset", "type": "server_error", "param": None, "code": "upstream_disconnected"}}
    ]


def test_nothing_is_sent_after_a_terminal_event():
    stream = ChatStream(CLIENT, ids=ids, clock=clock)
    for event in stream_events([message_item("Done")]):
        stream.feed(event)
    assert stream.feed({"type": "response.output_text.delta", "delta": "late"}) == []
    assert stream.close() == []
    assert stream.fail("late") == []


def test_a_failed_non_streaming_response_raises_with_the_upstream_error():
    body = response_object([], status="failed", error={"code": "server_error", "message": "It broke."})
    with pytest.raises(UpstreamFailed, match="It broke"):
        to_completion(body, CLIENT)


# -- the real openai SDK accepts the chunks


def test_the_openai_sdk_stream_accumulator_builds_the_final_completion():
    items = [
        reasoning_item("Plan."),
        message_item("Checking the weather."),
        function_call_item("get_weather", '{"city": "Paris"}', call_id="call_w"),
    ]
    state = ChatCompletionStreamState()
    for chunk in translate(stream_events(items), USAGE_CLIENT):
        state.handle_chunk(ChatCompletionChunk.model_validate(chunk))
    completion = state.get_final_completion()
    message = completion.choices[0].message
    assert message.content == "Checking the weather."
    assert [(c.id, c.function.name, c.function.arguments) for c in message.tool_calls] == [
        ("call_w", "get_weather", '{"city": "Paris"}')
    ]
    assert completion.choices[0].finish_reason == "tool_calls"
    assert completion.usage.total_tokens > 0


def sse_client(chunks: list[dict]) -> openai.OpenAI:
    """An openai client whose HTTP transport answers with `chunks` as a Chat SSE stream, then `[DONE]`."""
    body = "".join(f"data: {json.dumps(chunk)}\n\n" for chunk in chunks) + "data: [DONE]\n\n"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body.encode())

    return openai.OpenAI(
        api_key="k", base_url="http://proxy/v1", http_client=httpx.Client(transport=httpx.MockTransport(handler))
    )


def test_the_openai_sdk_streams_a_translated_answer_end_to_end():
    client = sse_client(translate(stream_events([message_item("Hello from upstream")])))
    with client.chat.completions.stream(model="gpt-5.4", messages=[{"role": "user", "content": "hi"}]) as stream:
        completion = stream.get_final_completion()
    assert completion.choices[0].message.content == "Hello from upstream"


def test_the_openai_sdk_raises_on_the_error_chunk_of_a_cut_stream():
    client = sse_client(translate(stream_events([message_item("Never finished")])[:5]))
    with pytest.raises(openai.APIError, match="ended before the response completed"):
        for _ in client.chat.completions.create(
            model="gpt-5.4", messages=[{"role": "user", "content": "hi"}], stream=True
        ):
            pass
