"""Chat Completions chunks become Anthropic Messages events (switchyard/bridges/messages_over_chat/stream.py).

Golden files, in `tests/golden/bridges/messages_over_chat/`:

- `streams/<case>.in.jsonl`: Chat chunks, fed in order, then the stream is closed (`[DONE]`/EOF);
  `<case>.out.jsonl`: the Messages events. Every case translates for the client request in
  `streams/client_request.json` (Bash, Read and a long MCP tool name; a stop sequence).
- `completions/<case>.in.json`: a non-streaming Chat completion; `<case>.out.json`: the `message` (or
  the error it raises).

Ids are `<prefix>_<n>` in order of creation, so the files are stable. Every golden stream is also
checked against the ordering rules the SDKs depend on, each event validated against the anthropic SDK's
own model for its type, and replayed through the SDK's accumulator.

    UPDATE_GOLDEN=1 .venv/bin/pytest tests/bridges/messages_over_chat/test_stream.py
"""

from __future__ import annotations

import itertools

import golden_files
import orjson
import pytest
from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import (
    Message,
    RawContentBlockDeltaEvent,
    RawContentBlockStartEvent,
    RawContentBlockStopEvent,
    RawMessageDeltaEvent,
    RawMessageStartEvent,
    RawMessageStopEvent,
)
from anthropic.types.shared import ErrorResponse
from fakes.chat_provider import chunk, text_chunks, usage_chunk

from switchyard.bridges.messages_over_chat.stream import SIGNATURE, MessagesStream, messages_usage, to_message
from switchyard.errors import UpstreamFailed
from switchyard.protocols.messages.aggregate import final_message

GOLDEN = golden_files.GOLDEN / "bridges" / "messages_over_chat"
CLIENT = orjson.loads((GOLDEN / "streams" / "client_request.json").read_bytes())
STREAMS = sorted(path.name.removesuffix(".in.jsonl") for path in (GOLDEN / "streams").glob("*.in.jsonl"))
COMPLETIONS = sorted(path.name.removesuffix(".in.json") for path in (GOLDEN / "completions").glob("*.in.json"))
SDK_EVENTS = {
    "message_start": RawMessageStartEvent,
    "content_block_start": RawContentBlockStartEvent,
    "content_block_delta": RawContentBlockDeltaEvent,
    "content_block_stop": RawContentBlockStopEvent,
    "message_delta": RawMessageDeltaEvent,
    "message_stop": RawMessageStopEvent,
    "error": ErrorResponse,
}


def counter_ids():
    numbers = itertools.count()
    return lambda prefix: f"{prefix}_{next(numbers)}"


def run(chunks: list[dict], client: dict = CLIENT) -> list[dict]:
    stream = MessagesStream(client, ids=counter_ids())
    return [event for c in chunks for event in stream.feed(c)] + stream.close()


def check_sequence(events: list[dict]) -> None:
    """The order the SDKs rely on: message_start first; blocks one at a time, dense indexes, start before
    deltas, stop after them; then one message_delta and message_stop; or an error event last."""
    types = [e["type"] for e in events]
    assert types.count("error") + types.count("message_stop") == 1 and types[-1] in ("error", "message_stop")
    if types[-1] == "message_stop":
        assert types[0] == "message_start" and types[-2] == "message_delta" and types.count("message_delta") == 1
    started, stopped, open_block = 0, 0, None
    for event in events:
        if event["type"] == "content_block_start":
            assert open_block is None and event["index"] == started
            open_block, started = event["index"], started + 1
        elif event["type"] == "content_block_delta":
            assert event["index"] == open_block
        elif event["type"] == "content_block_stop":
            assert event["index"] == open_block
            open_block, stopped = None, stopped + 1
        elif event["type"] in ("message_delta", "message_stop"):
            assert open_block is None, "every block is closed before the message ends"
    if types[-1] == "message_stop":
        assert started == stopped


def replay_through_sdk(events: list[dict]) -> Message | None:
    snapshot, buffers = None, {}
    for event in events:
        SDK_EVENTS[event["type"]].model_validate(event)
        if event["type"] in ("ping", "error"):
            continue
        snapshot = accumulate_event(event=event, current_snapshot=snapshot, json_bufs=buffers)
    return snapshot


@pytest.mark.parametrize("case", STREAMS)
def test_each_golden_stream_translates_to_its_expected_events(case):
    events = run(golden_files.read(GOLDEN / "streams" / f"{case}.in.jsonl"))
    golden_files.check(GOLDEN / "streams" / f"{case}.out.jsonl", events)
    check_sequence(events)
    snapshot = replay_through_sdk(events)
    if events[-1]["type"] == "message_stop":
        Message.model_validate(snapshot.to_dict())
        assert snapshot.to_dict(exclude_none=True) == {k: v for k, v in final_message(events).items() if v is not None}


def test_the_golden_cases_cover_the_shapes_claude_code_meets():
    assert {"two_tool_calls_streamed", "reasoning_then_text", "cut_mid_tool_call", "error_chunk_mid_stream"} <= set(
        STREAMS
    )


def test_thinking_blocks_are_signed_before_they_stop_and_tool_input_streams_as_it_arrives():
    events = run(golden_files.read(GOLDEN / "streams" / "reasoning_then_text.in.jsonl"))
    signature = [e for e in events if e.get("delta", {}).get("type") == "signature_delta"]
    assert signature == [{"type": "content_block_delta", "index": 0,
                          "delta": {"type": "signature_delta", "signature": SIGNATURE}}]  # fmt: skip
    events = run(golden_files.read(GOLDEN / "streams" / "two_tool_calls_streamed.in.jsonl"))
    pieces = [e["delta"]["partial_json"] for e in events if e.get("delta", {}).get("type") == "input_json_delta"]
    assert len(pieces) == 6 and "".join(pieces) == '{"command": "ls -la"}{"file_path": "a.txt"}'


@pytest.mark.parametrize(
    ("case", "stop_reason", "stop_sequence"),
    [
        ("text_with_cached_usage", "end_turn", None),
        ("two_tool_calls_streamed", "tool_use", None),
        ("text_then_tool_call_finish_stop", "tool_use", None),
        ("tool_call_without_a_name_is_dropped", "end_turn", None),
        ("length_is_max_tokens", "max_tokens", None),
        ("content_filter_is_refusal", "refusal", None),
        ("stop_sequence_named_by_vllm", "stop_sequence", "STOP"),
    ],
)
def test_finish_reasons_become_stop_reasons(case, stop_reason, stop_sequence):
    delta = run(golden_files.read(GOLDEN / "streams" / f"{case}.in.jsonl"))[-2]
    assert delta["delta"] == {"stop_reason": stop_reason, "stop_sequence": stop_sequence}


@pytest.mark.parametrize(
    ("case", "kind"),
    [
        ("cut_before_finish", "api_error"),
        ("cut_mid_tool_call", "api_error"),
        ("error_chunk_mid_stream", "rate_limit_error"),
        ("error_chunk_as_text", "api_error"),
        ("interleaved_tool_calls_fail", "api_error"),
    ],
)
def test_a_stream_that_fails_or_is_cut_ends_with_an_error_event_and_open_blocks_stay_open(case, kind):
    events = run(golden_files.read(GOLDEN / "streams" / f"{case}.in.jsonl"))
    assert events[-1]["type"] == "error" and events[-1]["error"]["type"] == kind
    assert "message_stop" not in [e["type"] for e in events]
    if case == "cut_mid_tool_call":
        assert events[-2]["type"] == "content_block_delta"  # the half call never gets its content_block_stop


def test_usage_counts_cache_reads_apart_from_input():
    usage = {"prompt_tokens": 120, "completion_tokens": 30, "prompt_tokens_details": {"cached_tokens": 100}}
    assert messages_usage(usage) == {
        "input_tokens": 20, "output_tokens": 30, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 100,
    }  # fmt: skip
    assert messages_usage({"prompt_tokens": 9, "prompt_cache_hit_tokens": 4})["input_tokens"] == 5
    assert messages_usage(None)["input_tokens"] == 0


def test_keepalive_starts_the_message_then_pings_and_stops_after_the_end():
    stream = MessagesStream(CLIENT, ids=counter_ids())
    assert [e["type"] for e in stream.keepalive()] == ["message_start", "ping"]
    assert stream.keepalive() == [{"type": "ping"}]
    events = [e for c in text_chunks("hi") for e in stream.feed(c)]
    assert events[0]["type"] == "content_block_start"  # message_start was already sent
    assert stream.keepalive() == [] and stream.close() == [] and stream.fail("late") == []


def test_only_the_first_choice_is_used_and_nothing_follows_the_end():
    stream = MessagesStream(CLIENT, ids=counter_ids())
    other = {
        **chunk({"content": "other"}),
        "choices": [{"index": 1, "delta": {"content": "other"}, "finish_reason": None}],
    }
    events = stream.feed(other) + stream.feed(chunk({"content": "mine"})) + stream.feed(chunk({}, "stop"))
    events += stream.feed(usage_chunk()) + stream.feed(chunk({"content": "late"}))
    texts = [e["delta"]["text"] for e in events if e.get("delta", {}).get("type") == "text_delta"]
    assert texts == ["mine"] and events[-1]["type"] == "message_stop"


@pytest.mark.parametrize("case", COMPLETIONS)
def test_each_golden_completion_translates_to_its_expected_message(case):
    completion = orjson.loads((GOLDEN / "completions" / f"{case}.in.json").read_bytes())
    try:
        actual = to_message(completion, CLIENT, ids=counter_ids())
        Message.model_validate(actual)
    except UpstreamFailed as failure:
        actual = {"raises": {"status": failure.status, "type": failure.type, "code": failure.code,
                             "message": failure.message}}  # fmt: skip
    golden_files.check(GOLDEN / "completions" / f"{case}.out.json", actual)
