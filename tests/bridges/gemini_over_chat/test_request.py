"""Gemini requests become Chat Completions requests (switchyard/bridges/gemini_over_chat/request.py).

Golden files: `tests/golden/bridges/gemini_over_chat/requests/<case>.in.json` is a Gemini request body
with the facts of its URL (`model`, `stream`, `alt`), `<case>.out.json` the Chat request `to_chat` must
make of it. The three `gemini_cli_*` cases read their input from the real captures in
`tests/fixtures/gemini-cli-0.61.0/` (Gemini CLI 0.61.0's router call, first and second turn), their
facts read off the captured path and query by the protocol's own route reader, and keep only their
expected output here. Every input is also read by the google-genai SDK's types (`gemini_types.request`):
the cases are requests Gemini itself would take.

    UPDATE_GOLDEN=1 .venv/bin/pytest tests/bridges/gemini_over_chat/test_request.py
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

import gemini_types
import golden_files
import jsonschema
import orjson
import pytest
import type_swaps
from fakes.chat_provider import text_chunks, validate

from switchyard.bridges.gemini_over_chat.request import (
    DROPPED_CONFIG,
    DROPPED_FIELDS,
    DROPPED_FUNCTION_FIELDS,
    DROPPED_PART_FIELDS,
    REFUSED_FIELDS,
    to_chat,
)
from switchyard.bridges.gemini_over_chat.schema import to_json_schema
from switchyard.bridges.gemini_over_chat.stream import GeminiStream
from switchyard.errors import RequestError
from switchyard.protocols.gemini.routes import read_route

GOLDEN = golden_files.GOLDEN / "bridges" / "gemini_over_chat" / "requests"
CAPTURES = golden_files.FIXTURES / "gemini-cli-0.61.0"
CAPTURED = {f"gemini_cli_{name}": CAPTURES / f"{name}-request.json" for name in ("router", "turn1", "turn2")}
CASES = sorted([*CAPTURED, *(path.name.removesuffix(".in.json") for path in GOLDEN.glob("*.in.json"))])


def captured(path) -> dict:
    """A captured request's body with the facts its path and query stand for, as the server reads them."""
    capture = json.loads(path.read_text(encoding="utf-8"))
    routed = read_route(capture["path"], urlencode(capture["query"]))
    body = capture["body"]
    for key, value in routed.facts.items():
        if value is not None:
            body[key] = value
    return body


def source(case: str) -> dict:
    if case in CAPTURED:
        return captured(CAPTURED[case])
    return orjson.loads((GOLDEN / f"{case}.in.json").read_bytes())


@pytest.mark.parametrize("case", CASES)
def test_each_golden_request_translates_to_its_expected_chat_request(case):
    body = source(case)
    gemini_types.request({k: v for k, v in body.items() if k != "user"})
    golden_files.check(GOLDEN / f"{case}.out.json", to_chat(body))


def test_gemini_clis_turns_keep_every_tool_and_the_system_instruction_and_ask_for_usage():
    for case in ("gemini_cli_turn1", "gemini_cli_turn2"):
        body = source(case)
        out = to_chat(body)
        declared = [f["name"] for f in body["tools"][0]["functionDeclarations"]]
        assert [t["function"]["name"] for t in out["tools"]] == declared
        assert out["messages"][0]["role"] == "system" and "Gemini CLI" in out["messages"][0]["content"]
        assert out["model"] == "gemini-3.1-pro-preview" and out["stream"] is True
        assert out["stream_options"] == {"include_usage": True} and out["reasoning_effort"] == "high"
        # What a strict Chat provider accepts once a pack keeps its own fields (DashScope's allowlist, here).
        validate({k: v for k, v in out.items() if k != "reasoning_effort"})


def test_the_second_turn_sends_the_call_and_its_result_paired_by_the_clis_id():
    messages = to_chat(source("gemini_cli_turn2"))["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "tool"]
    call = messages[2]["tool_calls"][0]
    assert call["id"] == "list_directory_1796606611413_0" == messages[3]["tool_call_id"]
    assert orjson.loads(call["function"]["arguments"]) == {"dir_path": "."}
    assert messages[3]["content"].startswith("Directory listing for /home/user/project")


def test_the_routers_upper_case_schema_becomes_json_schema_its_answer_is_checked_against():
    out = to_chat(source("gemini_cli_router"))
    assert out["stream"] is False and "stream_options" not in out
    schema = out["response_format"]["json_schema"]["schema"]
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate({"complexity_reasoning": "A listing.", "complexity_score": 5}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"complexity_reasoning": "A listing.", "complexity_score": "5"}, schema)


def test_an_openapi_schema_becomes_json_schema():
    assert to_json_schema(
        {"type": "OBJECT", "nullable": True, "propertyOrdering": ["a"], "example": {"a": "x"},
         "properties": {"a": {"type": "STRING", "nullable": True}, "b": {"anyOf": [{"type": "INTEGER"}]},
                        "type": {"type": "ARRAY", "items": {"type": "NUMBER"}}}}
    ) == {"type": ["object", "null"], "examples": [{"a": "x"}],
          "properties": {"a": {"type": ["string", "null"]}, "b": {"anyOf": [{"type": "integer"}]},
                         "type": {"type": "array", "items": {"type": "number"}}}}  # fmt: skip
    assert to_json_schema({"nullable": True, "description": "d"}) == {"anyOf": [{"description": "d"}, {"type": "null"}]}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"contents": "hi"}, "contents"),
        ({"contents": [{"role": "system", "parts": [{"text": "x"}]}]}, "contents[0].role"),
        ({"contents": [{"role": "user", "parts": [{"executableCode": {"code": "1"}}]}]},
         "contents[0].parts[0].executableCode"),
        ({"contents": [{"role": "model", "parts": [{"codeExecutionResult": {"output": "1"}}]}]},
         "contents[0].parts[0]"),
        ({"contents": [{"role": "user", "parts": [{"fileData": {"fileUri": "https://generativelanguage.googleapis.com/v1beta/files/a"}}]}]},
         "contents[0].parts[0].fileData.fileUri"),
        ({"contents": [{"role": "user", "parts": [{"inlineData": {"mimeType": "video/mp4", "data": "AA=="}}]}]},
         "contents[0].parts[0].inlineData.mimeType"),
        ({"contents": [{"role": "user", "parts": [{"text": "a", "thought": True}]}]}, "contents[0].parts[0].thought"),
        ({"contents": [{"role": "user", "parts": [{"text": "a", "mystery": 1}]}]}, "contents[0].parts[0].mystery"),
        ({"contents": [{"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {}}}]}]},
         "contents[0].parts[0].functionResponse.name"),
        ({"cachedContent": "cachedContents/abc"}, "cachedContent"),
        ({"tools": [{"googleSearch": {}}]}, "tools[0].googleSearch"),
        ({"tools": [{"codeExecution": {}}]}, "tools[0].codeExecution"),
        ({"tools": [{"functionDeclarations": [{"name": "f", "parameters": {}, "parametersJsonSchema": {}}]}]},
         "tools[0].functionDeclarations[0].parameters"),
        ({"tools": [{"functionDeclarations": [{"description": "no name"}]}]}, "tools[0].functionDeclarations[0].name"),
        ({"toolConfig": {"retrievalConfig": {}}}, "toolConfig.retrievalConfig"),
        ({"toolConfig": {"functionCallingConfig": {"mode": "SOMETIMES"}}}, "toolConfig.functionCallingConfig.mode"),
        ({"toolConfig": {"functionCallingConfig": {"mode": "AUTO", "allowedFunctionNames": ["f"]}}},
         "toolConfig.functionCallingConfig.allowedFunctionNames"),
        ({"generationConfig": {"candidateCount": 2}}, "generationConfig.candidateCount"),
        ({"generationConfig": {"responseLogprobs": True}}, "generationConfig.responseLogprobs"),
        ({"generationConfig": {"speechConfig": {}}}, "generationConfig.speechConfig"),
        ({"generationConfig": {"responseModalities": ["IMAGE"]}}, "generationConfig.responseModalities"),
        ({"generationConfig": {"responseMimeType": "text/x.enum"}}, "generationConfig.responseMimeType"),
        ({"generationConfig": {"responseJsonSchema": {"type": "object"}}}, "generationConfig.responseMimeType"),
        ({"generationConfig": {"thinkingConfig": {"thinkingBudget": 10, "thinkingLevel": "LOW"}}},
         "generationConfig.thinkingConfig.thinkingLevel"),
        ({"generationConfig": {"thinkingConfig": {"thinkingLevel": "EXTREME"}}},
         "generationConfig.thinkingConfig.thinkingLevel"),
    ],
)  # fmt: skip
def test_what_chat_cannot_express_is_refused_with_a_400_naming_it(body, param):
    with pytest.raises(RequestError) as refused:
        to_chat({"model": "m", "contents": [{"role": "user", "parts": [{"text": "hi"}]}], **body})
    assert refused.value.status == 400 and refused.value.param == param


def test_the_dropped_and_refused_lists_are_documented():
    doc = (golden_files.ROOT / "docs" / "bridges.md").read_text(encoding="utf-8")
    for field in [*DROPPED_FIELDS, *REFUSED_FIELDS, *DROPPED_CONFIG, *DROPPED_PART_FIELDS, *DROPPED_FUNCTION_FIELDS]:
        assert f"`{field}`" in doc, field


def test_every_type_swap_of_the_golden_inputs_is_a_400_or_a_translation_never_a_crash():
    bodies = {case: source(case) for case in CASES if case not in CAPTURED}
    answer = text_chunks("ok", reasoning=("hm",))
    for label, body in type_swaps.variants(bodies, count=3000, seed=24):
        try:
            orjson.dumps(to_chat(body))
        except RequestError:
            continue
        except Exception as exc:
            pytest.fail(f"{label}: {type(exc).__name__}: {exc}")
        try:
            stream = GeminiStream(body)
            orjson.dumps([e for chunk in answer for e in stream.feed(chunk)] + stream.close())
        except Exception as exc:
            pytest.fail(f"{label}: the stream side: {type(exc).__name__}: {exc}")
