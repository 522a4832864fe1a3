"""Each protocol's usage reader: whole bodies and streams, with the details every provider sends."""

from __future__ import annotations

import pytest

from switchyard import protocols
from switchyard.protocols.usage import Usage


def usage_of(protocol: str, body) -> Usage | None:
    return protocols.get(protocol).usage(body)


def metered(protocol: str, *reads: list):
    meter = protocols.get(protocol).meter()
    firsts = [meter.see(list(events)) for events in reads]
    return meter, firsts


def test_a_chat_completion_gives_its_cached_and_reasoning_tokens():
    body = {
        "object": "chat.completion",
        "usage": {
            "prompt_tokens": 120,
            "completion_tokens": 45,
            "total_tokens": 165,
            "prompt_tokens_details": {"cached_tokens": 100},
            "completion_tokens_details": {"reasoning_tokens": 30},
        },
    }
    assert usage_of("chat", body) == Usage(input=120, output=45, cached=100, reasoning=30)


def test_a_responses_body_gives_its_details():
    body = {
        "object": "response",
        "usage": {
            "input_tokens": 50,
            "input_tokens_details": {"cached_tokens": 40},
            "output_tokens": 9,
            "output_tokens_details": {"reasoning_tokens": 4},
            "total_tokens": 59,
        },
    }
    assert usage_of("responses", body) == Usage(input=50, output=9, cached=40, reasoning=4)


def test_a_messages_body_sums_anthropics_disjoint_input_buckets():
    body = {
        "type": "message",
        "usage": {
            "input_tokens": 3,
            "cache_read_input_tokens": 2000,
            "cache_creation_input_tokens": 500,
            "output_tokens": 80,
        },
    }
    assert usage_of("messages", body) == Usage(input=2503, output=80, cached=2000, cache_written=500)


@pytest.mark.parametrize("protocol", ["chat", "responses", "messages"])
@pytest.mark.parametrize(
    "body",
    [{}, {"usage": None}, {"usage": {}}, {"usage": {"prompt_tokens": "12", "input_tokens": -1}}, [], "text"],
    ids=["absent", "null", "empty", "not counts", "a list", "a string"],
)
def test_an_answer_without_usable_counts_has_no_usage_rather_than_zero(protocol, body):
    assert usage_of(protocol, body) is None


def test_a_chat_stream_takes_the_usage_chunk_and_times_the_first_text():
    role = {"choices": [{"index": 0, "delta": {"role": "assistant", "content": None}}], "usage": None}
    text = {"choices": [{"index": 0, "delta": {"content": "Hi"}}], "usage": None}
    last = {"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9}}
    meter, firsts = metered("chat", [role], [text, b"data: comment\n\n"], [last, b"data: [DONE]\n\n"])
    assert firsts == [False, True, False]
    assert meter.usage == Usage(input=7, output=2)


@pytest.mark.parametrize(
    "delta",
    [{"reasoning_content": "hm"}, {"tool_calls": [{"index": 0, "function": {"arguments": "{"}}]}, {"refusal": "no"}],
    ids=["reasoning", "a tool call", "a refusal"],
)
def test_a_chat_chunk_with_reasoning_or_a_tool_call_is_content(delta):
    _, firsts = metered("chat", [{"choices": [{"index": 0, "delta": delta}]}])
    assert firsts == [True]


def test_a_chat_stream_without_include_usage_has_unknown_usage():
    meter, _ = metered("chat", [{"choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": "stop"}]}])
    assert meter.usage is None


def test_a_responses_stream_takes_the_usage_of_its_terminal_event():
    usage = {"input_tokens": 11, "output_tokens": 5, "output_tokens_details": {"reasoning_tokens": 3}}
    meter, firsts = metered(
        "responses",
        [{"type": "response.created", "response": {"usage": None}}],
        [{"type": "response.reasoning_summary_text.delta", "delta": "x"}],
        [{"type": "response.output_text.delta", "delta": "y"}],
        [{"type": "response.incomplete", "response": {"usage": usage}}],
    )
    assert firsts == [False, True, False, False]
    assert meter.usage == Usage(input=11, output=5, reasoning=3)


def test_a_messages_stream_joins_message_start_and_the_cumulative_message_delta():
    start = {
        "type": "message_start",
        "message": {"usage": {"input_tokens": 10, "cache_read_input_tokens": 90, "output_tokens": 1}},
    }
    meter, firsts = metered(
        "messages",
        [start, {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}],
        [{"type": "ping"}, {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "a"}}],
        [{"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 42}}],
        [{"type": "message_delta", "delta": {}, "usage": {"output_tokens": 57}}, {"type": "message_stop"}],
    )
    assert firsts == [False, True, False, False]
    assert meter.usage == Usage(input=100, output=57, cached=90)


def test_usage_is_told_in_the_log_with_cache_writes_only_when_there_were_some():
    assert Usage(input=3, output=4, cached=1, reasoning=2).text() == "in=3 out=4 cached=1 reasoning=2"
    assert Usage(input=3, output=4, cache_written=3).text() == "in=3 out=4 cached=0 reasoning=0 cache_written=3"
