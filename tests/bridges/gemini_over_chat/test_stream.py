"""Chat Completions chunks become Gemini stream chunks (switchyard/bridges/gemini_over_chat/stream.py).

Golden files, in `tests/golden/bridges/gemini_over_chat/`:

- `streams/<case>.in.jsonl`: Chat chunks, fed in order, then the stream is closed (`[DONE]`/EOF);
  `<case>.out.jsonl`: the Gemini chunks. Every case translates for the client request in
  `streams/client_request.json` (two functions; thoughts asked for).
- `completions/<case>.in.json`: a non-streaming Chat completion; `<case>.out.json`: the
  `GenerateContentResponse` (or the error it raises).

Ids are `<prefix>_<n>` in order of creation, so the files are stable. Every chunk and every folded
response is read by the google-genai SDK's own types, strictly (`gemini_types`), and a whole stream is
folded both by the protocol's aggregator and by the SDK's way of reading a stream (its `text` and
`function_calls` over the chunks).

    UPDATE_GOLDEN=1 .venv/bin/pytest tests/bridges/gemini_over_chat/test_stream.py
"""

from __future__ import annotations

import itertools

import gemini_types
import golden_files
import orjson
import pytest
from fakes.chat_provider import chunk, text_chunks, usage_chunk

from switchyard.bridges.gemini_over_chat.stream import GeminiStream, gemini_usage, to_response
from switchyard.errors import UpstreamFailed
from switchyard.protocols.gemini.aggregate import final_response

GOLDEN = golden_files.GOLDEN / "bridges" / "gemini_over_chat"
CLIENT = orjson.loads((GOLDEN / "streams" / "client_request.json").read_bytes())
STREAMS = sorted(path.name.removesuffix(".in.jsonl") for path in (GOLDEN / "streams").glob("*.in.jsonl"))
COMPLETIONS = sorted(path.name.removesuffix(".in.json") for path in (GOLDEN / "completions").glob("*.in.json"))


def counter_ids():
    numbers = itertools.count()
    return lambda prefix: f"{prefix}_{next(numbers)}"


def run(chunks: list[dict], client: dict = CLIENT) -> list[dict]:
    stream = GeminiStream(client, ids=counter_ids())
    return [event for c in chunks for event in stream.feed(c)] + stream.close()


@pytest.mark.parametrize("case", STREAMS)
def test_each_golden_stream_translates_to_its_expected_chunks(case):
    events = run(golden_files.read(GOLDEN / "streams" / f"{case}.in.jsonl"))
    golden_files.check(GOLDEN / "streams" / f"{case}.out.jsonl", events)
    assert events, "a Gemini stream always has a chunk"
    *body, last = events
    for event in body:
        gemini_types.response(event)
        assert "finishReason" not in event["candidates"][0], "finishReason is on the last chunk only"
    if "error" in last:
        gemini_types.error(last, last["error"]["code"])
        return
    sdk = gemini_types.response(last)
    assert sdk.candidates[0].finish_reason is not None and last["usageMetadata"]["totalTokenCount"] >= 0
    folded = final_response(events)
    gemini_types.response(folded)
    # What the SDK makes of the chunks one by one is what the fold says.
    text = "".join(gemini_types.response(e).text or "" for e in events)
    assert text == "".join(
        p.get("text", "") for p in folded["candidates"][0]["content"]["parts"] if not p.get("thought")
    )


def test_the_golden_cases_cover_the_shapes_gemini_cli_meets():
    assert {"tool_call_streamed", "two_tool_calls_streamed", "reasoning_then_text", "cut_mid_tool_call",
            "error_chunk_mid_stream", "tool_call_arguments_not_json"} <= set(STREAMS)  # fmt: skip


def test_a_function_call_goes_out_whole_with_the_chat_call_id():
    events = run(golden_files.read(GOLDEN / "streams" / "two_tool_calls_streamed.in.jsonl"))
    calls = [p["functionCall"] for e in events for p in e["candidates"][0]["content"]["parts"] if "functionCall" in p]
    assert calls == [
        {"id": "call_1", "name": "list_directory", "args": {"dir_path": "."}},
        {"id": "call_2", "name": "read_file", "args": {"path": "a.txt"}},
    ]
    assert events[-1]["candidates"][0]["finishReason"] == "STOP"


@pytest.mark.parametrize(
    ("case", "finish"),
    [
        ("text", "STOP"),
        ("tool_call_streamed", "STOP"),
        ("text_then_tool_call_finish_stop", "STOP"),
        ("length_is_max_tokens", "MAX_TOKENS"),
        ("content_filter_is_safety", "SAFETY"),
        ("tool_call_arguments_not_json", "MALFORMED_FUNCTION_CALL"),
    ],
)
def test_finish_reasons_become_geminis(case, finish):
    last = run(golden_files.read(GOLDEN / "streams" / f"{case}.in.jsonl"))[-1]
    assert last["candidates"][0]["finishReason"] == finish


def test_a_call_whose_arguments_are_not_an_object_is_never_sent():
    events = run(golden_files.read(GOLDEN / "streams" / "tool_call_arguments_not_json.in.jsonl"))
    assert not [p for e in events for p in e["candidates"][0]["content"]["parts"] if "functionCall" in p]


@pytest.mark.parametrize(
    ("case", "status"),
    [("cut_before_finish", "INTERNAL"), ("cut_mid_tool_call", "INTERNAL"),
     ("error_chunk_mid_stream", "RESOURCE_EXHAUSTED")],
)  # fmt: skip
def test_a_stream_that_fails_or_is_cut_ends_with_an_error_chunk_and_no_half_call(case, status):
    events = run(golden_files.read(GOLDEN / "streams" / f"{case}.in.jsonl"))
    assert events[-1]["error"]["status"] == status
    assert not [p for e in events[:-1] for p in e["candidates"][0]["content"]["parts"] if "functionCall" in p]


def test_thoughts_go_back_only_to_a_client_that_asked_for_them():
    chunks = text_chunks("Answer.", reasoning=("Thinking.",))
    asked = run(chunks)
    assert {"text": "Thinking.", "thought": True} in asked[0]["candidates"][0]["content"]["parts"]
    not_asked = run(chunks, {"model": "m", "contents": []})
    parts = [p for e in not_asked for p in e["candidates"][0]["content"]["parts"]]
    assert parts == [{"text": "Answer."}]


def test_usage_keeps_thoughts_and_cached_tokens_apart():
    usage = {"prompt_tokens": 100, "completion_tokens": 30, "total_tokens": 130,
             "prompt_tokens_details": {"cached_tokens": 80},
             "completion_tokens_details": {"reasoning_tokens": 20}}  # fmt: skip
    assert gemini_usage(usage) == {"promptTokenCount": 100, "candidatesTokenCount": 10, "totalTokenCount": 130,
                                   "thoughtsTokenCount": 20, "cachedContentTokenCount": 80}  # fmt: skip
    assert gemini_usage(None) == {"promptTokenCount": 0, "candidatesTokenCount": 0, "totalTokenCount": 0}
    assert gemini_usage({"prompt_tokens": 9, "prompt_cache_hit_tokens": 4})["cachedContentTokenCount"] == 4


def test_only_the_first_choice_is_used_and_nothing_follows_the_end():
    stream = GeminiStream(CLIENT, ids=counter_ids())
    other = {
        **chunk({"content": "other"}),
        "choices": [{"index": 1, "delta": {"content": "other"}, "finish_reason": None}],
    }
    events = stream.feed(other) + stream.feed(chunk({"content": "mine"})) + stream.feed(chunk({}, "stop"))
    events += stream.feed(usage_chunk()) + stream.feed(chunk({"content": "late"}))
    assert [p["text"] for e in events for p in e["candidates"][0]["content"]["parts"]] == ["mine"]
    assert events[-1]["candidates"][0]["finishReason"] == "STOP"
    assert stream.close() == [] and stream.fail("late") == []


@pytest.mark.parametrize("case", COMPLETIONS)
def test_each_golden_completion_translates_to_its_expected_response(case):
    completion = orjson.loads((GOLDEN / "completions" / f"{case}.in.json").read_bytes())
    try:
        actual = to_response(completion, CLIENT, ids=counter_ids())
        gemini_types.response(actual)
    except UpstreamFailed as failure:
        actual = {"raises": {"status": failure.status, "type": failure.type, "code": failure.code,
                             "message": failure.message}}  # fmt: skip
    golden_files.check(GOLDEN / "completions" / f"{case}.out.json", actual)
