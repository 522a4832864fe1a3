"""Anthropic Messages requests become Chat Completions requests (switchyard/bridges/messages_over_chat/request.py).

Golden files: `tests/golden/bridges/messages_over_chat/requests/<case>.in.json` is a Messages request,
`<case>.out.json` the Chat request `to_chat` must make of it. The two `claude_code_turn*` cases read
their input from the real captures in `tests/fixtures/claude-code-2.1.197/` (Claude Code 2.1.197's
first and second turn) and keep only their expected output here.

When a change of output is intended, regenerate the expected files and review the diff:

    UPDATE_GOLDEN=1 .venv/bin/pytest tests/bridges/messages_over_chat/test_request.py
"""

from __future__ import annotations

import golden_files
import orjson
import pytest
import type_swaps
from fakes.chat_provider import text_chunks, validate

from switchyard.bridges.messages_over_chat.request import (
    DROPPED_FIELDS,
    REFUSED_FIELDS,
    flat_name,
    to_chat,
    tool_names,
)
from switchyard.bridges.messages_over_chat.stream import MessagesStream
from switchyard.errors import RequestError

GOLDEN = golden_files.GOLDEN / "bridges" / "messages_over_chat" / "requests"
CAPTURES = golden_files.FIXTURES / "claude-code-2.1.197"
CAPTURED = {"claude_code_turn1": CAPTURES / "turn1-request.json", "claude_code_turn2": CAPTURES / "turn2-request.json"}
CASES = sorted([*CAPTURED, *(path.name.removesuffix(".in.json") for path in GOLDEN.glob("*.in.json"))])


def source(case: str) -> dict:
    return orjson.loads(CAPTURED.get(case, GOLDEN / f"{case}.in.json").read_bytes())


@pytest.mark.parametrize("case", CASES)
def test_each_golden_request_translates_to_its_expected_chat_request(case):
    golden_files.check(GOLDEN / f"{case}.out.json", to_chat(source(case)))


@pytest.mark.parametrize("case", sorted(CAPTURED))
def test_claude_codes_requests_keep_every_message_and_tool_and_drop_only_the_listed_fields(case):
    body = source(case)
    out = to_chat(body)
    assert set(body) - set(out) <= set(DROPPED_FIELDS) | {"system", "thinking", "stop_sequences"}
    assert [t["function"]["name"] for t in out["tools"]] == [t["name"] for t in body["tools"]]
    assert out["messages"][0]["role"] == "system" and "You are a Claude agent" in out["messages"][0]["content"]
    assert out["reasoning_effort"] == "high" and out["stream_options"] == {"include_usage": True}
    # What a strict Chat provider accepts once a pack keeps its own fields (DashScope's allowlist, here).
    validate({k: v for k, v in out.items() if k != "reasoning_effort"})


def test_the_second_turn_sends_the_tool_call_and_its_result_in_order():
    messages = to_chat(source("claude_code_turn2"))["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "tool"]
    call = messages[2]["tool_calls"][0]
    assert call["id"] == "toolu_01ABCDEF" and orjson.loads(call["function"]["arguments"])["command"] == "ls"
    assert messages[3] == {"role": "tool", "tool_call_id": "toolu_01ABCDEF", "content": "a.txt\nb.txt"}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].role"),
        ({"messages": [{"role": "user", "content": [{"type": "search_result", "source": "s"}]}]},
         "messages[0].content[0].type"),
        ({"messages": [{"role": "assistant", "content": [{"type": "server_tool_use", "id": "s"}]}]},
         "messages[0].content[0].type"),
        ({"messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "file", "file_id": "f"}}]}]},
         "messages[0].content[0].source.type"),
        ({"messages": [{"role": "user", "content": [{"type": "document", "source": {"type": "url", "url": "u"}}]}]},
         "messages[0].content[0].source.type"),
        ({"messages": "hi"}, "messages"),
        ({"container": "c"}, "container"),
        ({"mcp_servers": [{"type": "url", "url": "u", "name": "n"}]}, "mcp_servers"),
        ({"inference_geo": "eu"}, "inference_geo"),
        ({"tool_choice": {"type": "maybe"}}, "tool_choice.type"),
        ({"thinking": {"type": "enabled"}}, "thinking.budget_tokens"),
        ({"thinking": {"type": "sometimes"}}, "thinking.type"),
        ({"output_config": {"format": {"type": "xml"}}}, "output_config.format.type"),
        ({"output_config": {"task_budget": 5}}, "output_config.task_budget"),
        ({"tools": [{"name": "a", "input_schema": "x"}]}, "tools[0].input_schema"),
        ({"stop_sequences": "STOP"}, "stop_sequences"),
    ],
)  # fmt: skip
def test_what_chat_cannot_express_is_refused_with_a_400_naming_it(body, param):
    with pytest.raises(RequestError) as refused:
        to_chat({"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}], **body})
    assert refused.value.status == 400 and refused.value.param == param


def test_the_dropped_and_refused_lists_are_documented():
    doc = (golden_files.ROOT / "docs" / "claude-code.md").read_text(encoding="utf-8")
    for field in [*DROPPED_FIELDS, *REFUSED_FIELDS, "redacted_thinking"]:
        assert f"`{field}`" in doc, field


def test_tool_names_chat_cannot_take_are_flattened_and_mapped_back():
    long = "mcp__" + "x" * 70
    assert flat_name("Bash") == "Bash" and flat_name("a.b") != "a.b" and len(flat_name(long)) == 64
    assert tool_names({"tools": [{"name": long}, {"name": "Bash"}]}) == {flat_name(long): long, "Bash": "Bash"}


def test_every_type_swap_of_the_golden_inputs_is_a_400_or_a_translation_never_a_crash():
    bodies = {case: source(case) for case in CASES if case not in CAPTURED}
    answer = text_chunks("ok")
    for label, body in type_swaps.variants(bodies, count=3000, seed=11):
        try:
            orjson.dumps(to_chat(body))
        except RequestError:
            continue
        except Exception as exc:
            pytest.fail(f"{label}: {type(exc).__name__}: {exc}")
        try:
            stream = MessagesStream(body)
            orjson.dumps([e for chunk in answer for e in stream.feed(chunk)] + stream.close())
        except Exception as exc:
            pytest.fail(f"{label}: the stream side: {type(exc).__name__}: {exc}")


def test_a_system_message_inside_messages_goes_across_where_it_stands():
    # Claude Code 2.1.197 sends one when the model is not a Claude model (see test_claude_code.py).
    system = {"role": "system", "content": [{"type": "text", "text": "be brief"}]}
    body = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}, system]}
    assert to_chat(body)["messages"] == [{"role": "user", "content": "hi"}, {"role": "system", "content": "be brief"}]
