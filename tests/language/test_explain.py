"""switchyard/language/explain.py: how `switchyard apply --explain` describes what a step changed."""

from __future__ import annotations

from switchyard.language.explain import diff


def test_a_moved_value_is_reported_as_a_rename() -> None:
    assert diff({"max_output_tokens": 5}, {"max_tokens": 5}).describe() == "renamed max_output_tokens -> max_tokens"


def test_values_equal_only_in_python_are_not_paired_as_a_rename() -> None:
    # 0 == False in Python; in JSON they are different values, so this is a removal and an addition.
    changes = diff({"frequency_penalty": 0, "tools": [{}]}, {"tools": [{"strict": False}]})
    assert changes.describe() == "added tools[0].strict; removed frequency_penalty"


def test_a_filter_drop_names_the_removed_elements_only() -> None:
    before = {"tools": [{"type": "function"}, {"type": "web_search"}, {"type": "function"}]}
    after = {"tools": [{"type": "function"}, {"type": "function"}]}
    assert diff(before, after).describe() == "removed tools[1]"


def test_keys_that_need_quotes_are_quoted_and_no_change_says_so() -> None:
    assert diff({}, {"x.y": 1}).describe() == 'added "x.y"'
    assert diff({"a": [1]}, {"a": [1]}).describe() == "no change"
