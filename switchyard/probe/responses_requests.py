"""The Responses catalogue: Codex's turn as Codex sends it, and the SDK's fields."""

from __future__ import annotations

import copy
from collections.abc import Callable

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


def responses_catalogue(model: str) -> Catalogue:
    codex = codex_turn(model)
    items = codex["input"]
    developer = next(i for i in items if i.get("role") == "developer")
    reasoning = next(i for i in items if i.get("type") == "reasoning")
    call = next(i for i in items if i.get("type") == "function_call")
    output = next(i for i in items if i.get("type") == "function_call_output")
    tools = codex["tools"]
    functions = [t for t in tools if t.get("type") == "function"]
    namespaces = [t for t in tools if t.get("type") == "namespace"]
    builtins = [t for t in tools if t.get("type") not in ("function", "namespace")]

    def add_developer(body: dict) -> None:
        body["input"].insert(0, copy.deepcopy(developer))

    def add_parts(body: dict) -> None:
        for item in body["input"]:
            if item.get("role") == "user" and isinstance(item.get("content"), str):
                item.update(type="message", content=[{"type": "input_text", "text": item["content"]}])
                return

    def add_tools(body: dict) -> None:
        body["tools"] = [{k: v for k, v in t.items() if k != "strict"} for t in copy.deepcopy(functions)]

    def add_strict(body: dict) -> None:
        for tool in body.get("tools", []):
            if tool.get("type") == "function":
                tool["strict"] = False

    def adder(extra: list[dict]) -> Callable[[dict], None]:
        return lambda body: body.setdefault("tools", []).extend(copy.deepcopy(extra))

    def add_round_trip(body: dict) -> None:
        body["input"] += [copy.deepcopy(call), copy.deepcopy(output)]

    def add_reasoning_item(body: dict) -> None:
        at = next(n for n, i in enumerate(body["input"]) if i.get("type") == "function_call")
        body["input"].insert(at, copy.deepcopy(reasoning))

    top = [k for k in codex if k not in ("model", "input", "tools", "stream", "tool_choice", "parallel_tool_calls")]
    features = [
        field_feature("max_output_tokens", CAP, renames=("max_tokens",)),
        field_feature("temperature", 0.2),
        field_feature("top_p", 0.9),
        field_feature("user", "switchyard-probe"),
        field_feature("metadata", {"probe": "switchyard"}),
        field_feature("instructions", "Be brief."),
        *(field_feature(k, codex[k]) for k in top),
        Feature(
            "role developer",
            "a developer message",
            add_developer,
            ("developer",),
            alternatives=alternatives(
                Alternative(
                    "developer messages sent as system messages",
                    ({"each": "input", "match": "role == 'developer'", "do": [{"set": {"role": "system"}}]},),
                )
            ),
        ),
        Feature("content parts", "input as message items with input_text parts", add_parts, ("input_text",)),
        Feature("tools", "function tools", add_tools, ("tools",), "tools"),
        Feature(
            "tools strict",
            "function tools with strict",
            add_strict,
            ("strict",),
            alternatives=alternatives(Alternative("strict dropped from tools", ({"drop": "tools[].strict"},))),
            tier=2,
            needs="tools",
        ),
        Feature(
            "tools namespace",
            "a namespace tool",
            adder(namespaces),
            ("namespace",),
            alternatives=alternatives(
                Alternative("namespace tools dropped", ({"drop": "tools[?type == 'namespace']"},))
            ),
            tier=2,
            needs="tools",
        ),
        Feature(
            "tools built-in",
            f"a built-in tool ({', '.join(t.get('type', '?') for t in builtins)})",
            adder(builtins),
            tuple({t.get("type", "") for t in builtins} - {""}),
            alternatives=alternatives(
                Alternative(
                    "built-in tools dropped",
                    ({"drop": "tools[?type != 'function' && type != 'namespace' && type != 'custom']"},),
                )
            ),
            tier=2,
            needs="tools",
        ),
        field_feature("tool_choice", codex.get("tool_choice", "auto"), tier=2, needs="tools"),
        field_feature("parallel_tool_calls", codex.get("parallel_tool_calls", True), tier=2, needs="tools"),
        Feature(
            "tool round trip",
            "a function call and its output in the input",
            add_round_trip,
            ("function_call", "function_call_output", "call_id"),
            tier=2,
            needs="tools",
        ),
        Feature(
            "reasoning in history",
            "a reasoning item in the input",
            add_reasoning_item,
            ("reasoning_text",),
            alternatives=alternatives(
                Alternative("reasoning items dropped from the input", ({"drop": "input[?type == 'reasoning']"},))
            ),
            tier=3,
            needs="tool round trip",
        ),
    ]
    base = {"model": model, "input": [{"role": "user", "content": PROMPT}]}
    return Catalogue("responses", base, tuple(features), codex)
