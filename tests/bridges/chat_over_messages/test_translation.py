"""Chat Completions clients in front of an Anthropic upstream (switchyard/bridges/chat_over_messages/).

Golden files, in `tests/golden/bridges/chat_over_messages/`:

- `requests/<case>.in.json`: a Chat request; `<case>.out.json`: the Messages request `to_messages` makes.
  Every expected request is also checked against the strict fake Anthropic provider's validation.
- `streams/<case>.in.jsonl`: Anthropic events, then the stream is closed; `<case>.out.jsonl`: the Chat
  chunks, replayed through the openai SDK's own stream accumulator.
- `completions/<case>.in.json`: a `message` body; `<case>.out.json`: the `chat.completion` (or the error).

    UPDATE_GOLDEN=1 .venv/bin/pytest tests/bridges/chat_over_messages/test_translation.py
"""

from __future__ import annotations

import itertools

import golden_files
import orjson
import pytest
import type_swaps
from fakes.messages_provider import Rejection, text_events, validate
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from switchyard.bridges.chat_over_messages.request import DEFAULT_MAX_TOKENS, DROPPED_FIELDS, to_messages
from switchyard.bridges.chat_over_messages.stream import ChatStream, to_completion
from switchyard.errors import RequestError, UpstreamFailed

GOLDEN = golden_files.GOLDEN / "bridges" / "chat_over_messages"
CLIENT = orjson.loads((GOLDEN / "streams" / "client_request.json").read_bytes())
REQUESTS = sorted(p.name.removesuffix(".in.json") for p in (GOLDEN / "requests").glob("*.in.json"))
STREAMS = sorted(p.name.removesuffix(".in.jsonl") for p in (GOLDEN / "streams").glob("*.in.jsonl"))
COMPLETIONS = sorted(p.name.removesuffix(".in.json") for p in (GOLDEN / "completions").glob("*.in.json"))
CLOCK = 1_700_000_000


def counter_ids():
    numbers = itertools.count()
    return lambda prefix: f"{prefix}_{next(numbers)}"


# --- requests --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", REQUESTS)
def test_each_golden_request_translates_to_a_messages_request_anthropic_accepts(case):
    body = orjson.loads((GOLDEN / "requests" / f"{case}.in.json").read_bytes())
    out = to_messages(body)
    golden_files.check(GOLDEN / "requests" / f"{case}.out.json", out)
    unknown = {"top_k"} if case != "composed_from_responses_bridge" else {"include", "prompt_cache_key", "store"}
    try:
        validate({k: v for k, v in out.items() if k not in unknown or k == "top_k"})
    except Rejection as rejection:
        pytest.fail(f"the fake Anthropic refuses it: {rejection.message}")


def test_a_responses_clients_leftovers_are_for_the_pack_to_drop():
    out = to_messages(orjson.loads((GOLDEN / "requests" / "composed_from_responses_bridge.in.json").read_bytes()))
    with pytest.raises(Rejection, match="include: Extra inputs"):
        validate(out)


def test_max_tokens_is_defaulted_because_anthropic_requires_it():
    assert (
        to_messages({"model": "m", "messages": [{"role": "user", "content": "hi"}]})["max_tokens"] == DEFAULT_MAX_TOKENS
    )


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"n": 2}, "n"),
        ({"audio": {"voice": "x"}}, "audio"),
        ({"functions": [{"name": "f"}]}, "functions"),
        ({"web_search_options": {}}, "web_search_options"),
        ({"modalities": ["text", "audio"]}, "modalities"),
        ({"messages": [{"role": "critic", "content": "x"}]}, "messages[0].role"),
        ({"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]},
         "messages[0].content[0].type"),
        ({"messages": [{"role": "user", "content": [{"type": "file", "file": {"file_id": "f"}}]}]},
         "messages[0].content[0].file"),
        ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ftp://x"}}]}]},
         "messages[0].content[0]"),
        ({"messages": [{"role": "assistant", "tool_calls": [{"id": "c", "type": "function",
                                                             "function": {"name": "f", "arguments": "{bad"}}]}]},
         "messages[0].tool_calls[0].function.arguments"),
        ({"messages": [{"role": "assistant", "tool_calls": [{"id": "c", "type": "custom", "custom": {}}]}]},
         "messages[0].tool_calls[0].type"),
        ({"tools": [{"type": "custom", "custom": {"name": "x"}}]}, "tools[0].type"),
        ({"tool_choice": {"type": "allowed_tools"}}, "tool_choice"),
        ({"reasoning_effort": "extreme"}, "reasoning_effort"),
        ({"response_format": {"type": "json_object"}}, "response_format.type"),
    ],
)  # fmt: skip
def test_what_anthropic_cannot_express_is_refused_with_a_400_naming_it(body, param):
    with pytest.raises(RequestError) as refused:
        to_messages({"model": "m", "messages": [{"role": "user", "content": "hi"}], **body})
    assert refused.value.param == param


def test_the_dropped_fields_are_documented():
    doc = (golden_files.ROOT / "docs" / "claude-code.md").read_text(encoding="utf-8")
    for field in DROPPED_FIELDS:
        assert f"`{field}`" in doc, field


def test_every_type_swap_of_the_golden_inputs_is_a_400_or_a_translation_never_a_crash():
    bodies = {case: orjson.loads((GOLDEN / "requests" / f"{case}.in.json").read_bytes()) for case in REQUESTS}
    answer = text_events("ok")
    for label, body in type_swaps.variants(bodies, count=3000, seed=13):
        try:
            orjson.dumps(to_messages(body))
        except RequestError:
            continue
        except Exception as exc:
            pytest.fail(f"{label}: {type(exc).__name__}: {exc}")
        try:
            stream = ChatStream(body)
            orjson.dumps([c for e in answer for c in stream.feed(e)] + stream.close())
        except Exception as exc:
            pytest.fail(f"{label}: the stream side: {type(exc).__name__}: {exc}")


# --- streams and bodies ----------------------------------------------------------------------------------


def run(events: list[dict], client: dict = CLIENT) -> list[dict]:
    stream = ChatStream(client, ids=counter_ids(), clock=lambda: CLOCK)
    return [chunk for event in events for chunk in stream.feed(event)] + stream.close()


@pytest.mark.parametrize("case", STREAMS)
def test_each_golden_stream_translates_to_chunks_the_openai_sdk_accumulates(case):
    chunks = run(golden_files.read(GOLDEN / "streams" / f"{case}.in.jsonl"))
    golden_files.check(GOLDEN / "streams" / f"{case}.out.jsonl", chunks)
    if "error" in chunks[-1]:
        assert not any(c.get("choices") and c["choices"][0]["finish_reason"] for c in chunks[:-1])
        return
    state = ChatCompletionStreamState()
    for chunk in chunks:
        state.handle_chunk(ChatCompletionChunk.model_validate(chunk))
    assert state.current_completion_snapshot.choices[0].finish_reason is not None


def test_the_stream_ends_in_the_error_chunk_when_cut_or_failed():
    assert run(golden_files.read(GOLDEN / "streams" / "cut_before_message_stop.in.jsonl"))[-1]["error"]["message"] == (
        "The upstream stream ended before the message completed."
    )
    error = run(golden_files.read(GOLDEN / "streams" / "error_event.in.jsonl"))[-1]["error"]
    assert error["type"] == "overloaded_error" and error["message"] == "Overloaded"


@pytest.mark.parametrize("case", COMPLETIONS)
def test_each_golden_message_translates_to_its_chat_completion(case):
    message = orjson.loads((GOLDEN / "completions" / f"{case}.in.json").read_bytes())
    try:
        actual = to_completion(message, CLIENT, ids=counter_ids(), clock=lambda: CLOCK)
        ChatCompletion.model_validate(actual)
    except UpstreamFailed as failure:
        actual = {"raises": {"status": failure.status, "type": failure.type, "code": failure.code,
                             "message": failure.message}}  # fmt: skip
    golden_files.check(GOLDEN / "completions" / f"{case}.out.json", actual)
