"""The extra JMESPath functions of rule-pack expressions, and the evaluation that provides them."""

from __future__ import annotations

import jmespath
import pytest
from jmespath import exceptions

from switchyard.language.functions import OPTIONS, compile, search

BODY = {
    "model": "chatgpt/gpt-4o",
    "tags": ["a", "b"],
    "messages": [
        {"role": "user", "content": "Hello"},
        {"role": "system", "content": "Be brief."},
        {"role": "assistant", "content": "Hi."},
        {"role": "System", "content": "Shout."},
    ],
}


def run(expression: str, data=BODY):
    return search(compile(expression), data)


def test_replace_renames_a_model_by_removing_a_prefix():
    assert run("replace(model, 'chatgpt/', '')") == "gpt-4o"


def test_replace_replaces_every_occurrence():
    assert run("replace('a-b-c', '-', '_')") == "a_b_c"


def test_replace_without_a_match_returns_the_subject_unchanged():
    assert run("replace(model, 'claude/', '')") == "chatgpt/gpt-4o"


def test_split_returns_the_parts_between_separators_including_empty_ones():
    assert run("split('a,b,,c', ',')") == ["a", "b", "", "c"]
    assert run("split(model, '/')") == ["chatgpt", "gpt-4o"]


def test_split_with_an_empty_separator_splits_into_characters():
    assert run("split('abc', '')") == ["a", "b", "c"]


def test_lower_and_upper_change_case():
    assert run("lower('GPT-4o')") == "gpt-4o"
    assert run("upper('gpt-4o')") == "GPT-4O"


def test_concat_of_one_array_is_a_copy_of_it():
    assert run("concat(tags)") == ["a", "b"]


def test_concat_of_three_arrays_puts_them_one_after_the_other():
    assert run("concat(tags, `[1, 2]`, `[]`, tags)") == ["a", "b", 1, 2, "a", "b"]
    assert run("concat(`[1]`, `[2]`, `[3]`)") == [1, 2, 3]


def test_concat_moves_system_messages_first():
    roles = run("concat(messages[?role=='system'], messages[?role!='system'])[].role")
    assert roles == ["system", "user", "assistant", "System"]


def test_concat_treats_null_as_an_empty_array():
    assert run("concat(missing[?role=='system'], tags, missing)") == ["a", "b"]
    assert run("concat(missing)") == []


def test_concat_does_not_modify_its_arguments():
    data = {"a": [1], "b": [2]}
    assert run("concat(a, b)", data) == [1, 2]
    assert data == {"a": [1], "b": [2]}


def test_the_functions_work_inside_a_filter_expression():
    assert run("messages[?lower(role)=='system'].content") == ["Be brief.", "Shout."]
    assert run("messages[?contains(split(content, ' '), 'brief.')].role") == ["system"]
    assert run("messages[?upper(replace(role, 'ant', ''))=='ASSIST'].content") == ["Hi."]


def test_the_functions_work_inside_a_projection():
    assert run("messages[*].upper(role)") == ["USER", "SYSTEM", "ASSISTANT", "SYSTEM"]


def test_the_built_in_functions_are_still_available():
    assert run("length(messages)") == 4
    assert run("starts_with(model, 'chatgpt/')") is True


@pytest.mark.parametrize(
    "expression",
    [
        "replace(`1`, 'a', 'b')",
        "replace(model, `null`, '')",
        "replace(model, 'a', `[]`)",
        "split(tags, ',')",
        "split(model, `1`)",
        "lower(`null`)",
        "upper(tags)",
        "concat(model)",
        "concat(tags, model)",
        "concat(tags, tags, `{}`)",
    ],
)
def test_a_wrong_argument_type_raises_jmespaths_type_error(expression):
    with pytest.raises(exceptions.JMESPathTypeError):
        run(expression)


@pytest.mark.parametrize("expression", ["replace(model, 'a')", "lower(model, model)", "split(model)", "concat()"])
def test_a_wrong_number_of_arguments_raises_jmespaths_arity_error(expression):
    with pytest.raises(exceptions.ArityError):
        run(expression)


def test_an_unknown_function_raises_when_evaluated():
    compiled = compile("no_such_function(model)")
    with pytest.raises(exceptions.UnknownFunctionError):
        search(compiled, BODY)


def test_an_invalid_expression_raises_a_parse_error_when_compiled():
    with pytest.raises(exceptions.ParseError):
        compile("messages[?")


@pytest.mark.parametrize(
    "expression",
    [
        "model",
        "replace(model, 'chatgpt/', '')",
        "concat(messages[?role=='system'], messages[?role!='system'])",
        "messages[?lower(role)=='system'] | [0].content",
        "{m: upper(model), n: length(tags)}",
        "sort_by(messages, &content)[].content",
    ],
)
def test_search_gives_the_same_result_as_jmespaths_documented_search_with_options(expression):
    compiled = compile(expression)
    assert search(compiled, BODY) == compiled.search(BODY, options=OPTIONS)


def test_options_carries_the_custom_functions_for_plain_jmespath_calls():
    assert jmespath.search("upper(model)", BODY, options=OPTIONS) == "CHATGPT/GPT-4O"
    with pytest.raises(exceptions.UnknownFunctionError):
        jmespath.search("upper(model)", BODY)
