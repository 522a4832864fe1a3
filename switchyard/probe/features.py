"""The catalogue: what real clients put in a request, as features the probe can add to a body one by one.

A probe body is the smallest request (`base`) plus a set of features, each applied in catalogue
order, so the same set always makes the same body and a decision can cite it. A feature is one
thing a real client sends: a top-level field, the `developer` role, a second system message,
content as parts, a tool shape, a tool-call round trip, reasoning text in the history. Each knows
the words an error naming it would use (`words`) and the known alternatives to try when it is
rejected, as rule-language steps (`Alternative`), so the written pack is made of what was tried.

Where the values come from: Codex CLI's second turn (`codex-turn.json`: a real 0.169.0 capture
with its texts shortened and its tools cut to one of each shape: a function, a namespace and
`web_search`), for `--protocol chat` translated by the project's own Responses -> Chat bridge, so
the probe sends what `switchyard serve` will send for Codex; and the OpenAI SDK's common fields.

Tiers: a feature that only makes sense with another (`tool_choice` without `tools`, reasoning text
on a tool call that is not there) sits in a later tier, searched once the earlier tier is decided;
one that refines a field (`tool_choice` naming a function) `needs` that field accepted first.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as slot
from importlib import resources

from switchyard import bridges

PROMPT = "Reply with the word OK."
CAP = 16  # output tokens: enough for "OK" on every provider (OpenAI's Responses minimum is 16)


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: one shared alternative, one step
class Alternative:
    """A known way round a rejected feature: rule-language steps, in words for the report and the pack."""

    label: str
    steps: tuple[dict, ...]
    fields: tuple[str, ...] = ()  # top-level fields the steps produce (they join the `keep:` allowlist)


@dataclass(frozen=True)
class Feature:
    name: str  # short and stable: "field store", "role developer"
    label: str  # what a body with it is, in words: "a body with store"
    apply: Callable[[dict], None] = slot(repr=False, compare=False)
    words: tuple[str, ...] = ()  # what an error naming this feature says
    field: str | None = None  # the top-level field it adds, for the `keep:` allowlist
    alternatives: Callable[[str], list[Alternative]] = slot(default=lambda answer: [], repr=False, compare=False)
    tier: int = 1
    needs: str = ""  # a feature that must have been accepted (or mapped) for this one to be tried

    def named_in(self, text: str) -> bool:
        return any(re.search(rf"(?<![\w]){re.escape(w)}(?![\w])", text) for w in self.words)


@dataclass(frozen=True)
class Catalogue:
    protocol: str
    base: dict
    features: tuple[Feature, ...]
    codex: dict  # the Codex turn the features come from, as Codex sends it (the pack's tests use it)

    def body(self, chosen: set[str]) -> dict:
        body = copy.deepcopy(self.base)
        for feature in self.features:
            if feature.name in chosen:
                feature.apply(body)
        return body

    def get(self, name: str) -> Feature:
        return next(f for f in self.features if f.name == name)


def codex_turn(model: str) -> dict:
    text = resources.files(__package__).joinpath("codex-turn.json").read_text(encoding="utf-8")
    body = json.loads(text)
    body["model"] = model
    return body


def catalogue(protocol: str, model: str) -> Catalogue:
    return (chat_catalogue if protocol == "chat" else responses_catalogue)(model)


# -- shared helpers


def _field(name: str, value, *, tier: int = 1, renames: tuple[str, ...] = (), words: tuple[str, ...] = ()) -> Feature:
    def apply(body: dict) -> None:
        body[name] = copy.deepcopy(value)

    def alternatives(answer: str) -> list[Alternative]:
        # A renamed field: the known other names, then any field name the error suggests ("use 'x' instead").
        names = [*renames, *(n for n in suggested(answer) if n != name and n not in renames)]
        return [Alternative(f"{name} renamed to {n}", ({"rename": {name: n}},), (n,)) for n in names]

    return Feature(f"field {name}", f"a body with {name}", apply, (name, *words), name, alternatives, tier)


def suggested(answer: str) -> list[str]:
    """Field names an error suggests instead: "use 'max_completion_tokens' instead", "did you mean x"."""
    found = re.findall(r"(?:use|Use|mean|instead of [\w'`\"]+,?)\s+['`\"]?([a-z][a-z0-9_]{2,40})['`\"]?", answer)
    return list(dict.fromkeys(found))


def _alternatives(*alts: Alternative) -> Callable[[str], list[Alternative]]:
    return lambda answer: list(alts)


# -- Chat Completions


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
        _field("max_tokens", CAP, renames=("max_completion_tokens",)),
        _field("max_completion_tokens", CAP, renames=("max_tokens",)),
        _field("temperature", 0.2),
        _field("top_p", 0.9),
        _field("stop", ["\n\n\n"]),
        _field("seed", 7),
        _field("presence_penalty", 0),
        _field("frequency_penalty", 0),
        _field("n", 1),
        _field("user", "switchyard-probe"),
        _field("metadata", {"probe": "switchyard"}),
        _field("response_format", {"type": "text"}),
        _field("reasoning_effort", "low"),
        *(_field(k, bridged[k]) for k in codex_fields),
        Feature(
            "role developer",
            "a developer message",
            add_developer,
            ("developer",),
            alternatives=_alternatives(
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
            alternatives=_alternatives(ONE_LEADING_SYSTEM),
        ),
        Feature(
            "late system message",
            "a system message after a user message",
            add_late_system,
            ("system message", "System message", "beginning"),
            alternatives=_alternatives(ONE_LEADING_SYSTEM),
        ),
        Feature(
            "content parts",
            "user content as a list of text parts",
            add_parts,
            ("content", "parts"),
            alternatives=_alternatives(
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
            alternatives=_alternatives(
                Alternative("strict dropped from tools", ({"drop": "tools[].function.strict"},))
            ),
            tier=2,
        ),
        Feature(
            "tools built-in",
            f"a built-in tool ({', '.join(t.get('type', '?') for t in builtins)})",
            add_builtins,
            tuple({t.get("type", "") for t in builtins} - {""}),
            alternatives=_alternatives(
                Alternative(
                    "built-in tools dropped (Chat tools are functions)",
                    ({"drop": "tools[?type != 'function']"}, {"match": "!tools", "drop": ["tools", "tool_choice"]}),
                )
            ),
            tier=2,
        ),
        _field("tool_choice", bridged.get("tool_choice", "auto"), tier=2),
        _field("parallel_tool_calls", bridged.get("parallel_tool_calls", True), tier=2),
        Feature(
            "tool round trip",
            "a tool call and its result in the history",
            add_round_trip,
            ("tool_calls", "tool_call_id"),
            alternatives=_alternatives(
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
        ),
        Feature(
            "tool_choice named",
            "tool_choice naming a function",
            add_named_choice,
            ("tool_choice",),
            alternatives=_alternatives(
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
            alternatives=_alternatives(
                Alternative("reasoning_content dropped from the history", ({"drop": "messages[].reasoning_content"},))
            ),
            tier=3,
        ),
    ]
    base = {"model": model, "messages": [{"role": "user", "content": PROMPT}]}
    return Catalogue("chat", base, tuple(features), codex)


# -- Responses


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
        _field("max_output_tokens", CAP, renames=("max_tokens",)),
        _field("temperature", 0.2),
        _field("top_p", 0.9),
        _field("user", "switchyard-probe"),
        _field("metadata", {"probe": "switchyard"}),
        _field("instructions", "Be brief."),
        *(_field(k, codex[k]) for k in top),
        Feature(
            "role developer",
            "a developer message",
            add_developer,
            ("developer",),
            alternatives=_alternatives(
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
            alternatives=_alternatives(Alternative("strict dropped from tools", ({"drop": "tools[].strict"},))),
            tier=2,
        ),
        Feature(
            "tools namespace",
            "a namespace tool",
            adder(namespaces),
            ("namespace",),
            alternatives=_alternatives(
                Alternative("namespace tools dropped", ({"drop": "tools[?type == 'namespace']"},))
            ),
            tier=2,
        ),
        Feature(
            "tools built-in",
            f"a built-in tool ({', '.join(t.get('type', '?') for t in builtins)})",
            adder(builtins),
            tuple({t.get("type", "") for t in builtins} - {""}),
            alternatives=_alternatives(
                Alternative(
                    "built-in tools dropped",
                    ({"drop": "tools[?type != 'function' && type != 'namespace' && type != 'custom']"},),
                )
            ),
            tier=2,
        ),
        _field("tool_choice", codex.get("tool_choice", "auto"), tier=2),
        _field("parallel_tool_calls", codex.get("parallel_tool_calls", True), tier=2),
        Feature(
            "tool round trip",
            "a function call and its output in the input",
            add_round_trip,
            ("function_call", "function_call_output", "call_id"),
            tier=2,
        ),
        Feature(
            "reasoning in history",
            "a reasoning item in the input",
            add_reasoning_item,
            ("reasoning_text",),
            alternatives=_alternatives(
                Alternative("reasoning items dropped from the input", ({"drop": "input[?type == 'reasoning']"},))
            ),
            tier=3,
        ),
    ]
    base = {"model": model, "input": [{"role": "user", "content": PROMPT}]}
    return Catalogue("responses", base, tuple(features), codex)
