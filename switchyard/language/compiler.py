"""Turning a parsed JMESPath expression into nested Python closures, once, when a pack loads.

jmespath evaluates an expression by walking its syntax tree (`{"type": ..., "children": [...], "value": ...}`)
for every evaluation: each node is a dictionary lookup for the node's type, a method call, more lookups for
its children, and a filter such as `messages[?role == 'system']` repeats all of that for every element.
On Codex's 40 KB request the shipped qwen pack spent most of its time there. `compile_tree` walks the tree
once instead and returns a closure per node that calls its children's closures directly, with the common
shapes specialised: a chain of keys is one loop, a comparison with a text literal is one `==`, a filter
whose result is the element itself appends it.

The exactness rule: a closure returns what `switchyard.language.functions.search` (jmespath's
`TreeInterpreter` with the ordering rule of `_Interpreter`) returns for the same node and value, the same
object types included (`True`, never `1`), and raises the same exceptions; function calls go through the
same `Functions` object, so their argument checks fail with jmespath's own errors. Each closure below names
the interpreter rule it follows. A node type this module does not know is evaluated by that interpreter,
for its subtree only, so a newer jmespath with new node types still gives its own results.
`tests/language/test_compiler.py` compares both on every expression of every shipped pack.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from numbers import Number
from typing import Any

from switchyard.language.functions import INTERPRETER, OPTIONS

__all__ = ["compile_tree"]

Closure = Callable[[Any], Any]

_call_function = OPTIONS.custom_functions.call_function
_DICT = OPTIONS.dict_cls if OPTIONS.dict_cls is not None else dict  # the interpreter's type for `{a: b}`
_ORDER = {"lt": operator.lt, "gt": operator.gt, "lte": operator.le, "gte": operator.ge}


def compile_tree(node: dict) -> Closure:
    """The closure evaluating `node` (a `jmespath.compile(...).parsed` tree) on a value."""
    build = _BUILDERS.get(node["type"])
    if build is None:
        return _interpreted(node)
    return build(node)


def _interpreted(node: dict) -> Closure:
    visit = INTERPRETER.visit
    return lambda value: visit(node, value)


# -- truthiness and equality, as the interpreter defines them


def _is_false(value: Any) -> bool:
    # `TreeInterpreter._is_false`: equal to '', [] or {}, or None, or False. For the JSON types that is
    # emptiness; anything else (a subclass, a tuple) gets the interpreter's own comparisons.
    if value is None or value is False:
        return True
    kind = type(value)
    if kind is str or kind is list or kind is dict:
        return not value
    if kind is bool or kind is int or kind is float:
        return False
    return value == "" or value == [] or value == {}


def _actual_number(x: Any) -> bool:
    # The interpreter's number for `!` and `==`: any `numbers.Number` but a bool.
    return not isinstance(x, bool) and isinstance(x, Number)


def _ordered(x: Any) -> bool:
    # `_Interpreter.visit_comparator`'s number for `<` and friends: int or float, not bool.
    return isinstance(x, int | float) and not isinstance(x, bool)


def _equals(x: Any, y: Any) -> bool:
    # jmespath 1.1's `==`: Python's equality, except that 0 and 1 never equal false and true (Python says
    # `1 == True`). Only the top level is special: `[1] == [true]` stays Python's answer, as in jmespath.
    if _actual_number(x) and x in (0, 1):
        if isinstance(y, bool):
            return False
    elif _actual_number(y) and y in (0, 1) and isinstance(x, bool):
        return False
    return x == y


# -- the nodes


def _field(node: dict) -> Closure:
    return _keys((node["value"],))


def _get(value: Any, key: str) -> Any:
    # `visit_field`: `value.get(key)`, null when the value has no `get` (a list, a string, a number, null).
    try:
        return value.get(key)
    except AttributeError:
        return None


def _keys(keys: tuple[str, ...]) -> Closure:
    # A chain of fields (`a.b.c`, a subexpression of fields): each is `visit_field` on the previous result.
    # Null has no `get`, so once a step gives null every later one does: stopping there is the same result.
    if len(keys) == 1:
        (key,) = keys

        def one(value: Any) -> Any:
            if type(value) is dict:
                return value.get(key)
            return _get(value, key)

        return one

    def chain(value: Any) -> Any:
        for key in keys:
            if type(value) is dict:
                value = value.get(key)
            elif value is None:
                return None
            else:
                value = _get(value, key)
        return value

    return chain


def _chain(node: dict) -> tuple[str, ...] | None:
    # The keys of `a.b.c` (the parser nests it as ((a.b).c)) or `a | b`, or None when it is anything else.
    if node["type"] == "field":
        return (node["value"],)
    if node["type"] in ("subexpression", "pipe"):
        keys: tuple[str, ...] = ()
        for child in node["children"]:
            more = _chain(child)
            if more is None:
                return None
            keys += more
        return keys
    return None


def _sequence(node: dict) -> Closure:
    # `visit_subexpression`, `visit_index_expression`, `visit_pipe`: each child on the previous result.
    keys = _chain(node)
    if keys is not None:
        return _keys(keys)
    children = node["children"]
    steps = tuple(compile_tree(child) for child in children)
    if len(steps) == 2:
        first, second = steps
        return lambda value: second(first(value))

    def run(value: Any) -> Any:
        for step in steps:
            value = step(value)
        return value

    return run


def _identity(node: dict) -> Closure:
    # `visit_identity`, `visit_current` (`@`).
    return _same


def _same(value: Any) -> Any:
    return value


def _literal(node: dict) -> Closure:
    # `visit_literal`: the parsed value itself, the same object every time, as the interpreter returns it.
    literal = node["value"]
    return lambda value: literal


def _comparator(node: dict) -> Closure:
    op = node["value"]
    left_node, right_node = node["children"]
    left, right = compile_tree(left_node), compile_tree(right_node)
    if op in ("eq", "ne"):
        if right_node["type"] == "literal" and type(right_node["value"]) is str:
            # `_equals(x, text)`: text is neither a number nor a bool, so no special case applies and it is
            # Python's `==`; `!=` is `not _equals`, as in COMPARATOR_FUNC.
            text = right_node["value"]
            if left_node["type"] == "field":  # `role == 'system'`, the usual filter: one call per element
                return _field_is_text(left_node["value"], text, op == "eq")
            if op == "eq":
                return lambda value: left(value) == text
            return lambda value: not (left(value) == text)  # noqa: SIM201 (`not ==`, as the interpreter's `ne`)
        if op == "eq":
            return lambda value: _equals(left(value), right(value))
        return lambda value: not _equals(left(value), right(value))
    compare = _ORDER[op]

    def order(value: Any) -> Any:
        # `_Interpreter.visit_comparator`: two numbers or two strings are compared, anything else is null.
        a, b = left(value), right(value)
        if (_ordered(a) and _ordered(b)) or (isinstance(a, str) and isinstance(b, str)):
            return compare(a, b)
        return None

    return order


def _field_is_text(key: str, text: str, equal: bool) -> Closure:
    # `visit_field` then `_equals` against text (Python's `==`, see above), in one closure.
    if equal:

        def eq(value: Any) -> bool:
            if type(value) is dict:
                return value.get(key) == text
            return _get(value, key) == text

        return eq

    def ne(value: Any) -> bool:
        if type(value) is dict:
            return not (value.get(key) == text)  # noqa: SIM201 (`not ==`, as the interpreter's `ne`)
        return not (_get(value, key) == text)  # noqa: SIM201

    return ne


def _not(node: dict) -> Closure:
    child = compile_tree(node["children"][0])

    def negate(value: Any) -> bool:
        # `visit_not_expression`: Python's `not`, except that `!0` is false (0 is true in JMESPath).
        result = child(value)
        if result is True or result is False or result is None:
            return not result
        if _actual_number(result) and result == 0:
            return False
        return not result

    return negate


def _and(node: dict) -> Closure:
    left, right = (compile_tree(child) for child in node["children"])

    def both(value: Any) -> Any:
        # `visit_and_expression`: the left operand when it is false, else the right one (operands, not bools).
        matched = left(value)
        if matched is not True and (matched is False or matched is None or _is_false(matched)):
            return matched
        return right(value)

    return both


def _or(node: dict) -> Closure:
    left, right = (compile_tree(child) for child in node["children"])

    def either(value: Any) -> Any:
        # `visit_or_expression`: the left operand unless it is false, then the right one.
        matched = left(value)
        if matched is not True and (matched is False or matched is None or _is_false(matched)):
            return right(value)
        return matched

    return either


def _index(node: dict) -> Closure:
    index = node["value"]

    def at(value: Any) -> Any:
        # `visit_index`: lists only (not strings); Python's negative indices; out of range is null.
        if not isinstance(value, list):
            return None
        try:
            return value[index]
        except IndexError:
            return None

    return at


def _slice(node: dict) -> Closure:
    # `visit_slice`: Python's slice of a list with the parsed start, stop and step (a zero step raises
    # Python's ValueError, as in the interpreter); anything but a list is null.
    part = slice(*node["children"])
    return lambda value: value[part] if isinstance(value, list) else None


def _flatten(node: dict) -> Closure:
    base = compile_tree(node["children"][0])

    def flatten(value: Any) -> Any:
        # `visit_flatten`: one level of lists merged, other elements kept; null unless the base is a list.
        items = base(value)
        if not isinstance(items, list):
            return None
        merged: list = []
        for item in items:
            if isinstance(item, list):
                merged.extend(item)
            else:
                merged.append(item)
        return merged

    return flatten


def _projection(node: dict) -> Closure:
    base_node, right_node = node["children"]
    base, right = compile_tree(base_node), compile_tree(right_node)
    identity = right_node["type"] == "identity"

    def project(value: Any) -> Any:
        # `visit_projection`: the right side on each element of a list base, nulls left out; null otherwise.
        items = base(value)
        if not isinstance(items, list):
            return None
        if identity:
            return [item for item in items if item is not None]
        return _collect(right, items)

    return project


def _collect(right: Closure, items) -> list:
    """The right side on each item, nulls left out: the inner loop of the list and value projections."""
    collected = []
    for item in items:
        current = right(item)
        if current is not None:
            collected.append(current)
    return collected


def _value_projection(node: dict) -> Closure:
    base, right = (compile_tree(child) for child in node["children"])

    def project(value: Any) -> Any:
        # `visit_value_projection` (`*`): the right side on each value of whatever has `.values()`, nulls
        # left out; null when the base has none.
        items = base(value)
        try:
            items = items.values()
        except AttributeError:
            return None
        return _collect(right, items)

    return project


def _filter_projection(node: dict) -> Closure:
    base_node, right_node, condition_node = node["children"]
    base, right, condition = compile_tree(base_node), compile_tree(right_node), compile_tree(condition_node)
    identity = right_node["type"] == "identity"

    def keep(value: Any) -> Any:
        # `visit_filter_projection`: a list base only (null otherwise); for each element whose condition is
        # true in JMESPath's sense, the right side, nulls left out.
        items = base(value)
        if not isinstance(items, list):
            return None
        collected = []
        for item in items:
            matched = condition(item)
            if matched is not True and (matched is False or matched is None or _is_false(matched)):
                continue
            current = item if identity else right(item)
            if current is not None:
                collected.append(current)
        return collected

    return keep


def _multi_select_list(node: dict) -> Closure:
    parts = tuple(compile_tree(child) for child in node["children"])

    def select(value: Any) -> Any:
        # `visit_multi_select_list` (`[a, b]`): null on null, else each expression's result, nulls kept.
        if value is None:
            return None
        return [part(value) for part in parts]

    return select


def _multi_select_dict(node: dict) -> Closure:
    # Each child is a `key_val_pair`, which the interpreter evaluates as its one child.
    pairs = tuple((child["value"], compile_tree(child["children"][0])) for child in node["children"])

    def select(value: Any) -> Any:
        # `visit_multi_select_dict` (`{k: a}`): null on null, else a new object of the results, nulls kept.
        if value is None:
            return None
        collected = _DICT()
        for key, part in pairs:
            collected[key] = part(value)
        return collected

    return select


def _key_val_pair(node: dict) -> Closure:
    # `visit_key_val_pair`: its expression (only reached inside a multi-select hash).
    return compile_tree(node["children"][0])


def _function(node: dict) -> Closure:
    # `visit_function_expression`: the arguments left to right, then the same Functions object's
    # `call_function`, which checks arity and types and raises jmespath's own errors.
    name = node["value"]
    args = tuple(compile_tree(child) for child in node["children"])
    call = _call_function
    if len(args) == 1:
        (only,) = args
        return lambda value: call(name, [only(value)])
    if len(args) == 2:
        first, second = args
        return lambda value: call(name, [first(value), second(value)])
    return lambda value: call(name, [arg(value) for arg in args])


# `expref` (`&expr`, for sort_by, max_by, map...) is left to the interpreter: functions recognise jmespath's
# own expression object by its type's name, so making one is the interpreter's business.
_BUILDERS: dict[str, Callable[[dict], Closure]] = {
    "field": _field,
    "subexpression": _sequence,
    "index_expression": _sequence,
    "pipe": _sequence,
    "identity": _identity,
    "current": _identity,
    "literal": _literal,
    "comparator": _comparator,
    "not_expression": _not,
    "and_expression": _and,
    "or_expression": _or,
    "index": _index,
    "slice": _slice,
    "flatten": _flatten,
    "projection": _projection,
    "value_projection": _value_projection,
    "filter_projection": _filter_projection,
    "multi_select_list": _multi_select_list,
    "multi_select_dict": _multi_select_dict,
    "key_val_pair": _key_val_pair,
    "function_expression": _function,
}
