"""Chat Completions clients in front of a Gemini upstream (switchyard/bridges/chat_over_gemini/).

Golden files, in `tests/golden/bridges/chat_over_gemini/`:

- `requests/<case>.in.json`: a Chat request; `<case>.out.json`: the Gemini request `to_gemini` makes. What
  the shipped pack then sends (its steps, `model` and `stream` moved into the URL) is checked against the
  strict fake Gemini's validation and, part by part, against the google-genai SDK's own types (strict
  `model_validate_json`: they forbid unknown fields).
- `streams/<case>.in.jsonl`: Gemini chunks, then the stream is closed; `<case>.out.jsonl`: the Chat
  chunks, replayed through the openai SDK's own stream accumulator.
- `completions/<case>.in.json`: a `GenerateContentResponse`; `<case>.out.json`: the `chat.completion`.

    UPDATE_GOLDEN=1 .venv/bin/pytest tests/bridges/chat_over_gemini/test_translation.py
"""

from __future__ import annotations

import base64
import itertools
import random
import re

import conformance
import golden_files
import orjson
import pytest
import type_swaps
from fakes.gemini_provider import Rejection, text_chunks, validate
from google.genai import types
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from switchyard import packs
from switchyard.bridges.chat_over_gemini import signatures
from switchyard.bridges.chat_over_gemini.request import DROPPED_FIELDS, to_gemini
from switchyard.bridges.chat_over_gemini.stream import ChatStream, to_completion
from switchyard.errors import RequestError, UpstreamFailed
from switchyard.pipeline import Pipeline
from switchyard.protocols.gemini import PROTOCOL as GEMINI

GOLDEN = golden_files.GOLDEN / "bridges" / "chat_over_gemini"
CLIENT = orjson.loads((GOLDEN / "streams" / "client_request.json").read_bytes())
REQUESTS = sorted(p.name.removesuffix(".in.json") for p in (GOLDEN / "requests").glob("*.in.json"))
STREAMS = sorted(p.name.removesuffix(".in.jsonl") for p in (GOLDEN / "streams").glob("*.in.jsonl"))
COMPLETIONS = sorted(p.name.removesuffix(".in.json") for p in (GOLDEN / "completions").glob("*.in.json"))
CLOCK = 1_700_000_000
[GEMINI_PACK] = packs.load(str(golden_files.ROOT / "rules" / "gemini.yaml"), placeholders=True).packs


def counter_ids():
    numbers = itertools.count()
    return lambda prefix: f"{prefix}_{next(numbers)}"


def routed(body: dict) -> tuple[str, dict]:
    """(the path the proxy calls, the body it sends) for a body the pack's steps made."""
    return GEMINI.upstream_route(body), body


def sent_by_the_pack(body: dict) -> tuple[str, dict]:
    """What the shipped gemini pack sends Gemini for this Chat body: (the URL path, the body)."""
    return routed(Pipeline(GEMINI_PACK, "chat").request(orjson.loads(orjson.dumps(body))))


# --- requests --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", REQUESTS)
def test_each_golden_request_translates_and_the_pack_sends_what_gemini_and_its_sdk_accept(case):
    body = orjson.loads((GOLDEN / "requests" / f"{case}.in.json").read_bytes())
    golden_files.check(GOLDEN / "requests" / f"{case}.out.json", to_gemini(orjson.loads(orjson.dumps(body))))
    path, sent = sent_by_the_pack(body)
    assert path.startswith(f"/models/{body['model']}:")
    try:
        validate(sent)
    except Rejection as rejection:
        pytest.fail(f"the fake Gemini refuses it: {rejection.message}")
    conformance.gemini_request(sent)


def test_the_sdk_types_refuse_what_gemini_refuses_so_the_check_can_fail():
    with pytest.raises(conformance.Nonconforming, match="Extra inputs"):
        conformance.gemini_request({"contents": [{"role": "user", "parts": [{"text": "hi", "cache_control": {}}]}]})
    with pytest.raises(conformance.Nonconforming, match="base64"):
        conformance.gemini_request(
            {"contents": [{"role": "model", "parts": [{"text": "x", "thoughtSignature": "a!b"}]}]}
        )


def test_a_signature_in_the_tool_call_id_comes_back_as_the_same_bytes_on_its_call():
    body = orjson.loads((GOLDEN / "requests" / "tool_round_trip_with_a_signature.in.json").read_bytes())
    part = to_gemini(body)["contents"][1]["parts"][0]
    assert part == {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
                    "thoughtSignature": "++++//5zaWctMQ=="}  # fmt: skip


def test_signatures_of_any_bytes_survive_the_id_and_the_id_stays_in_anthropics_id_alphabet():
    rng = random.Random(7)
    for size in range(1, 200, 7):
        raw = rng.randbytes(size)
        for alphabet in (base64.b64encode, base64.urlsafe_b64encode):
            signature = alphabet(raw).decode()
            gemini_id = rng.choice([None, "fc-1", "abc_def"])
            chat_id = signatures.encode(gemini_id, signature)
            assert re.fullmatch(r"[A-Za-z0-9_-]+", chat_id), chat_id
            back_id, back = signatures.decode(chat_id)
            assert back_id == gemini_id
            assert base64.b64decode(back) == raw


def test_an_id_made_here_never_goes_to_gemini_and_a_plain_id_carries_no_signature():
    made = signatures.encode(None, "c2ln")
    assert made.startswith("call_") and signatures.decode(made) == (None, "c2ln")
    assert signatures.decode("toolu_01ABCDEF") == ("toolu_01ABCDEF", None)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"n": 2}, "n"),
        ({"audio": {"voice": "x"}}, "audio"),
        ({"functions": [{"name": "f"}]}, "functions"),
        ({"web_search_options": {}}, "web_search_options"),
        ({"modalities": ["text", "audio"]}, "modalities"),
        ({"messages": [{"role": "critic", "content": "x"}]}, "messages[0].role"),
        ({"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"format": "flac"}}]}]},
         "messages[0].content[0].input_audio.format"),
        ({"messages": [{"role": "user", "content": [{"type": "file", "file": {"file_id": "f"}}]}]},
         "messages[0].content[0].file"),
        ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ftp://x"}}]}]},
         "messages[0].content[0]"),
        ({"messages": [{"role": "assistant", "tool_calls": [{"id": "c", "type": "function",
                                                             "function": {"name": "f", "arguments": "{bad"}}]}]},
         "messages[0].tool_calls[0].function.arguments"),
        ({"messages": [{"role": "tool", "tool_call_id": "nobody", "content": "x"}]}, "messages[0].tool_call_id"),
        ({"tools": [{"type": "custom", "custom": {"name": "x"}}]}, "tools[0].type"),
        ({"tool_choice": {"type": "allowed_tools"}}, "tool_choice"),
        ({"response_format": {"type": "grammar"}}, "response_format.type"),
    ],
)  # fmt: skip
def test_what_gemini_cannot_express_is_refused_with_a_400_naming_it(body, param):
    with pytest.raises(RequestError) as refused:
        to_gemini({"model": "m", "messages": [{"role": "user", "content": "hi"}], **body})
    assert refused.value.param == param


def test_the_dropped_fields_are_documented():
    doc = (golden_files.ROOT / "docs" / "bridges.md").read_text(encoding="utf-8")
    for field in DROPPED_FIELDS:
        assert f"`{field}`" in doc, field


def test_every_type_swap_of_the_golden_inputs_is_a_400_or_a_translation_never_a_crash():
    bodies = {case: orjson.loads((GOLDEN / "requests" / f"{case}.in.json").read_bytes()) for case in REQUESTS}
    answer = text_chunks("ok")
    for label, body in type_swaps.variants(bodies, count=3000, seed=13):
        try:
            orjson.dumps(to_gemini(body))
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
    events = golden_files.read(GOLDEN / "streams" / f"{case}.in.jsonl")
    for event in events:
        if "error" not in event:  # what the fake Gemini streams is what Google's SDK reads
            types.GenerateContentResponse.model_validate_json(orjson.dumps(event), strict=True)
    chunks = run(events)
    golden_files.check(GOLDEN / "streams" / f"{case}.out.jsonl", chunks)
    if "error" in chunks[-1]:
        assert not any(c.get("choices") and c["choices"][0]["finish_reason"] for c in chunks[:-1])
        return
    state = ChatCompletionStreamState()
    for chunk in chunks:
        state.handle_chunk(ChatCompletionChunk.model_validate(chunk))
    assert state.current_completion_snapshot.choices[0].finish_reason is not None


def test_a_signed_call_in_a_stream_carries_its_signature_in_the_id_the_client_returns():
    chunks = run(golden_files.read(GOLDEN / "streams" / "parallel_calls_with_ids.in.jsonl"))
    calls = [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks if c.get("choices") and
             c["choices"][0]["delta"].get("tool_calls")]  # fmt: skip
    assert [signatures.decode(call["id"]) for call in calls] == [("fc-1", "++++//5zaWctMQ=="), ("fc-2", None)]


def test_a_stream_that_closes_before_its_finish_reason_ends_in_an_error_chunk():
    last = run(golden_files.read(GOLDEN / "streams" / "cut_before_finish_reason.in.jsonl"))[-1]
    assert last["error"]["message"] == "The upstream stream ended before the answer completed."


@pytest.mark.parametrize("case", COMPLETIONS)
def test_each_golden_response_translates_to_its_chat_completion(case):
    body = orjson.loads((GOLDEN / "completions" / f"{case}.in.json").read_bytes())
    try:
        actual = to_completion(body, CLIENT, ids=counter_ids(), clock=lambda: CLOCK)
        ChatCompletion.model_validate(actual)
    except UpstreamFailed as failure:
        actual = {"raises": {"status": failure.status, "type": failure.type, "code": failure.code,
                             "message": failure.message}}  # fmt: skip
    golden_files.check(GOLDEN / "completions" / f"{case}.out.json", actual)


# --- the real clients' captures, through the shipped pack --------------------------------------------------

CAPTURES = {
    "codex_turn2": ("responses", golden_files.FIXTURES / "codex-cli-0.169.0" / "turn2-request.json"),
    "claude_code_turn2": ("messages", golden_files.FIXTURES / "claude-code-2.1.197" / "turn2-request.json"),
}


@pytest.mark.parametrize("case", sorted(CAPTURES))
def test_codex_and_claude_code_turns_reach_gemini_as_requests_it_and_its_sdk_accept(case):
    client, capture = CAPTURES[case]
    body = orjson.loads(capture.read_bytes())
    body["model"] = "gemini-3.1-pro-preview"
    path, sent = routed(Pipeline(GEMINI_PACK, client).request(body))
    golden_files.check(GOLDEN / "captures" / f"{case}.out.json", {"path": path, "body": sent})
    try:
        validate(sent)
    except Rejection as rejection:
        pytest.fail(f"the fake Gemini refuses it: {rejection.message}")
    conformance.gemini_request(sent)
    # The call the client made up (the captures come from another model) carries the placeholder.
    calls = [p for c in sent["contents"] if c["role"] == "model" for p in c["parts"] if "functionCall" in p]
    assert calls and calls[0]["thoughtSignature"] == "skip_thought_signature_validator"
