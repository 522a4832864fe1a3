"""switchyard/language/compiler.py: compiled closures give exactly what jmespath's interpreter gives.

Differential: every expression is evaluated twice, by its compiled closure and by
`switchyard.language.functions.search` (the interpreter the engine used before), and the two outcomes must be
the same: equal results of the same types all the way down (`true` is not `1`, `1.0` is not `1`), keys in
the same order, or exceptions of the same type with the same message. The expressions are those of every
shipped pack and of the tests' own packs (collected as the loader compiles them), and a hand-written list
covering every node type and its edge cases; the values are every object, array and scalar inside the
real captured requests, the packs' `tests:` inputs (as sent and as bridged), the golden cases' inputs, and
hand-made bodies of nulls, wrong types, empty arrays, booleans against numbers and nested arrays.
"""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Callable
from typing import Any
from unittest import mock

import golden_files
import orjson
import pytest
from jmespath.exceptions import JMESPathError

from switchyard import bridges
from switchyard.errors import SwitchyardError
from switchyard.language import pack as pack_module
from switchyard.language import paths as paths_module
from switchyard.language.compiler import compile_tree
from switchyard.language.expressions import compile_expression
from switchyard.language.functions import compile as jmespath_compile
from switchyard.language.functions import search
from switchyard.language.loader import load_file, load_text
from switchyard.language.pack import compile_pack
from switchyard.language.ruleset import load_rules
from switchyard.pipeline import Pipeline

ROOT = golden_files.ROOT
PACK_FOLDERS = ("rules", "rules/extra", "tests/golden/probe")
ACTIONS = golden_files.GOLDEN / "language" / "actions"
PROTOCOLS = ("chat", "messages", "responses")


# -- the expressions of the packs, as the loader compiles them


def _collect() -> tuple[dict[str, list[str]], list, list]:
    """Every expression each pack file compiles, keyed by file; the packs; the golden cases."""
    found: dict[str, list[str]] = {}
    current: list[str] = []

    def record(source: str):
        if source.strip() not in current:
            current.append(source.strip())
        return compile_expression(source)

    packs, cases = [], []
    with (
        mock.patch.object(pack_module, "compile_expression", record),
        mock.patch.object(paths_module, "compile_expression", record),
    ):
        for folder in PACK_FOLDERS:
            for path in sorted((ROOT / folder).glob("*.yaml")):
                current = found.setdefault(f"{folder}/{path.name}", [])
                packs.extend(load_rules(str(path), placeholders=True).packs)
        for path in sorted(ACTIONS.glob("*.yaml")):
            current = found.setdefault(f"tests/golden/language/actions/{path.name}", [])
            doc, problems = load_file(str(path))
            assert doc is not None, problems
            for case in doc.data:
                cases.append(case)
                stage = case.get("stage", "request")
                document = {"pack": "golden", "match": "`true`", "upstream": {"url": "https://u.example/v1"}}
                document[stage] = case["steps"]
                document["upstream"]["protocol"] = "chat"
                pack_doc, problems = load_text(json.dumps(document), "golden.yaml")
                assert pack_doc is not None, problems
                compile_pack(pack_doc, env={})
    return found, packs, cases


PACK_EXPRESSIONS, PACKS, GOLDEN_CASES = _collect()


# -- the values


FIXTURES = {
    "responses": sorted((golden_files.FIXTURES / "codex-cli-0.169.0").glob("*-request.json")),
    "messages": sorted((golden_files.FIXTURES / "claude-code-2.1.197").glob("*-request.json")),
}

# Scalars and small values whose JMESPath meaning differs from Python's: 0 and 1 against booleans, 1.0,
# the empty string, array and object (false in JMESPath), nested arrays, and the wrong type for every key.
EDGE_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    1,
    2,
    -1,
    0.0,
    1.0,
    2.5,
    "",
    "a",
    "b",
    "1",
    "true",
    "system",
    "function",
    [],
    [None],
    [0],
    [1, True],
    [True, False, 1, 0, 1.0, 0.0],
    [[1, 2], [3, [4, 5]], 6, [], None, [[7]]],
    ["b", "a", "c"],
    [3, 1, 2],
    {},
    {"a": None},
    {"a": 0},
    {"a": 1},
    {"a": True},
    {"a": "a", "b": ["x"]},
]

RICH = {
    "a": 1,
    "b": True,
    "c": 0,
    "d": False,
    "e": None,
    "f": "",
    "g": [],
    "h": {},
    "s": "text",
    "n": 2.5,
    "quoted key": "q",
    "people": [
        {"name": "a", "age": 30, "tags": ["x", "y"]},
        {"name": "b", "age": "old"},
        {"name": None, "age": 1},
        {"age": True},
        {"name": "c", "age": 0, "tags": []},
        "str",
        5,
        None,
        [1, 2],
    ],
    "nested": [[1, 2], [3, [4, 5]], 6, [], None, [[7]]],
    "bools": [True, False, 1, 0, 1.0, 0.0],
    "nums": [3, 1.5, -2, 0],
    "strs": ["b", "a", "c"],
    "messages": [
        {"role": "system", "content": "s1"},
        {"role": "user", "content": [{"type": "text", "text": "hi"}]},
        {"role": "system", "content": None},
        {"role": "developer", "content": "d"},
        {"role": "system", "content": "s2"},
    ],
    "tools": [
        {"type": "function", "function": {"name": "f", "strict": False}},
        {"type": "web_search", "external_web_access": False},
        {"type": "web_search"},
        {"type": "function", "function": {"name": "g", "strict": True}},
        {"type": "function", "function": None},
        {"function": {"strict": None}},
    ],
    "obj": {"x": 1, "y": None, "z": [1], "w": {"x": 2}},
}


def _edge_bodies() -> list[Any]:
    bodies: list[Any] = [RICH, *EDGE_VALUES]
    for v in EDGE_VALUES:
        bodies.append({key: v for key in ("a", "b", "c", "e", "s", "model", "messages", "tools", "stream", "n")})
        bodies.append({"people": [v, {"name": v, "age": v}], "nested": [v, [v]], "obj": {"x": v}, "bools": v})
        bodies.append({"messages": [{"role": v, "content": v}], "tools": [{"type": v, "function": v}]})
    return bodies


def _requests() -> list[tuple[str, Any]]:
    """(client protocol, body) for the captures and every pack test's input."""
    found = [(client, orjson.loads(path.read_bytes())) for client, paths in FIXTURES.items() for path in paths]
    found += [(case.client, case.input) for pack in PACKS for case in pack.tests]
    return found


def _corpus() -> list[Any]:
    roots: list[Any] = [case["input"] for case in GOLDEN_CASES] + _edge_bodies()
    for client, body in _requests():
        roots.append(body)
        for upstream in PROTOCOLS:  # what a pack's steps see: the body after the bridge
            with contextlib.suppress(SwitchyardError):  # a body this bridge refuses (a pack test of a refusal)
                roots.append(bridges.get(client, upstream).request(copy.deepcopy(body)))
    for pack in PACKS:  # and what the next pack would see: a body after a pack's own steps
        for client, paths in FIXTURES.items():
            for path in paths:
                with contextlib.suppress(SwitchyardError, KeyError):  # KeyError: a pair no bridge serves
                    roots.append(Pipeline(pack, client).request(orjson.loads(path.read_bytes())))
    unique: dict[bytes, Any] = {}

    def walk(value: Any) -> None:
        key = orjson.dumps(value)  # `true` and `1` differ here, as they must
        if key in unique:
            return
        unique[key] = value
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        for child in children:
            walk(child)

    for root in roots:
        walk(root)
    return list(unique.values())


CORPUS = _corpus()


# -- comparing


def outcome(evaluate: Callable[[Any], Any], value: Any) -> Any:
    try:
        return ("value", evaluate(value))
    except (JMESPathError, ValueError, TypeError, NotImplementedError) as exc:
        return ("raised", type(exc), str(exc))


def same(a: Any, b: Any) -> bool:
    """Equal, with the same types at every level and dict keys in the same order."""
    if type(a) is not type(b):
        return False
    if type(a) is list or type(a) is tuple:
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if type(a) is dict:
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if type(a).__name__ == "_Expression":  # `&expr` itself: jmespath's expression object
        return a.expression == b.expression
    return a == b


def mismatches(source: str, values: list[Any]) -> list[str]:
    parsed = jmespath_compile(source)
    compiled = compile_tree(parsed.parsed)
    wrong = []
    for value in values:
        got = outcome(compiled, value)
        want = outcome(lambda v: search(parsed, v), value)
        if not same(got, want):
            wrong.append(f"{source!r} on {str(value)[:120]}: compiled {got!r}, interpreter {want!r}")
    return wrong


# -- the packs' expressions


@pytest.mark.parametrize("file", sorted(PACK_EXPRESSIONS))
def test_every_expression_of_a_pack_gives_the_interpreters_outcome_on_every_value_of_the_corpus(file: str) -> None:
    assert PACK_EXPRESSIONS[file], f"{file} compiled no expression: the collection is broken"
    wrong = [line for source in PACK_EXPRESSIONS[file] for line in mismatches(source, CORPUS)]
    assert not wrong, "\n".join(wrong[:20])


def test_the_corpus_holds_the_captured_requests_and_the_edge_values() -> None:
    assert len(CORPUS) > 1000
    assert RICH in CORPUS and any(type(v) is bool for v in CORPUS) and [] in CORPUS and None in CORPUS
    assert len(PACKS) >= 10 and sum(len(p.tests) for p in PACKS) >= 30


def test_the_shipped_qwen_pack_filters_are_among_the_expressions_compared() -> None:
    qwen = PACK_EXPRESSIONS["rules/qwen.yaml"]
    assert "type != 'function'" in qwen  # the filter of the path `tools[?type != 'function']`
    assert any(s.startswith("type(messages) == 'array' && length(messages[?role == 'system'])") for s in qwen)


# -- every node type and its edge cases

HAND = [
    # fields, quoted keys, chains, index, negative index, out of range, strings are not indexed
    "a",
    "obj.w.x",
    "e.x.y",
    '"quoted key"',
    "people[0].name",
    "people[-1]",
    "people[-10]",
    "people[10]",
    "nested[1][1][0]",
    "s[0]",
    # slices, with projections after them
    "people[1:3]",
    "people[::-1]",
    "people[:2].name",
    "nested[::2]",
    "people[5:1:-1]",
    "s[0:2]",
    "people[::0]",
    # flatten
    "nested[]",
    "nested[][]",
    "a[]",
    "people[].tags[]",
    "people[].name",
    # list and object projections
    "people[*].name",
    "people[*]",
    "people[*].tags[0]",
    "obj.*",
    "*.x",
    "obj.*.x",
    "*",
    "s.*",
    # filters: truthiness of the condition, nulls dropped, non-lists null
    "people[?age > `20`]",
    "people[?age]",
    "people[?!age]",
    "people[?name == 'a'].age",
    "people[?name != 'a']",
    "people[?age == `1`]",
    "people[?age == `true`]",
    "bools[?@ == `1`]",
    "bools[?@ == `true`]",
    "bools[?@ == `0`]",
    "bools[?@ != `false`]",
    "bools[?@ == `1.0`]",
    "nested[?@]",
    "people[?@ == 'str']",
    "people[?age >= `1` && age < `40`].name",
    "people[?tags[0] == 'x']",
    "people[?age > 'a']",
    "people[?name < 'b'].name",
    "a[?b]",
    "messages[?role == 'system'].content",
    "tools[?type == 'web_search' && external_web_access != `false`]",
    "tools[?type != 'function']",
    "tools[].function.strict",
    "tools[?function.strict == `false`].function.name",
    # comparisons: JSON equality (0/1 against booleans), ordering on numbers and strings only
    "a == b",
    "a == `1`",
    "b == `1`",
    "c == d",
    "d == `0`",
    "a == `1.0`",
    "n == `2.5`",
    "e == `null`",
    "g == `[]`",
    "h == `{}`",
    "bools == `[1, 0, 1, 0, 1, 0]`",
    "a != b",
    "a < b",
    "n > a",
    "s > 'a'",
    "s < `1`",
    "a >= `1`",
    "a <= `0.5`",
    "e < `1`",
    "strs < nums",
    # not, and, or: operands returned, JMESPath truthiness, !0 false
    "!a",
    "!c",
    "!e",
    "!f",
    "!g",
    "!h",
    "!n",
    "!!c",
    "!(a && b)",
    "a && b",
    "c && d",
    "d && a",
    "e || f",
    "f || g || h || 'x'",
    "g || a",
    "d || e",
    "people && nested",
    # literals, raw strings, the current node
    '`"lit"`',
    "'raw'",
    "'it\\'s'",
    '`[1, {"a": true}]`',
    "`null`",
    "`0`",
    "@",
    "@.a",
    "a | @",
    # multi-selects
    "[a, b, e]",
    "{x: a, y: e}",
    "people[*].[name, age]",
    "people[*].{n: name, t: tags}",
    "e.[a]",
    "e.{a: a}",
    "[a, e][1]",
    # pipes
    "people | [0]",
    "people[*].name | [0]",
    "a | b",
    "nested[] | length(@)",
    "people[*] | [?age]",
    # functions, built-in and Switchyard's, with their type errors
    "length(people)",
    "length(a)",
    "type(a)",
    "type(b)",
    "type(e)",
    "type(people)",
    "starts_with(s, 'te')",
    "contains(people[*].name, 'a')",
    "join(', ', people[?name].name)",
    "join(', ', nested)",
    "concat(g, nested)",
    "concat(e, g)",
    "concat(a)",
    "concat(g, a)",
    "replace(s, 'x', 'y')",
    "split(s, 'e')",
    "split(s, '')",
    "lower(s)",
    "upper(a)",
    "keys(obj)",
    "values(obj)",
    "max(nums)",
    "max(nested[])",
    "sum(bools)",
    "abs(a)",
    "to_string(b)",
    "to_number('12')",
    "not_null(e, f, a)",
    "sort_by(messages, &role)[*].content",
    "sort_by(people, &name)",
    "max_by(people[?type(age) == 'number'], &age)",
    "map(&name, people)",
    "&name",
    "reverse(s)",
    "merge(obj, h)",
    "avg(nums)",
    "floor(n)",
    "sort(strs)",
    "nope(a)",
]


def hand_values() -> list[Any]:
    values = _edge_bodies()
    return values + [v for body in values if isinstance(body, dict) for v in body.values()]


@pytest.mark.parametrize("source", HAND)
def test_a_hand_written_expression_gives_the_interpreters_outcome_on_edge_values(source: str) -> None:
    wrong = mismatches(source, hand_values())
    assert not wrong, "\n".join(wrong[:20])


def test_the_hand_written_expressions_use_every_node_type_jmespath_parses() -> None:
    seen: set[str] = set()

    def walk(node: dict) -> None:
        seen.add(node["type"])
        for child in node.get("children", ()):
            if isinstance(child, dict):
                walk(child)

    for source in HAND:
        walk(jmespath_compile(source).parsed)
    assert seen == {
        "and_expression",
        "comparator",
        "current",
        "expref",
        "field",
        "filter_projection",
        "flatten",
        "function_expression",
        "identity",
        "index",
        "index_expression",
        "key_val_pair",
        "literal",
        "multi_select_dict",
        "multi_select_list",
        "not_expression",
        "or_expression",
        "pipe",
        "projection",
        "slice",
        "subexpression",
        "value_projection",
    }


def test_equality_keeps_booleans_and_numbers_apart_as_jmespath_does() -> None:
    body = {"xs": [True, 1, 1.0, False, 0]}
    assert compile_expression("xs[?@ == `1`]")(body) == [1, 1.0]
    assert [type(x) for x in compile_expression("xs[?@ == `true`]")(body)] == [bool]
    assert compile_expression("xs[?@ != `0`]")(body) == [True, 1, 1.0, False]


def test_and_and_or_return_their_operands_not_booleans() -> None:
    assert compile_expression("a && b")({"a": 0, "b": "x"}) == "x"
    assert compile_expression("a && b")({"a": [], "b": "x"}) == []
    assert compile_expression("a || b")({"a": "", "b": 0}) == 0


def test_a_node_type_the_compiler_does_not_know_is_left_to_the_interpreter() -> None:
    node = {"type": "mystery", "children": []}
    with pytest.raises(NotImplementedError, match="mystery"):
        compile_tree(node)({"a": 1})


def test_a_wrong_argument_type_raises_jmespaths_own_error_through_the_same_functions() -> None:
    with pytest.raises(JMESPathError, match="invalid type for value: 1"):
        compile_expression("lower(a)")({"a": 1})


@pytest.mark.parametrize("source", ["length(messages[?role == 'system'])", "tools[?type != 'function']", "a == `1`"])
def test_compile_expression_evaluates_everything_but_the_fast_forms_with_compiled_closures(source: str) -> None:
    assert compile_expression(source).evaluate.__module__ == "switchyard.language.compiler"
