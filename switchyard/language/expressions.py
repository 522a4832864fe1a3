"""Compiling JMESPath expressions once, into plain callables.

Every `match`, `compute` and filter in a pack becomes an `Expression`: a callable taking the node
and returning the result. Most expressions in real packs are simple dotted paths (`stream`,
`reasoning.effort`); those skip JMESPath entirely and become direct dict lookups, about 6x faster
than evaluating them with jmespath's interpreter (20x faster than `compiled.search`; `bench/bench_engine.py`
measures it), which is what keeps per-chunk response steps within microseconds.
Everything else is parsed once by jmespath, with the extra functions of `switchyard.language.functions`
(replace, split, lower, upper, concat), and its syntax tree compiled into closures by
`switchyard.language.compiler`, with exactly the results of jmespath's interpreter and several times faster
(filters such as `messages[?role == 'system']` were most of a pack's time on a large request).

Truthiness follows JMESPath, not Python: `0` is true; null, false, "", [] and {} are false.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from jmespath.exceptions import IncompleteExpressionError, JMESPathError

from switchyard.errors import ExpressionError
from switchyard.language.compiler import compile_tree
from switchyard.language.functions import OPTIONS
from switchyard.language.functions import compile as jmespath_compile

_TABLE = OPTIONS.custom_functions.FUNCTION_TABLE

# A JMESPath unquoted identifier, and dotted chains of them: the forms that need no parser.
_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_DOTTED = re.compile(rf"{_IDENT}(?:\.{_IDENT})*")
# `path == 'text'`, `path != 'text'` and `!key`: with dotted paths, most of the `match` lines of real
# packs (`role == 'developer'`, `type != 'function'`, `!stream`). A raw string without escapes only.
_COMPARE = re.compile(rf"({_IDENT}(?:\.{_IDENT})*)\s*(==|!=)\s*'([^'\\]*)'")
_NOT = re.compile(rf"!\s*({_IDENT})")  # one key only: JMESPath reads `!a.b` as `(!a).b`
_KEYWORDS = ("true", "false", "null")


class Expression:
    """A compiled expression. Hot paths capture `evaluate` once; calling the object also works."""

    __slots__ = ("evaluate", "simple", "source")

    def __init__(self, source: str, evaluate: Callable[[Any], Any], simple: bool):
        self.source = source
        self.evaluate = evaluate
        self.simple = simple

    def __call__(self, node: Any) -> Any:
        return self.evaluate(node)

    def __repr__(self) -> str:
        return f"Expression({self.source!r})"


def truthy(value: Any) -> bool:
    """JMESPath truthiness: false, null, empty string, empty array and empty object are false."""
    if value is None or value is False:
        return False
    if type(value) in (str, list, dict):
        return len(value) > 0
    return True


def compile_expression(source: str) -> Expression:
    """Compile `source`, raising ExpressionError with the parser's column when it is not valid."""
    source = source.strip()
    if source in _KEYWORDS:
        # In JMESPath a bare `true` is the key named "true", so `match: "true"` would never match.
        raise ExpressionError(f"{source!r} is the key named {source!r} in JMESPath; the literal is `{source}`", 0)
    if _DOTTED.fullmatch(source) and source not in _KEYWORDS:
        return Expression(source, _lookup(tuple(source.split("."))), simple=True)
    fast = _fast_form(source)
    if fast is not None:
        return Expression(source, fast, simple=True)
    try:
        parsed = jmespath_compile(source)
    except JMESPathError as exc:
        column = getattr(exc, "lex_position", None)
        if column is None:
            column = getattr(exc, "lexer_position", 0) or 0
        if isinstance(exc, IncompleteExpressionError):  # its own message only says "Invalid jmespath expression"
            reason = "incomplete expression"
        else:
            reason = getattr(exc, "message", None) or getattr(exc, "msg", None) or str(exc)
        token = getattr(exc, "token_value", None)
        if token not in (None, ""):
            reason = f"{reason} near {token!r}"
        raise ExpressionError(f"invalid JMESPath {source!r}: {reason}", column) from None
    # jmespath only finds an unknown function, or a wrong number of arguments, when it evaluates;
    # a pack must fail when it loads instead.
    problem = _check_functions(parsed.parsed)
    if problem:
        raise ExpressionError(f"invalid JMESPath {source!r}: {problem}", 0)
    return Expression(source, compile_tree(parsed.parsed), simple=False)


def _check_functions(node: Any) -> str | None:
    if isinstance(node, dict):
        if node.get("type") == "function_expression":
            name, args = node.get("value"), node.get("children", [])
            spec = _TABLE.get(name)
            if spec is None:
                return f"unknown function {name}()"
            signature = spec["signature"]
            variadic = bool(signature) and signature[-1].get("variadic")
            if len(args) < len(signature) - (1 if variadic else 0) or (not variadic and len(args) > len(signature)):
                return f"{name}() takes {len(signature)}{' or more' if variadic else ''} argument(s), got {len(args)}"
        for child in node.get("children", ()):
            problem = _check_functions(child)
            if problem:
                return problem
    return None


def _fast_form(source: str) -> Callable[[Any], Any] | None:
    """A direct closure for the comparison and negation forms above, with JMESPath's exact results."""
    m = _COMPARE.fullmatch(source)
    if m and m.group(1) not in _KEYWORDS:
        get, literal = _lookup(tuple(m.group(1).split("."))), m.group(3)
        if m.group(2) == "==":
            return lambda node: get(node) == literal
        return lambda node: get(node) != literal
    m = _NOT.fullmatch(source)
    if m and m.group(1) not in _KEYWORDS:
        get = _lookup((m.group(1),))
        return lambda node: not truthy(get(node))
    return None


def _lookup(keys: tuple[str, ...]) -> Callable[[Any], Any]:
    # Same results as JMESPath for these forms: a missing key or a non-object on the way is null.
    if len(keys) == 1:
        (key,) = keys

        def one(node: Any) -> Any:
            return node.get(key) if type(node) is dict else None

        return one

    def many(node: Any) -> Any:
        for key in keys:
            if type(node) is not dict:
                return None
            node = node.get(key)
        return node

    return many
