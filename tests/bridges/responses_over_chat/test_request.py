"""Responses requests become Chat Completions requests (switchyard/bridges/responses_over_chat/request.py).

Golden files: `tests/golden/bridges/responses_over_chat/requests/<case>.in.json` is a Responses request
(the two `codex_turn*` cases are real Codex CLI 0.169.0 requests), `<case>.out.json` the Chat request
`to_chat` must make of it. Open them side by side to review a change.

When a change of output is intended, regenerate the expected files and review the diff:

    UPDATE_GOLDEN=1 .venv/bin/pytest tests/bridges/responses_over_chat/test_request.py
"""

from __future__ import annotations

import re

import golden_files
import orjson
import pytest
import type_swaps

from switchyard.bridges.responses_over_chat.request import DROPPED_ITEMS, flat_name, to_chat, tool_names
from switchyard.errors import RequestError

GOLDEN = golden_files.GOLDEN / "bridges" / "responses_over_chat" / "requests"
CASES = sorted(path.name.removesuffix(".in.json") for path in GOLDEN.glob("*.in.json"))


@pytest.mark.parametrize("case", CASES)
def test_each_golden_request_translates_to_its_expected_chat_request(case):
    body = orjson.loads((GOLDEN / f"{case}.in.json").read_bytes())
    golden_files.check(GOLDEN / f"{case}.out.json", to_chat(body))


def test_the_golden_folder_holds_the_codex_requests_and_the_focused_cases():
    assert {"codex_turn1", "codex_turn2", "string_input", "namespace", "custom_tool", "reasoning_items"} <= set(CASES)


def messages_of(*items, **fields) -> list[dict]:
    return to_chat({"model": "m", "input": list(items), **fields})["messages"]


def call(call_id: str, name: str = "f", arguments: str = "{}", **fields) -> dict:
    return {"type": "function_call", "call_id": call_id, "name": name, "arguments": arguments, **fields}


def output(call_id: str, text: str = "ok") -> dict:
    return {"type": "function_call_output", "call_id": call_id, "output": text}


def test_a_string_input_becomes_one_user_message():
    assert to_chat({"model": "m", "input": "hi"})["messages"] == [{"role": "user", "content": "hi"}]


def test_instructions_become_a_leading_system_message():
    messages = to_chat({"model": "m", "instructions": "Be brief.", "input": "hi"})["messages"]
    assert messages[0] == {"role": "system", "content": "Be brief."}


def test_the_developer_role_is_kept_for_packs_to_map():
    assert messages_of({"role": "developer", "content": "rules"})[0]["role"] == "developer"


def test_consecutive_function_calls_become_one_assistant_message():
    messages = messages_of({"role": "user", "content": "go"}, call("a"), call("b"), output("a"), output("b"))
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "tool"]
    assert [c["id"] for c in messages[1]["tool_calls"]] == ["a", "b"]


def test_a_function_call_joins_the_assistant_text_directly_before_it():
    text = {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Let me look."}]}
    messages = messages_of({"role": "user", "content": "go"}, text, call("a"), output("a"))
    assert messages[1]["content"] == "Let me look."
    assert messages[1]["tool_calls"][0]["id"] == "a"


def test_calls_after_a_tool_result_start_a_new_assistant_message():
    messages = messages_of({"role": "user", "content": "go"}, call("a"), output("a"), call("b"), output("b"))
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "assistant", "tool"]


def test_array_tool_outputs_are_joined_as_text():
    parts = [
        {"type": "input_text", "text": "one"},
        {"type": "input_image", "image_url": "x"},
        {"type": "input_text", "text": "two"},
    ]
    messages = messages_of(call("a"), {"type": "function_call_output", "call_id": "a", "output": parts})
    assert messages[-1] == {"role": "tool", "tool_call_id": "a", "content": "one\ntwo"}


def test_mixed_text_and_image_content_becomes_a_list_of_chat_parts():
    image = {"type": "input_image", "image_url": "https://x/y.png", "detail": "high"}
    content = messages_of({"role": "user", "content": [{"type": "input_text", "text": "see"}, image]})[0]["content"]
    assert content == [
        {"type": "text", "text": "see"},
        {"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "high"}},
    ]


def test_a_custom_tool_call_becomes_a_function_call_with_its_text_in_input():
    item = {"type": "custom_tool_call", "call_id": "p", "name": "apply_patch", "input": 'say "hi"\n'}
    messages = messages_of(item, {"type": "custom_tool_call_output", "call_id": "p", "output": "done"})
    function = messages[0]["tool_calls"][0]["function"]
    assert function["name"] == "apply_patch"
    assert orjson.loads(function["arguments"]) == {"input": 'say "hi"\n'}
    assert messages[1] == {"role": "tool", "tool_call_id": "p", "content": "done"}


def test_a_custom_tool_becomes_a_function_with_one_string_parameter():
    tool = {
        "type": "custom",
        "name": "apply_patch",
        "format": {"type": "grammar", "syntax": "lark", "definition": "start: x"},
    }
    function = to_chat({"model": "m", "input": "x", "tools": [tool]})["tools"][0]["function"]
    assert function["parameters"]["required"] == ["input"]
    assert function["parameters"]["properties"]["input"]["type"] == "string"
    assert "start: x" in function["parameters"]["properties"]["input"]["description"]


def test_reasoning_content_is_preferred_over_the_summary_and_lands_on_the_next_assistant_message():
    reasoning = {
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": "short"}],
        "content": [{"type": "reasoning_text", "text": "long"}],
    }
    messages = messages_of({"role": "user", "content": "go"}, reasoning, call("a"), output("a"))
    assert messages[1]["reasoning_content"] == "long"


def test_a_summary_only_reasoning_item_is_carried_too():
    reasoning = {"type": "reasoning", "summary": [{"type": "summary_text", "text": "short"}], "encrypted_content": "x"}
    answer = {"type": "message", "role": "assistant", "content": "done"}
    assert messages_of(reasoning, answer)[0] == {"role": "assistant", "content": "done", "reasoning_content": "short"}


def test_items_chat_cannot_express_are_dropped_by_a_listed_rule():
    items = [{"type": kind, "id": "x"} for kind in DROPPED_ITEMS]
    assert messages_of(*items, {"role": "user", "content": "hi"}) == [{"role": "user", "content": "hi"}]


def test_an_item_type_this_bridge_does_not_know_is_refused_naming_it_never_dropped():
    with pytest.raises(RequestError) as refused:
        to_chat({"model": "m", "input": [{"role": "user", "content": "hi"}, {"type": "brand_new"}]})
    assert refused.value.param == "input[1].type" and "'brand_new'" in refused.value.message


def test_additional_tools_items_join_the_chat_tools_and_their_calls_map_back():
    extra = {"type": "additional_tools", "role": "developer", "tools": [
        {"type": "namespace", "name": "mcp__files", "description": "Files.", "tools": [
            {"type": "function", "name": "read", "parameters": {"type": "object", "properties": {}}}]},
        {"type": "function", "name": "exec_command", "parameters": {"type": "object"}}]}  # fmt: skip
    body = {"model": "m", "input": [extra, {"role": "user", "content": "hi"}]}
    chat = to_chat(body)
    assert [t["function"]["name"] for t in chat["tools"]] == ["mcp__files__read", "exec_command"]
    assert chat["messages"] == [{"role": "user", "content": "hi"}]
    assert tool_names(body)["mcp__files__read"] == ("mcp__files", "read", "function")


def test_a_client_tool_search_round_trip_becomes_a_tool_call_and_its_loaded_tools_join_the_chat_tools():
    search = {"type": "tool_search", "execution": "client", "description": "Find tools.",
              "parameters": {"type": "object", "properties": {"query": {"type": "string"}}}}  # fmt: skip
    loaded = {"type": "function", "name": "deploy", "parameters": {"type": "object"}}
    body = {
        "model": "m",
        "tools": [search],
        "input": [
            {"role": "user", "content": "deploy it"},
            {"type": "tool_search_call", "call_id": "ts_1", "execution": "client", "arguments": {"query": "deploy"}},
            {"type": "tool_search_output", "call_id": "ts_1", "execution": "client", "tools": [loaded]},
        ],
    }
    chat = to_chat(body)
    assert [t["function"]["name"] for t in chat["tools"]] == ["tool_search", "deploy"]
    assert chat["messages"][1] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "ts_1", "type": "function", "function": {"name": "tool_search", "arguments": '{"query":"deploy"}'}}
        ],
    }
    assert chat["messages"][2] == {"role": "tool", "tool_call_id": "ts_1", "content": "Loaded tools: deploy"}
    assert tool_names(body)["tool_search"] == (None, "tool_search", "tool_search")


def test_namespaced_tools_are_flattened_and_their_calls_get_the_same_name():
    tools = [{"type": "namespace", "name": "crm", "tools": [{"type": "function", "name": "lookup"}]}]
    chat = to_chat({"model": "m", "input": [call("a", "lookup", namespace="crm"), output("a")], "tools": tools})
    assert chat["tools"][0]["function"]["name"] == "crm__lookup"
    assert chat["messages"][0]["tool_calls"][0]["function"]["name"] == "crm__lookup"
    assert tool_names({"tools": tools}) == {"crm__lookup": ("crm", "lookup", "function")}


def test_flattened_names_always_fit_the_upstream_pattern_and_stay_distinct():
    long_a, long_b = flat_name("mcp__" + "s" * 70, "tool_a"), flat_name("mcp__" + "s" * 70, "tool_b")
    dotted = flat_name("my.server", "get")
    for name in (long_a, long_b, dotted):
        assert re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", name)
    assert long_a != long_b
    assert flat_name("my.server", "get") == dotted  # deterministic


def test_tool_names_tells_custom_tools_from_functions():
    tools = [{"type": "custom", "name": "apply_patch"}, {"type": "function", "name": "ls"}, {"type": "web_search"}]
    assert tool_names({"tools": tools}) == {
        "apply_patch": (None, "apply_patch", "custom"),
        "ls": (None, "ls", "function"),
    }


def test_built_in_tools_pass_through_unchanged():
    tool = {"type": "web_search", "external_web_access": False}
    assert to_chat({"model": "m", "input": "x", "tools": [tool]})["tools"] == [tool]


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("required", "required"),
        ({"type": "function", "name": "f"}, {"type": "function", "function": {"name": "f"}}),
        ({"type": "custom", "name": "p"}, {"type": "function", "function": {"name": "p"}}),
        ({"type": "function", "namespace": "ns", "name": "f"}, {"type": "function", "function": {"name": "ns__f"}}),
        (
            {"type": "allowed_tools", "mode": "auto", "tools": [{"type": "function", "name": "f"}]},
            {
                "type": "allowed_tools",
                "allowed_tools": {"mode": "auto", "tools": [{"type": "function", "function": {"name": "f"}}]},
            },
        ),
        ({"type": "web_search_preview"}, {"type": "web_search_preview"}),
    ],
    ids=["string", "function", "custom", "namespaced", "allowed_tools", "built_in"],
)
def test_tool_choice_takes_the_chat_form(choice, expected):
    assert to_chat({"model": "m", "input": "x", "tool_choice": choice})["tool_choice"] == expected


def test_a_flat_json_schema_format_is_nested_under_json_schema():
    fmt = {"type": "json_schema", "name": "p", "schema": {"type": "object"}, "strict": True}
    chat = to_chat({"model": "m", "input": "x", "text": {"format": fmt, "verbosity": "low"}})
    assert chat["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "p", "schema": {"type": "object"}, "strict": True},
    }
    assert chat["verbosity"] == "low"
    assert "text" not in chat


def test_output_limits_and_effort_are_renamed_and_the_rest_of_reasoning_dropped():
    chat = to_chat(
        {"model": "m", "input": "x", "max_output_tokens": 99, "reasoning": {"effort": "high", "summary": "auto"}}
    )
    assert chat["max_tokens"] == 99 and chat["reasoning_effort"] == "high"
    assert "reasoning" not in chat and "max_output_tokens" not in chat


def test_unknown_fields_pass_through_for_packs_to_judge():
    body = {"model": "m", "input": "x", "store": False, "include": ["a"], "client_metadata": {"k": "v"}, "x_new": 1}
    chat = to_chat(body)
    assert {key: chat[key] for key in ("store", "include", "client_metadata", "x_new")} == {
        "store": False,
        "include": ["a"],
        "client_metadata": {"k": "v"},
        "x_new": 1,
    }


def test_streaming_requests_ask_for_usage_and_others_carry_no_stream_options():
    assert to_chat({"model": "m", "input": "x", "stream": True})["stream_options"] == {"include_usage": True}
    assert "stream_options" not in to_chat(
        {"model": "m", "input": "x", "stream_options": {"include_obfuscation": True}}
    )


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "m", "input": 42}, "input"),
        ({"model": "m", "input": "x", "previous_response_id": "resp_1"}, "previous_response_id"),
        ({"model": "m", "input": "x", "conversation": "conv_1"}, "conversation"),
        ({"model": "m", "input": [{"role": "user", "content": [{"type": "input_audio"}]}]}, "input[0].content[0]"),
        (
            {"model": "m", "input": [{"role": "user", "content": [{"type": "input_image", "file_id": "f"}]}]},
            "input[0].content[0]",
        ),
        ({"model": "m", "input": [{"role": "robot", "content": "x"}]}, "input[0].role"),
        ({"model": "m", "input": []}, "input"),
    ],
    ids=["input_type", "previous_response_id", "conversation", "audio_part", "image_file_id", "role", "empty"],
)
def test_a_body_that_cannot_be_translated_is_refused_with_the_param_named(body, param):
    with pytest.raises(RequestError) as refused:
        to_chat(body)
    assert refused.value.param == param
    assert refused.value.status == 400


def test_the_client_body_is_not_modified():
    body = {
        "model": "m",
        "input": [call("a"), output("a")],
        "tools": [{"type": "function", "name": "f"}],
        "stream": True,
    }
    before = orjson.dumps(body)
    to_chat(body)
    assert orjson.dumps(body) == before


# -- bodies of the wrong shape: always a 400 naming the parameter, never a crash

NAMESPACE = {"type": "namespace", "name": "mcp__fs", "tools": [{"type": "function", "name": "read"}]}


def with_input(*items) -> dict:
    return {"model": "m", "input": list(items)}


def user(*parts) -> dict:
    return {"role": "user", "content": list(parts)}


MALFORMED = {
    "tools_element_not_an_object": ({"model": "m", "input": "x", "tools": ["x"]}, "tools[0]"),
    "tools_not_an_array": ({"model": "m", "input": "x", "tools": 7}, "tools"),
    "namespace_tool_not_an_object": (
        {"model": "m", "input": "x", "tools": [{**NAMESPACE, "tools": ["x"]}]},
        "tools[0].tools[0]",
    ),
    "namespace_tools_not_an_array": (
        {"model": "m", "input": "x", "tools": [{**NAMESPACE, "tools": "x"}]},
        "tools[0].tools",
    ),
    "namespace_name_not_a_string": ({"model": "m", "input": "x", "tools": [{**NAMESPACE, "name": 7}]}, "tools[0].name"),
    "namespace_holding_a_built_in": (
        {"model": "m", "input": "x", "tools": [{**NAMESPACE, "tools": [{"type": "web_search"}]}]},
        "tools[0].tools[0].type",
    ),
    "allowed_tools_element_not_an_object": (
        {"model": "m", "input": "x", "tool_choice": {"type": "allowed_tools", "mode": "auto", "tools": ["x"]}},
        "tool_choice.tools[0]",
    ),
    "allowed_tools_not_an_array": (
        {"model": "m", "input": "x", "tool_choice": {"type": "allowed_tools", "tools": 7}},
        "tool_choice.tools",
    ),
    "tool_choice_name_not_a_string": (
        {"model": "m", "input": "x", "tool_choice": {"type": "function", "name": 7}},
        "tool_choice.name",
    ),
    "tool_choice_namespace_not_a_string": (
        {"model": "m", "input": "x", "tool_choice": {"type": "function", "name": "f", "namespace": []}},
        "tool_choice.namespace",
    ),
    "stream_options_not_an_object": (
        {"model": "m", "input": "x", "stream": True, "stream_options": "x"},
        "stream_options",
    ),
    "text_not_an_object": ({"model": "m", "input": "x", "text": "x"}, "text"),
    "text_format_not_an_object": ({"model": "m", "input": "x", "text": {"format": "json_object"}}, "text.format"),
    "reasoning_not_an_object": ({"model": "m", "input": "x", "reasoning": "x"}, "reasoning"),
    "instructions_not_a_string": ({"model": "m", "input": "x", "instructions": ["x"]}, "instructions"),
    "input_item_not_an_object": (with_input("x"), "input[0]"),
    "input_item_type_not_a_string": (with_input({"type": [], "role": "user", "content": "x"}), "input[0].type"),
    "content_part_not_an_object": (with_input(user("x")), "input[0].content[0]"),
    "content_part_text_not_a_string": (with_input(user({"type": "input_text", "text": 7})), "input[0].content[0].text"),
    "refusal_not_a_string": (
        with_input({"role": "assistant", "content": [{"type": "refusal", "refusal": {}}]}),
        "input[0].content[0].refusal",
    ),
    "image_url_not_a_string": (
        with_input(user({"type": "input_image", "image_url": {"url": "u"}})),
        "input[0].content[0].image_url",
    ),
    "call_namespace_not_a_string": (with_input({**call("a"), "namespace": 7}), "input[0].namespace"),
    "call_id_not_a_string": (with_input({**call("a"), "call_id": ["a"]}), "input[0].call_id"),
    "output_call_id_not_a_string": (with_input(call("a"), {**output("a"), "call_id": 7}), "input[1].call_id"),
    "output_part_text_not_a_string": (
        with_input(call("a"), {**output("a"), "output": [{"type": "input_text", "text": 7}]}),
        "input[1].output[0].text",
    ),
    "reasoning_content_not_an_array": (
        with_input({"type": "reasoning", "summary": [], "content": 7}),
        "input[0].content",
    ),
    "reasoning_text_not_a_string": (
        with_input({"type": "reasoning", "summary": [{"type": "summary_text", "text": ["x"]}]}),
        "input[0].summary[0].text",
    ),
}


@pytest.mark.parametrize(("body", "param"), MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_body_is_refused_with_a_request_error_naming_the_parameter(body, param):
    with pytest.raises(RequestError) as refused:
        to_chat(body)
    assert (refused.value.status, refused.value.param) == (400, param)


def test_type_swapped_golden_bodies_are_translated_or_refused_but_never_crash_either_half_of_the_bridge():
    from switchyard.bridges.responses_over_chat.stream import ResponsesStream

    bodies = {path.name: orjson.loads(path.read_bytes()) for path in GOLDEN.glob("*.in.json")}
    answer = {"choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": "stop"}], "usage": {}}
    for label, body in type_swaps.variants(bodies, count=3000, seed=7):
        try:
            orjson.dumps(to_chat(body))
        except RequestError:
            continue
        except Exception as exc:
            pytest.fail(f"{label}: {type(exc).__name__}: {exc}")
        try:
            stream = ResponsesStream(body)  # what the server makes for the same client body, on the way back
            orjson.dumps(stream.feed(answer) + stream.close())
        except Exception as exc:
            pytest.fail(f"{label}: the stream side: {type(exc).__name__}: {exc}")
