"""Every input item type and tool type a bridge meets is translated, dropped by a listed rule, or refused.

The types are the ones docs/reference/protocols.md lists (the Responses `ResponseInputItem` union, the
types Codex sends) and the ones in the Codex captures. For each, the Responses -> Chat bridge must
do one of three things, never a fourth: translate it into something the Chat request carries, drop
it by a rule in `DROPPED_ITEMS` (documented in docs/bridges.md), or refuse it with a 400 naming it.

The Gemini -> Chat bridge is held to the same rule for every field the google-genai SDK's own types
know (`Part`, `Tool`, the configs, `FunctionDeclaration`): when Google adds one, it shows up here.
"""

from __future__ import annotations

import json

import golden_files
import pytest

from switchyard.bridges.chat_over_responses.request import to_responses
from switchyard.bridges.responses_over_chat.request import DROPPED_ITEMS, to_chat
from switchyard.errors import RequestError

USER = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}

# Items the bridge translates, with what must show in the Chat request.
TRANSLATED = {
    "message": (USER, lambda chat: chat["messages"][-1]["content"] == "hi"),
    "reasoning": (
        {"type": "reasoning", "summary": [{"type": "summary_text", "text": "thought"}]},
        lambda chat: True,  # carried on the next assistant message; nothing to say on its own
    ),
    "function_call": (
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
        lambda chat: chat["messages"][-1]["tool_calls"][0]["function"]["name"] == "f",
    ),
    "function_call_output": (
        {"type": "function_call_output", "call_id": "c1", "output": "done"},
        lambda chat: chat["messages"][-1] == {"role": "tool", "tool_call_id": "c1", "content": "done"},
    ),
    "custom_tool_call": (
        {"type": "custom_tool_call", "call_id": "c2", "name": "apply_patch", "input": "*** Begin Patch"},
        lambda chat: "Begin Patch" in chat["messages"][-1]["tool_calls"][0]["function"]["arguments"],
    ),
    "custom_tool_call_output": (
        {"type": "custom_tool_call_output", "call_id": "c2", "output": "applied"},
        lambda chat: chat["messages"][-1]["content"] == "applied",
    ),
    "tool_search_call": (
        {"type": "tool_search_call", "call_id": "t1", "execution": "client", "arguments": {"q": "x"}},
        lambda chat: chat["messages"][-1]["tool_calls"][0]["function"]["name"] == "tool_search",
    ),
    "tool_search_output": (
        {"type": "tool_search_output", "call_id": "t1", "tools": [{"type": "function", "name": "g"}]},
        lambda chat: "g" in [t["function"]["name"] for t in chat["tools"]],
    ),
    "additional_tools": (
        {"type": "additional_tools", "tools": [{"type": "function", "name": "h"}]},
        lambda chat: "h" in [t["function"]["name"] for t in chat["tools"]],
    ),
}
# Every other item type protocols.md names: each must be dropped by a listed rule or refused.
OTHER_ITEMS = [
    "item_reference", "web_search_call", "file_search_call", "computer_call", "computer_call_output",
    "image_generation_call", "code_interpreter_call", "local_shell_call", "local_shell_call_output",
    "shell_call", "shell_call_output", "apply_patch_call", "apply_patch_call_output", "mcp_call",
    "mcp_list_tools", "mcp_approval_request", "mcp_approval_response", "compaction", "compaction_summary",
    "compaction_trigger", "context_compaction", "agent_message", "program", "program_output",
]  # fmt: skip


def captured_item_types() -> set[str]:
    types = set()
    for turn in ("turn1", "turn2"):
        body = json.loads((golden_files.FIXTURES / "codex-cli-0.169.0" / f"{turn}-request.json").read_text())
        types |= {item.get("type", "message") for item in body["input"]}
    return types


@pytest.mark.parametrize("kind", sorted(TRANSLATED))
def test_an_item_type_the_bridge_translates_shows_in_the_chat_request(kind):
    item, shows = TRANSLATED[kind]
    chat = to_chat({"model": "m", "input": [USER, item], "tools": []})
    assert shows(chat), chat


@pytest.mark.parametrize("kind", OTHER_ITEMS)
def test_every_other_item_type_is_dropped_by_a_listed_rule_or_refused_naming_it(kind):
    body = {"model": "m", "input": [USER, {"type": kind, "id": "x"}]}
    if kind in DROPPED_ITEMS:
        assert to_chat(body)["messages"] == [{"role": "user", "content": "hi"}]
        return
    with pytest.raises(RequestError) as refused:
        to_chat(body)
    assert refused.value.param == "input[1].type" and repr(kind) in refused.value.message


def test_every_item_type_in_the_codex_captures_is_translated():
    assert captured_item_types() <= set(TRANSLATED), captured_item_types() - set(TRANSLATED)


def test_the_dropped_list_holds_only_types_protocols_md_names():
    assert set(DROPPED_ITEMS) <= set(OTHER_ITEMS)


TOOLS = {
    "function": {"type": "function", "name": "f", "parameters": {"type": "object"}},
    "custom": {"type": "custom", "name": "apply_patch"},
    "namespace": {"type": "namespace", "name": "mcp__x", "tools": [{"type": "function", "name": "g"}]},
    "tool_search (client)": {"type": "tool_search", "execution": "client"},
}
BUILT_IN_TOOLS = [
    "web_search", "web_search_preview", "file_search", "computer", "computer_use_preview", "mcp",
    "code_interpreter", "image_generation", "local_shell", "shell", "apply_patch", "programmatic_tool_calling",
]  # fmt: skip


@pytest.mark.parametrize("kind", sorted(TOOLS))
def test_a_tool_type_the_bridge_translates_becomes_a_chat_function(kind):
    chat = to_chat({"model": "m", "input": "hi", "tools": [TOOLS[kind]]})
    assert [tool["type"] for tool in chat["tools"]] == ["function"]


@pytest.mark.parametrize("kind", BUILT_IN_TOOLS)
def test_a_built_in_tool_is_passed_to_the_pack_unchanged_for_its_steps_to_drop_or_map(kind):
    # Deliberate (docs/bridges.md): whether a provider has an equivalent is provider knowledge, a pack's.
    tool = {"type": kind}
    assert to_chat({"model": "m", "input": "hi", "tools": [tool]})["tools"] == [tool]


# -- Chat -> Responses: roles, content parts and tool call types

CHAT_PARTS = {"text": "translated", "image_url": "translated", "file": "translated", "input_audio": "refused"}


@pytest.mark.parametrize("kind", sorted(CHAT_PARTS))
def test_a_chat_user_content_part_is_translated_or_refused(kind):
    part = {"type": kind, "text": "hi", "image_url": {"url": "https://x/y.png"}, "file": {"file_id": "f"},
            "input_audio": {"data": "", "format": "wav"}}  # fmt: skip
    body = {"model": "m", "messages": [{"role": "user", "content": [part]}]}
    if CHAT_PARTS[kind] == "refused":
        with pytest.raises(RequestError) as refused:
            to_responses(body)
        assert refused.value.param.startswith("messages[0].content[0]")
    else:
        assert to_responses(body)["input"][0]["content"][0]["type"].startswith("input_")


@pytest.mark.parametrize("role", ["function", "critic", "narrator"])
def test_a_chat_role_the_bridge_does_not_know_is_refused(role):
    with pytest.raises(RequestError) as refused:
        to_responses({"model": "m", "messages": [{"role": role, "content": "hi"}]})
    assert refused.value.param == "messages[0].role"


# -- Gemini -> Chat: every field the google-genai SDK's types know, for parts, tools and configs


def _gemini_fields(model) -> list[str]:
    from pydantic.alias_generators import to_camel

    return sorted(to_camel(name) for name in model.model_fields)


def _gemini_outcome(body: dict) -> str:
    """ "translated", or "refused <param>"."""
    from switchyard.bridges.gemini_over_chat.request import to_chat as gemini_to_chat

    try:
        gemini_to_chat({"model": "m", "contents": [{"role": "user", "parts": [{"text": "hi"}]}], **body})
    except RequestError as refused:
        return f"refused {refused.param}"
    return "translated"


def test_every_gemini_part_field_is_translated_dropped_by_a_listed_rule_or_refused_naming_it():
    from google.genai import types

    from switchyard.bridges.gemini_over_chat.request import DROPPED_PART_FIELDS

    translated = {"text", "inlineData", "fileData", "functionResponse", "functionCall", "thought"}
    for field in _gemini_fields(types.Part):
        user = {"text": "x", field: {}} if field != "text" else {"text": "x"}
        if field == "inlineData":
            user = {"inlineData": {"mimeType": "image/png", "data": "AA=="}}
        elif field == "fileData":
            user = {"fileData": {"mimeType": "image/png", "fileUri": "https://example.com/a.png"}}
        elif field in ("functionCall", "functionResponse", "thought"):
            continue  # their own turns: the golden cases and the refusal table in gemini_over_chat/test_request.py
        outcome = _gemini_outcome({"contents": [{"role": "user", "parts": [user]}]})
        if field in translated or field in DROPPED_PART_FIELDS:
            assert outcome == "translated", (field, outcome)
        else:
            assert outcome.startswith("refused contents[0].parts[0]") and field in outcome, (field, outcome)


def test_every_gemini_tool_kind_but_functions_is_refused_naming_it():
    from google.genai import types

    for field in _gemini_fields(types.Tool):
        outcome = _gemini_outcome({"tools": [{field: [] if field == "functionDeclarations" else {}}]})
        expected = "translated" if field == "functionDeclarations" else f"refused tools[0].{field}"
        assert outcome == expected, (field, outcome)


@pytest.mark.parametrize(
    ("model", "where", "samples"),
    [
        ("GenerationConfig", "generationConfig", {"responseMimeType": "text/plain", "stopSequences": ["x"],
                                                  "responseModalities": ["TEXT"], "thinkingConfig": {},
                                                  "candidateCount": 1, "responseJsonSchema": None,
                                                  "responseSchema": None}),
        ("ThinkingConfig", "generationConfig.thinkingConfig", {"thinkingLevel": "LOW", "includeThoughts": True,
                                                               "thinkingBudget": 10}),
        ("ToolConfig", "toolConfig", {"functionCallingConfig": {}}),
        ("FunctionCallingConfig", "toolConfig.functionCallingConfig", {"mode": "AUTO", "allowedFunctionNames": []}),
    ],
)  # fmt: skip
def test_every_gemini_config_field_is_translated_dropped_by_a_listed_rule_or_refused_naming_it(model, where, samples):
    from google.genai import types

    from switchyard.bridges.gemini_over_chat.request import DROPPED_CONFIG

    for field in _gemini_fields(getattr(types, model)):
        value = samples.get(field, 1)
        if value is None:
            continue  # a schema needs responseMimeType: the refusal table covers it
        config: dict = {field: value}
        for key in reversed(where.split(".")):
            config = {key: config}
        outcome = _gemini_outcome(config)
        known = field in samples or field in DROPPED_CONFIG or field in {"temperature", "topP", "topK", "seed",
                                                                        "maxOutputTokens", "presencePenalty",
                                                                        "frequencyPenalty"}  # fmt: skip
        if known:
            assert outcome == "translated", (field, outcome)
        else:
            assert outcome == f"refused {where}.{field}", (field, outcome)


def test_every_gemini_function_declaration_field_is_translated_dropped_by_a_listed_rule_or_refused():
    from google.genai import types

    from switchyard.bridges.gemini_over_chat.request import DROPPED_FUNCTION_FIELDS

    for field in _gemini_fields(types.FunctionDeclaration):
        declaration = {"name": "f", field: "f" if field in ("name", "description", "behavior") else {}}
        outcome = _gemini_outcome({"tools": [{"functionDeclarations": [declaration]}]})
        assert field in {"name", "description", "parameters", "parametersJsonSchema", *DROPPED_FUNCTION_FIELDS}
        assert outcome == "translated", (field, outcome)
