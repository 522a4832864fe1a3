"""switchyard/language/expressions.py: compiled expressions, and that the fast forms give JMESPath's exact results."""

from __future__ import annotations

import jmespath
import pytest

from switchyard.language.expressions import ExpressionError, compile_expression, truthy
from switchyard.language.functions import OPTIONS

FAST = ["model", "reasoning.effort", "role == 'developer'", "a.b != 'x'", "!stream", "role=='x y'", "a == ''"]
SLOW = ["!a.b", "role == 'it\\'s'", "a == `1`", "starts_with(model, 'q')"]
VALUES = [None, True, False, 0, 1, "", "developer", "x", "x y", [], [1], {}, {"b": "x"}, {"b": 0}, {"b": None}]


def nodes():
    for v in VALUES:
        yield {"model": v, "reasoning": v, "role": v, "a": v, "stream": v}
        yield v
    yield {}


@pytest.mark.parametrize("source", FAST + SLOW)
def test_every_form_gives_exactly_what_jmespath_gives(source: str) -> None:
    compiled, reference = compile_expression(source), jmespath.compile(source)
    for node in nodes():
        got, want = outcome(compiled, node), outcome(lambda n: reference.search(n, options=OPTIONS), node)
        assert got == want and type(got) is type(want), (source, node)


def outcome(evaluate, node):
    try:
        return evaluate(node)
    except jmespath.exceptions.JMESPathError as exc:
        return type(exc)


@pytest.mark.parametrize("source", FAST)
def test_dotted_paths_comparisons_with_text_and_negated_keys_skip_the_interpreter(source: str) -> None:
    assert compile_expression(source).simple


@pytest.mark.parametrize("source", SLOW)
def test_everything_else_goes_through_jmespath(source: str) -> None:
    assert not compile_expression(source).simple


def test_truthiness_is_jmespaths_where_zero_is_true() -> None:
    assert [truthy(v) for v in (0, False, None, "", [], {}, "0", [0])] == [
        True,
        False,
        False,
        False,
        False,
        False,
        True,
        True,
    ]


def test_an_unknown_function_is_a_compile_error_not_a_runtime_one() -> None:
    with pytest.raises(ExpressionError, match="unknown function nope"):
        compile_expression("nope(model)")


@pytest.mark.parametrize("source", ["true", "false", "null"])
def test_a_bare_keyword_is_a_compile_error_pointing_at_the_literal(source: str) -> None:
    # JMESPath reads `true` as the key named "true": `match: "true"` would silently never match.
    with pytest.raises(ExpressionError, match=f"the literal is `{source}`"):
        compile_expression(source)
