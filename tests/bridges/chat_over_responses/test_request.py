"""Chat requests become Responses requests the strict upstream accepts (switchyard.bridges.chat_over_responses.request).

Golden files: `golden/bridge/chat_over_responses/requests/<case>.in.json` is a Chat body, `<case>.out.json`
the Responses body it must translate to; open them side by side. When a change of output is intended,
regenerate the expected files and review the diff before committing:

    UPDATE_GOLDEN=1 .venv/bin/pytest tests/bridges/chat_over_responses/test_request.py

Every golden translation is also sent through the strict fake's validator, so a golden that encodes a
shape OpenAI rejects cannot be blessed by accident.
"""

from __future__ import annotations

import copy
import json

import golden_files
import pytest
import type_swaps
from fakes.responses_provider import check_openai

from switchyard.bridges.chat_over_responses.request import to_responses
from switchyard.bridges.chat_over_responses.stream import ChatStream
from switchyard.errors import RequestError

FOLDER = golden_files.GOLDEN / "bridges" / "chat_over_responses" / "requests"
CASES = sorted(path.name.removesuffix(".in.json") for path in FOLDER.glob("*.in.json"))
USER = {"role": "user", "content": "hi"}


@pytest.mark.parametrize("case", CASES)
def test_each_golden_request_translates_to_its_expected_body(case):
    body = json.loads((FOLDER / f"{case}.in.json").read_text())
    golden_files.check(FOLDER / f"{case}.out.json", to_responses(body))


@pytest.mark.parametrize("case", CASES)
def test_each_golden_translation_is_accepted_by_the_strict_fake(case):
    body = json.loads((FOLDER / f"{case}.in.json").read_text())
    assert check_openai(to_responses(body)) is None


def test_the_golden_folder_holds_every_case_the_bridge_must_cover():
    assert len(CASES) >= 11


# -- the bugs other bridges shipped


def test_assistant_content_is_sent_as_output_text():
    body = {
        "model": "m",
        "messages": [
            USER,
            {"role": "assistant", "content": "as a string"},
            USER,
            {"role": "assistant", "content": [{"type": "text", "text": "as parts"}]},
            USER,
        ],
    }
    assistants = [item for item in to_responses(body)["input"] if item.get("role") == "assistant"]
    parts = [part for item in assistants for part in item["content"]]
    assert parts == [{"type": "output_text", "text": "as a string"}, {"type": "output_text", "text": "as parts"}]
    assert check_openai(to_responses(body)) is None


def test_tool_choice_naming_a_function_is_sent_flat():
    body = {"model": "m", "messages": [USER], "tool_choice": {"type": "function", "function": {"name": "get_weather"}}}
    assert to_responses(body)["tool_choice"] == {"type": "function", "name": "get_weather"}


def test_the_clients_metadata_is_forwarded_exactly_as_sent():
    metadata = {"team": "search", "ticket": "SY-12"}
    assert to_responses({"model": "m", "messages": [USER], "metadata": metadata})["metadata"] == metadata


def test_no_metadata_is_added_when_the_client_sent_none():
    body = {"model": "m", "messages": [USER], "user": "u1", "stream": True, "stream_options": {"include_usage": True}}
    assert "metadata" not in to_responses(body)


# -- messages


def test_leading_system_and_developer_messages_become_instructions():
    body = {
        "model": "m",
        "messages": [{"role": "system", "content": "One."}, {"role": "developer", "content": "Two."}, USER],
    }
    out = to_responses(body)
    assert out["instructions"] == "One.\n\nTwo."
    assert [item["role"] for item in out["input"]] == ["user"]


def test_a_later_developer_message_keeps_its_place_in_the_input():
    body = {"model": "m", "messages": [USER, {"role": "developer", "content": "Now in German."}, USER]}
    out = to_responses(body)
    assert "instructions" not in out
    assert out["input"][1] == {
        "type": "message",
        "role": "developer",
        "content": [{"type": "input_text", "text": "Now in German."}],
    }


def test_user_text_and_images_become_input_parts_with_a_detail():
    content = [{"type": "text", "text": "Look"}, {"type": "image_url", "image_url": {"url": "https://x/a.png"}}]
    parts = to_responses({"model": "m", "messages": [{"role": "user", "content": content}]})["input"][0]["content"]
    assert parts == [
        {"type": "input_text", "text": "Look"},
        {"type": "input_image", "image_url": "https://x/a.png", "detail": "auto"},
    ]


def test_assistant_tool_calls_and_tool_results_become_call_items_and_outputs():
    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}}
    body = {
        "model": "m",
        "messages": [
            USER,
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "call_1", "content": "42"},
        ],
    }
    assert to_responses(body)["input"][1:] == [
        {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": '{"a":1}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "42"},
    ]


def test_input_is_always_a_list():
    assert to_responses({"model": "m", "messages": []})["input"] == []
    assert isinstance(to_responses({"model": "m", "messages": [USER]})["input"], list)


# -- other fields


def test_function_tools_are_flattened_and_not_strict_unless_asked():
    tool = {"type": "function", "function": {"name": "f", "description": "d", "parameters": {"type": "object"}}}
    assert to_responses({"model": "m", "messages": [USER], "tools": [tool]})["tools"] == [
        {"type": "function", "name": "f", "description": "d", "parameters": {"type": "object"}, "strict": False}
    ]


def test_max_tokens_becomes_max_output_tokens():
    out = to_responses({"model": "m", "messages": [USER], "max_tokens": 300})
    assert out["max_output_tokens"] == 300
    assert "max_tokens" not in out


def test_a_json_schema_response_format_is_flattened_into_text_format():
    fmt = {"type": "json_schema", "json_schema": {"name": "p", "schema": {"type": "object"}, "strict": True}}
    out = to_responses({"model": "m", "messages": [USER], "response_format": fmt})
    assert out["text"] == {"format": {"type": "json_schema", "name": "p", "schema": {"type": "object"}, "strict": True}}


def test_reasoning_effort_and_verbosity_move_under_reasoning_and_text():
    out = to_responses({"model": "m", "messages": [USER], "reasoning_effort": "low", "verbosity": "high"})
    assert (out["reasoning"], out["text"]) == ({"effort": "low"}, {"verbosity": "high"})


def test_chat_only_sampling_fields_and_stream_options_are_not_forwarded():
    dropped = {"stop": ["x"], "seed": 1, "frequency_penalty": 1, "presence_penalty": 1, "logit_bias": {}, "n": 1}
    out = to_responses({"model": "m", "messages": [USER], "stream_options": {"include_usage": True}, **dropped})
    assert not set(out) & {*dropped, "stream_options"}


def test_store_defaults_to_false_as_in_chat_but_the_clients_choice_wins():
    assert to_responses({"model": "m", "messages": [USER]})["store"] is False
    assert to_responses({"model": "m", "messages": [USER], "store": True})["store"] is True


def test_unknown_fields_pass_through_for_packs_and_responses_only_features():
    out = to_responses({"model": "m", "messages": [USER], "include": ["reasoning.encrypted_content"]})
    assert out["include"] == ["reasoning.encrypted_content"]


def test_the_clients_body_is_not_modified():
    body = json.loads((FOLDER / "twenty_turn_conversation_with_tools.in.json").read_text())
    before = copy.deepcopy(body)
    to_responses(body)
    assert body == before


# -- refusals


def test_more_than_one_choice_is_refused_with_param_n():
    with pytest.raises(RequestError) as raised:
        to_responses({"model": "m", "messages": [USER], "n": 2})
    assert (raised.value.status, raised.value.param) == (400, "n")


@pytest.mark.parametrize(
    ("field", "value"),
    [("functions", [{"name": "f"}]), ("audio", {"voice": "alloy"}), ("web_search_options", {})],
)
def test_fields_whose_loss_would_change_the_answer_are_refused(field, value):
    with pytest.raises(RequestError) as raised:
        to_responses({"model": "m", "messages": [USER], field: value})
    assert raised.value.param == field


def test_audio_input_is_refused_naming_the_part():
    content = [{"type": "input_audio", "input_audio": {"data": "", "format": "wav"}}]
    with pytest.raises(RequestError) as raised:
        to_responses({"model": "m", "messages": [{"role": "user", "content": content}]})
    assert raised.value.param == "messages[0].content[0].type"


def test_a_body_without_messages_is_refused():
    with pytest.raises(RequestError) as raised:
        to_responses({"model": "m"})
    assert raised.value.param == "messages"


# -- bodies of the wrong shape: always a 400 naming the parameter, never a crash


def body_with(**fields) -> dict:
    return {"model": "m", "messages": [USER], **fields}


def assistant(**fields) -> dict:
    return {"role": "assistant", "content": None, **fields}


CALL = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}

MALFORMED = {
    "body_not_an_object": (["x"], None),
    "tools_element_not_an_object": (body_with(tools=["x"]), "tools[0]"),
    "tools_not_an_array": (body_with(tools=7), "tools"),
    "function_not_an_object": (body_with(tools=[{"type": "function", "function": "f"}]), "tools[0].function"),
    "custom_not_an_object": (body_with(tools=[{"type": "custom", "custom": "c"}]), "tools[0].custom"),
    "custom_format_not_an_object": (
        body_with(tools=[{"type": "custom", "custom": {"name": "c", "format": "grammar"}}]),
        "tools[0].custom.format",
    ),
    "response_format_not_an_object": (body_with(response_format="json_object"), "response_format"),
    "stream_options_not_an_object": (body_with(stream=True, stream_options="x"), "stream_options"),
    "text_not_an_object": (body_with(text="x"), "text"),
    "reasoning_not_an_object": (body_with(reasoning="x", reasoning_effort="low"), "reasoning"),
    "modalities_not_an_array": (body_with(modalities=7), "modalities"),
    "allowed_tools_element_not_an_object": (
        body_with(tool_choice={"type": "allowed_tools", "allowed_tools": {"mode": "auto", "tools": ["x"]}}),
        "tool_choice.allowed_tools.tools[0]",
    ),
    "message_not_an_object": ({"model": "m", "messages": ["x"]}, "messages[0]"),
    "user_part_not_an_object": (
        {"model": "m", "messages": [{"role": "user", "content": ["x"]}]},
        "messages[0].content[0]",
    ),
    "user_part_text_not_a_string": (
        {"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": 7}]}]},
        "messages[0].content[0].text",
    ),
    "user_file_not_an_object": (
        {"model": "m", "messages": [{"role": "user", "content": [{"type": "file", "file": "f"}]}]},
        "messages[0].content[0].file",
    ),
    "system_part_not_an_object": (
        {"model": "m", "messages": [{"role": "system", "content": [7]}, USER]},
        "messages[0].content[0]",
    ),
    "assistant_part_not_an_object": (
        {"model": "m", "messages": [USER, assistant(content=["x"])]},
        "messages[1].content[0]",
    ),
    "assistant_refusal_not_a_string": (
        {"model": "m", "messages": [USER, assistant(refusal=["no"])]},
        "messages[1].refusal",
    ),
    "tool_calls_element_not_an_object": (
        {"model": "m", "messages": [USER, assistant(tool_calls=["x"])]},
        "messages[1].tool_calls[0]",
    ),
    "tool_calls_not_an_array": ({"model": "m", "messages": [USER, assistant(tool_calls=7)]}, "messages[1].tool_calls"),
    "tool_call_function_not_an_object": (
        {"model": "m", "messages": [USER, assistant(tool_calls=[{**CALL, "function": "f"}])]},
        "messages[1].tool_calls[0].function",
    ),
    "tool_call_id_not_a_string": (
        {"model": "m", "messages": [USER, assistant(tool_calls=[{**CALL, "id": ["c1"]}])]},
        "messages[1].tool_calls[0].id",
    ),
    "tool_call_arguments_not_a_string": (
        {
            "model": "m",
            "messages": [USER, assistant(tool_calls=[{**CALL, "function": {"name": "f", "arguments": {}}}])],
        },
        "messages[1].tool_calls[0].function.arguments",
    ),
    "tool_call_id_of_a_result_not_a_string": (
        {
            "model": "m",
            "messages": [USER, assistant(tool_calls=[CALL]), {"role": "tool", "tool_call_id": [], "content": "ok"}],
        },
        "messages[2].tool_call_id",
    ),
}


@pytest.mark.parametrize(("body", "param"), MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_body_is_refused_with_a_request_error_naming_the_parameter(body, param):
    with pytest.raises(RequestError) as raised:
        to_responses(body)
    assert (raised.value.status, raised.value.param) == (400, param)


def test_type_swapped_golden_bodies_are_translated_or_refused_but_never_crash_either_half_of_the_bridge():
    bodies = {path.name: json.loads(path.read_text()) for path in FOLDER.glob("*.in.json")}
    events = [
        {"type": "response.created", "response": {"model": "m"}},
        {"type": "response.output_text.delta", "item_id": "msg_1", "delta": "hi"},
        {"type": "response.completed", "response": {"status": "completed", "output": [], "usage": {"input_tokens": 1}}},
    ]
    for label, body in type_swaps.variants(bodies, count=3000, seed=7):
        try:
            json.dumps(to_responses(body))
        except RequestError:
            continue
        except Exception as exc:
            pytest.fail(f"{label}: {type(exc).__name__}: {exc}")
        try:
            stream = ChatStream(body)  # what the server makes for the same client body, on the way back
            json.dumps([chunk for event in events for chunk in stream.feed(event)])
        except Exception as exc:
            pytest.fail(f"{label}: the stream side: {type(exc).__name__}: {exc}")


def test_an_assistant_content_part_that_is_not_text_or_a_refusal_is_refused_not_dropped():
    image = {"type": "image_url", "image_url": {"url": "https://x/y.png"}}
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": [image]}]}
    with pytest.raises(RequestError) as refused:
        to_responses(body)
    assert refused.value.param == "messages[1].content[0].type"
