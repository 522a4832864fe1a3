"""The JMESPath functions rule-pack expressions get beside the built-in ones, and the way to evaluate them.

Every expression in a rule pack is compiled with `compile` and evaluated with `search`, which makes
these functions available everywhere:

- `replace(subject, old, new)`: `subject` with every occurrence of `old` replaced by `new`, as Python's
  `str.replace` does (so an empty `old` inserts `new` between all characters). The model-rename case:
  `replace(model, 'chatgpt/', '')` turns `"chatgpt/gpt-4o"` into `"gpt-4o"`.
- `split(subject, sep)`: the parts of `subject` between occurrences of `sep`, as Python's `str.split`
  with a separator does: `split('a,b,,c', ',')` is `["a", "b", "", "c"]`. An empty `sep` splits into
  characters, `split('abc', '')` is `["a", "b", "c"]`, where Python would raise.
- `lower(s)`, `upper(s)`: `lower('GPT-4o')` is `"gpt-4o"`, `upper('gpt-4o')` is `"GPT-4O"`.
- `concat(array, ...)`: the arrays, one after the other, for one or more arrays. A null argument counts
  as an empty array, because in JMESPath a missing key, or a filter on one, gives null: a pack that
  moves system messages first, `concat(messages[?role=='system'], messages[?role!='system'])`, then
  gives `[]` rather than an error for a body without `messages`.

Arguments are type-checked by jmespath from each function's signature, so a wrong type raises jmespath's
own `JMESPathTypeError` (and a wrong count its `ArityError`), which the step that runs the expression
turns into a `StepError`.

Design: the extension uses jmespath's documented mechanism, a `jmespath.functions.Functions` subclass
passed as `Options(custom_functions=...)`. Evaluation skips one cost of the documented
`compiled.search(data, options=OPTIONS)`: that builds a new `TreeInterpreter` for every call, which is
about a microsecond, as much as evaluating a simple expression. The interpreter holds no per-search state
(only the options and a cache of its own methods), so `search` reuses one, with the same result; the
tests check that the two agree.
"""

from __future__ import annotations

from typing import Any

import jmespath
from jmespath import functions
from jmespath.parser import ParsedResult
from jmespath.visitor import TreeInterpreter

__all__ = ["OPTIONS", "compile", "search"]

_STRING = {"types": ["string"]}


class SwitchyardFunctions(functions.Functions):
    """The functions of this module's docstring; jmespath registers every `_func_<name>` with a signature."""

    @functions.signature(_STRING, _STRING, _STRING)
    def _func_replace(self, subject: str, old: str, new: str) -> str:
        return subject.replace(old, new)

    @functions.signature(_STRING, _STRING)
    def _func_split(self, subject: str, sep: str) -> list[str]:
        if not sep:
            return list(subject)
        return subject.split(sep)

    @functions.signature(_STRING)
    def _func_lower(self, s: str) -> str:
        return s.lower()

    @functions.signature(_STRING)
    def _func_upper(self, s: str) -> str:
        return s.upper()

    @functions.signature({"types": ["array", "null"], "variadic": True})
    def _func_concat(self, *arrays: list | None) -> list:
        result: list = []
        for i, array in enumerate(arrays):
            if i:
                # jmespath type-checks a variadic function's first argument only; the rest are checked
                # here, with jmespath's own check, so every argument fails the same way.
                self._type_check_single(array, ["array", "null"], "concat")
            if array:
                result.extend(array)
        return result


OPTIONS = jmespath.Options(custom_functions=SwitchyardFunctions())


class _Interpreter(TreeInterpreter):
    """jmespath's interpreter with ordering comparisons as the JMESPath spec defines them.

    The spec says `<`, `<=`, `>`, `>=` on anything but two numbers give null. jmespath 1.1 also
    orders two strings (kept: packs may rely on it), but raises Python's TypeError on a string
    against a number, so `n > `1`` on a client body with `"n": "many"` would fail the request
    instead of being false.
    """

    def visit_comparator(self, node, value):
        if node["value"] in self._EQUALITY_OPS:
            return super().visit_comparator(node, value)
        left = self.visit(node["children"][0], value)
        right = self.visit(node["children"][1], value)
        if not ((_number(left) and _number(right)) or (isinstance(left, str) and isinstance(right, str))):
            return None
        return self.COMPARATOR_FUNC[node["value"]](left, right)


def _number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


# The one interpreter: `search` below, and `compiler` for a node type it has no closure for.
INTERPRETER = _Interpreter(OPTIONS)


def compile(expression: str) -> ParsedResult:
    """Parse `expression` once (a pack does it at load time); raises jmespath's `ParseError` if invalid.

    An unknown function name is not a parse error: jmespath reports it, as `UnknownFunctionError`, when
    the expression is evaluated.
    """
    return jmespath.compile(expression)


def search(compiled: ParsedResult, data: Any) -> Any:
    """Evaluate a compiled expression on `data`, with this module's functions; jmespath's errors propagate."""
    return INTERPRETER.visit(compiled.parsed, data)
