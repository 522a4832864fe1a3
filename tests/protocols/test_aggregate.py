"""Whole streams become single bodies, and failed streams never do (`aggregate` of each protocol).

Golden files, under `golden/bridge/chat_over_responses/aggregate/`:

- `chunks_<case>.in.jsonl`: Chat chunks (as `ChatStream` produced them) -> `chunks_<case>.out.json`, the
  `chat.completion` of `chat_completion(chunks)`;
- `events_<case>.in.jsonl`: Responses events -> `events_<case>.out.json`, the body of `final_response(events)`.

A case whose stream failed expects `{"raises": "UpstreamFailed", "status": ..., "body": {...}}`: the
exception's HTTP status and OpenAI error body. When a change of output is intended, regenerate the
expected files and review the diff before committing:

    UPDATE_GOLDEN=1 .venv/bin/pytest tests/protocols/test_aggregate.py
"""

from __future__ import annotations

import golden_files
import pytest
from fakes.responses_provider import function_call_item, message_item, reasoning_item, response_object, stream_events

from switchyard.bridges.chat_over_responses.stream import ChatStream, to_completion
from switchyard.bridges.responses_over_chat.stream import ResponsesStream, to_response
from switchyard.errors import UpstreamFailed
from switchyard.protocols.chat.aggregate import chat_completion
from switchyard.protocols.openai import render_error, upstream_error
from switchyard.protocols.responses.aggregate import ResponseAccumulator, final_response

FOLDER = golden_files.GOLDEN / "bridges" / "chat_over_responses" / "aggregate"
CASES = sorted(path.name.removesuffix(".in.jsonl") for path in FOLDER.glob("*.in.jsonl"))
CLIENT = {
    "model": "gpt-5.4",
    "stream_options": {"include_usage": True},
    "messages": [{"role": "user", "content": "hi"}],
}


def outcome(function, argument) -> dict:
    try:
        return function(argument)
    except UpstreamFailed as exc:
        return {"raises": "UpstreamFailed", "status": exc.status, "body": render_error(exc)}


@pytest.mark.parametrize("case", CASES)
def test_each_golden_stream_aggregates_to_its_expected_body(case):
    function = chat_completion if case.startswith("chunks_") else final_response
    golden_files.check(FOLDER / f"{case}.out.json", outcome(function, golden_files.read(FOLDER / f"{case}.in.jsonl")))


# -- final_response


def test_completed_with_an_empty_output_is_rebuilt_from_output_item_done_in_output_order():
    items = [reasoning_item("Plan."), message_item("Looking."), function_call_item("f", "{}")]
    events = stream_events(items)
    events[-1]["response"]["output"] = []
    done = [e for e in events if e["type"] == "response.output_item.done"]
    others = [e for e in events if e["type"] != "response.output_item.done"]
    # Item events arriving out of order must still rebuild in output_index order.
    shuffled = [*others[:-1], done[2], done[0], done[1], others[-1]]
    assert final_response(shuffled)["output"] == items


def test_a_non_empty_output_is_kept_as_the_upstream_sent_it():
    events = stream_events([message_item("Final.")])
    events[-1]["response"]["output"] = [message_item("Authoritative.")]
    assert final_response(events)["output"] == [message_item("Authoritative.")]


def test_the_terminal_event_is_not_modified_by_the_rebuild():
    events = stream_events([message_item("x")])
    events[-1]["response"]["output"] = []
    final_response(events)
    assert events[-1]["response"]["output"] == []


def test_an_incomplete_response_is_a_result_not_a_failure():
    events = stream_events([message_item("Once")], status="incomplete", incomplete_reason="max_output_tokens")
    assert final_response(events)["incomplete_details"] == {"reason": "max_output_tokens"}


def test_a_failed_stream_raises_with_the_upstreams_message_code_and_a_retryable_status():
    failed = response_object([], status="failed", error={"code": "rate_limit_exceeded", "message": "Try again in 2s."})
    with pytest.raises(UpstreamFailed) as raised:
        final_response([*stream_events([message_item("x")])[:3], {"type": "response.failed", "response": failed}])
    assert (raised.value.message, raised.value.code, raised.value.status) == (
        "Try again in 2s.",
        "rate_limit_exceeded",
        429,
    )


def test_an_error_event_raises_in_either_shape():
    for event in (
        {"type": "error", "code": "server_error", "message": "Spec shape.", "param": None},
        {"type": "error", "error": {"type": "server_error", "code": "server_error", "message": "Backend shape."}},
    ):
        with pytest.raises(UpstreamFailed, match="shape"):
            final_response([event])


def test_a_stream_without_a_terminal_event_raises_a_gateway_error():
    with pytest.raises(UpstreamFailed) as raised:
        final_response(stream_events([message_item("Cut")])[:-1])
    assert raised.value.status == 502
    assert render_error(raised.value)["error"]["message"] == "The upstream stream ended before the response completed."


def test_the_accumulator_ignores_events_after_the_terminal_one():
    accumulator = ResponseAccumulator()
    for event in [*stream_events([message_item("Done")]), {"type": "error", "message": "late"}]:
        accumulator.feed(event)
    assert accumulator.result()["status"] == "completed"


# -- chat_completion


def test_tool_call_arguments_are_concatenated_by_index():
    chunks = [
        {
            "id": "c",
            "created": 1,
            "model": "m",
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}],
        },
        {
            "id": "c",
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "tool_calls": [
                            {"index": 0, "id": "a", "type": "function", "function": {"name": "f", "arguments": ""}}
                        ]
                    },
                }
            ],
        },
        {
            "id": "c",
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "tool_calls": [
                            {"index": 1, "id": "b", "type": "function", "function": {"name": "g", "arguments": "{"}}
                        ]
                    },
                }
            ],
        },
        {
            "id": "c",
            "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": '{"x":'}}]}}],
        },
        {
            "id": "c",
            "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}}],
        },
        {"id": "c", "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 1, "function": {"arguments": "}"}}]}}]},
        {"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
    ]
    message = chat_completion(chunks)["choices"][0]["message"]
    assert message["content"] is None
    assert message["tool_calls"] == [
        {"id": "a", "type": "function", "function": {"name": "f", "arguments": '{"x":1}'}},
        {"id": "b", "type": "function", "function": {"name": "g", "arguments": "{}"}},
    ]


def test_an_error_chunk_raises_instead_of_returning_half_an_answer():
    chunks = [
        {"id": "c", "choices": [{"index": 0, "delta": {"content": "Half"}}]},
        {"error": {"message": "Boom.", "code": "server_error"}},
    ]
    with pytest.raises(UpstreamFailed, match="Boom"):
        chat_completion(chunks)


def test_chunks_without_a_finish_reason_raise():
    with pytest.raises(UpstreamFailed):
        chat_completion([{"id": "c", "choices": [{"index": 0, "delta": {"content": "Half"}}]}])


@pytest.mark.parametrize(
    "items",
    [
        [message_item("Plain text.")],
        [reasoning_item(["One.", "Two."]), message_item("Answer.")],
        [
            message_item("Calling."),
            function_call_item("f", '{"a": [1, 2]}'),
            function_call_item("g", "{}", call_id="c2", id="fc_2"),
        ],
    ],
    ids=["text", "reasoning", "tool-calls"],
)
def test_aggregating_the_bridged_stream_equals_translating_the_non_streaming_body(items):
    events = stream_events(items)
    stream = ChatStream(CLIENT, ids=lambda p: f"{p}_x", clock=lambda: 1)
    chunks = [chunk for event in events for chunk in stream.feed(event)] + stream.close()
    expected = to_completion(final_response(events), CLIENT, ids=lambda p: f"{p}_x", clock=lambda: 1)
    assert chat_completion(chunks) == expected


# -- upstream_error: the one parser of upstream failures, and the one table that classifies them

CHAT_ERRORS = [
    {"error": "Service busy, try later"},
    {"error": {"message": "Rate limit reached, try again in 2s", "type": "requests", "code": 429}},
    {"error": {"message": "This model's maximum context length is 8192 tokens", "type": "invalid_request_error"}},
]


@pytest.mark.parametrize("chunk", CHAT_ERRORS, ids=["string", "numeric_code", "typed"])
def test_a_chat_error_is_read_the_same_by_the_aggregator_the_non_streaming_bridge_and_the_stream_bridge(chunk):
    parsed = upstream_error(chunk)
    with pytest.raises(UpstreamFailed) as folded:
        chat_completion([chunk])
    with pytest.raises(UpstreamFailed) as translated:
        to_response(chunk, {"model": "m"})
    streamed = ResponsesStream({"model": "m"}).feed(chunk)[-1]["response"]["error"]
    assert render_error(folded.value) == render_error(translated.value) == render_error(parsed)
    assert folded.value.status == translated.value.status == parsed.status
    assert streamed == {"code": parsed.responses_code, "message": parsed.message}


def test_a_string_error_keeps_its_words():
    failed = upstream_error({"error": "Service busy, try later"})
    assert (failed.message, failed.code, failed.status) == ("Service busy, try later", "server_error", 502)


@pytest.mark.parametrize(
    ("error", "status", "responses_code"),
    [
        ({"code": "rate_limit_exceeded", "message": "x"}, 429, "rate_limit_exceeded"),
        ({"code": 429, "message": "Rate limit reached"}, 429, "rate_limit_exceeded"),
        ({"code": "insufficient_quota", "message": "x"}, 429, "insufficient_quota"),
        ({"code": "context_length_exceeded", "message": "x"}, 400, "context_length_exceeded"),
        (
            {"code": "invalid_request_error", "message": "maximum context length is 8192"},
            400,
            "context_length_exceeded",
        ),
        ({"code": "invalid_request_error", "message": "bad field"}, 400, "server_error"),
        ({"code": "server_is_overloaded", "message": "x"}, 503, "server_is_overloaded"),
        ({"code": "slow_down", "message": "x"}, 503, "slow_down"),
        ({"code": "server_error", "message": "Too many requests"}, 429, "rate_limit_exceeded"),
        ({"code": "server_error", "message": "boom"}, 502, "server_error"),
        ({"message": "boom"}, 502, "server_error"),
    ],
)
def test_one_table_gives_both_the_http_status_and_the_code_codex_acts_on(error, status, responses_code):
    failed = upstream_error({"error": error})
    assert (failed.status, failed.responses_code) == (status, responses_code)
    # A request the upstream refused is the client's error; anything else is the server's.
    assert failed.type == ("invalid_request_error" if status == 400 else "server_error")
