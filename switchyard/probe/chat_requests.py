"""The Chat Completions catalogue: Codex's turn through the Responses -> Chat bridge, and the SDK's fields.

Each feature is one thing `switchyard serve` will send a Chat provider for Codex (developer
messages, several system texts, flattened namespace tools, a tool call with reasoning text) or an
SDK user sends (`max_completion_tokens`, content parts, a named `tool_choice`), with the known
alternatives for when it is refused.
"""

from __future__ import annotations

import copy

from switchyard import bridges
from switchyard.probe.features import (
    CAP,
    PROMPT,
    Alternative,
    Catalogue,
    Feature,
    alternatives,
    codex_turn,
    field_feature,
)

ONE_LEADING_SYSTEM = Alternative(
    "all system text as one leading system message",
    (
        {
            "match": "type(messages) == 'array' && length(messages[?role == 'system']) > `1`"
            " && !(messages[?role == 'system' && type(content) != 'string'])",
            "compute": {
                "messages": "concat([{role: 'system',"
                " content: join(`\"\\n\\n\"`, messages[?role == 'system'].content)}],"
                " messages[?role != 'system'])"
            },
        },
        {
            "match": "type(messages) == 'array' && messages[0].role != 'system'"
            " && length(messages[?role == 'system']) == `1`",
            "compute": {"messages": "concat(messages[?role == 'system'], messages[?role != 'system'])"},
        },
    ),
)


def chat_catalogue(model: str) -> Catalogue:
    codex = codex_turn(model)
    bridged = bridges.get("responses", "chat").request(copy.deepcopy(codex))
    messages = bridged["messages"]
    developer = [m for m in messages if m.get("role") == "developer"]
    call = next(m for m in messages if m.get("tool_calls"))
    result = next(m for m in messages if m.get("role") == "tool")
    functions = [t for t in bridged["tools"] if t.get("type") == "function"]
    builtins = [t for t in bridged["tools"] if t.get("type") != "function"]
    plain = [{**t, "function": {k: v for k, v in t["function"].items() if k != "strict"}} for t in functions]

    def add_developer(body: dict) -> None:
        body["messages"].insert(0, {"role": "developer", "content": developer[0]["content"]})

    def add_two_system(body: dict) -> None:
        body["messages"][0:0] = [{"role": "system", "content": m["content"]} for m in developer[:2]]

    def add_late_system(body: dict) -> None:
        at = next(i for i, m in enumerate(body["messages"]) if m["role"] == "user") + 1
        body["messages"][at:at] = [
            {"role": "system", "content": "Answer in English."},
            {"role": "user", "content": PROMPT},
        ]

    def add_parts(body: dict) -> None:
        for m in body["messages"]:
            if m["role"] == "user" and isinstance(m["content"], str):
                m["content"] = [{"type": "text", "text": m["content"]}]
                return

    def add_tools(body: dict) -> None:
        body["tools"] = copy.deepcopy(plain)

    def add_strict(body: dict) -> None:
        strict = {t["function"]["name"]: t["function"]["strict"] for t in functions if "strict" in t["function"]}
        for tool in body.get("tools", []):
            name = tool.get("function", {}).get("name")
            if name in strict:
                tool["function"]["strict"] = strict[name]

    def add_builtins(body: dict) -> None:
        body.setdefault("tools", []).extend(copy.deepcopy(builtins))

    def add_round_trip(body: dict) -> None:
        turn = {k: v for k, v in call.items() if k != "reasoning_content"}
        body["messages"] += [copy.deepcopy(turn), copy.deepcopy(result)]

    def add_named_choice(body: dict) -> None:
        body["tool_choice"] = {"type": "function", "function": {"name": plain[0]["function"]["name"]}}

    def add_reasoning_history(body: dict) -> None:
        for m in body["messages"]:
            if m.get("tool_calls"):
                m["reasoning_content"] = call.get("reasoning_content") or "I should run ls."

    codex_fields = [k for k in bridged if k not in ("model", "messages", "tools", "stream", "stream_options")]
    codex_fields = [k for k in codex_fields if k not in ("tool_choice", "parallel_tool_calls")]
    features = [
        field_feature("max_tokens", CAP, renames=("max_completion_tokens",)),
        field_feature("max_completion_tokens", CAP, renames=("max_tokens",)),
        field_feature("temperature", 0.2),
        field_feature("top_p", 0.9),
        field_feature("stop", ["\n\n\n"]),
        field_feature("seed", 7),
        field_feature("presence_penalty", 0),
        field_feature("frequency_penalty", 0),
        field_feature("n", 1),
        field_feature("user", "switchyard-probe"),
        field_feature("metadata", {"probe": "switchyard"}),
        field_feature("response_format", {"type": "text"}),
        field_feature("reasoning_effort", "low"),
        *(field_feature(k, bridged[k]) for k in codex_fields),
        Feature(
            "role developer",
            "a developer message",
            add_developer,
            ("developer",),
            alternatives=alternatives(
                Alternative(
                    "developer messages sent as system messages",
                    ({"each": "messages", "match": "role == 'developer'", "do": [{"set": {"role": "system"}}]},),
                )
            ),
        ),
        Feature(
            "two system messages",
            "two leading system messages",
            add_two_system,
            ("system message", "System message", "system messages"),
            alternatives=alternatives(ONE_LEADING_SYSTEM),
        ),
        Feature(
            "late system message",
            "a system message after a user message",
            add_late_system,
            ("system message", "System message", "beginning"),
            alternatives=alternatives(ONE_LEADING_SYSTEM),
        ),
        Feature(
            "content parts",
            "user content as a list of text parts",
            add_parts,
            ("content", "parts"),
            alternatives=alternatives(
                Alternative(
                    "text-only content lists joined into one string",
                    (
                        {
                            "each": "messages",
                            "match": "type(content) == 'array'"
                            " && !(content[?type != 'text' || type(text) != 'string'])",
                            "do": [{"compute": {"content": "join('', content[].text)"}}],
                        },
                    ),
                )
            ),
        ),
        Feature("tools", "function tools", add_tools, ("tools",), "tools"),
        Feature(
            "tools strict",
            "function tools with strict",
            add_strict,
            ("strict",),
            alternatives=alternatives(Alternative("strict dropped from tools", ({"drop": "tools[].function.strict"},))),
            tier=2,
            needs="tools",
        ),
        Feature(
            "tools built-in",
            f"a built-in tool ({', '.join(t.get('type', '?') for t in builtins)})",
            add_builtins,
            tuple({t.get("type", "") for t in builtins} - {""}),
            alternatives=alternatives(
                Alternative(
                    "built-in tools dropped (Chat tools are functions)",
                    ({"drop": "tools[?type != 'function']"}, {"match": "!tools", "drop": ["tools", "tool_choice"]}),
                )
            ),
            tier=2,
            needs="tools",
        ),
        field_feature("tool_choice", bridged.get("tool_choice", "auto"), tier=2, needs="tools"),
        field_feature("parallel_tool_calls", bridged.get("parallel_tool_calls", True), tier=2, needs="tools"),
        Feature(
            "tool round trip",
            "a tool call and its result in the history",
            add_round_trip,
            ("tool_calls", "tool_call_id"),
            alternatives=alternatives(
                Alternative(
                    'tool-call messages get content ""',
                    (
                        {
                            "each": "messages",
                            "match": "role == 'assistant' && tool_calls",
                            "do": [{"default": {"content": ""}}],
                        },
                    ),
                )
            ),
            tier=2,
            needs="tools",
        ),
        Feature(
            "tool_choice named",
            "tool_choice naming a function",
            add_named_choice,
            ("tool_choice",),
            alternatives=alternatives(
                Alternative(
                    "a named tool_choice sent as 'required'",
                    ({"match": "type(tool_choice) == 'object'", "set": {"tool_choice": "required"}},),
                ),
                Alternative(
                    "a named tool_choice dropped (the model chooses)",
                    ({"match": "type(tool_choice) == 'object'", "drop": "tool_choice"},),
                ),
            ),
            tier=3,
            needs="field tool_choice",
        ),
        Feature(
            "reasoning in history",
            "reasoning_content on a tool-call message",
            add_reasoning_history,
            ("reasoning_content",),
            alternatives=alternatives(
                Alternative("reasoning_content dropped from the history", ({"drop": "messages[].reasoning_content"},))
            ),
            tier=3,
            needs="tool round trip",
        ),
    ]
    base = {"model": model, "messages": [{"role": "user", "content": PROMPT}]}
    return Catalogue("chat", base, tuple(features), codex)
