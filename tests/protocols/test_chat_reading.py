"""What counts as text and as reasoning in a Chat delta: one rule for every bridge that reads Chat."""

from switchyard.protocols.chat.reading import reasoning_of, text_of


def test_reasoning_content_wins_over_reasoning_so_servers_sending_both_are_not_doubled():
    assert reasoning_of({"reasoning_content": "a", "reasoning": "a"}) == "a"


def test_reasoning_is_read_as_a_string_or_an_object_with_text_or_content():
    assert reasoning_of({"reasoning": "plain"}) == "plain"
    assert reasoning_of({"reasoning": {"text": "t"}}) == "t"
    assert reasoning_of({"reasoning": {"content": "c"}}) == "c"


def test_an_empty_reasoning_content_falls_back_to_reasoning():
    assert reasoning_of({"reasoning_content": "", "reasoning": "r"}) == "r"


def test_values_of_the_wrong_type_are_no_reasoning_rather_than_an_error():
    assert reasoning_of({"reasoning_content": 3, "reasoning": ["x"]}) == ""
    assert reasoning_of({"reasoning": {"text": 5}}) == ""
    assert reasoning_of({}) == ""


def test_text_is_a_string_as_is_or_the_parts_of_a_list_joined():
    assert text_of("hi") == "hi"
    assert text_of([{"type": "text", "text": "a"}, "junk", {"type": "text", "text": "b"}, {"type": "x"}]) == "ab"


def test_anything_else_is_no_text():
    assert text_of(None) == ""
    assert text_of({"text": "not a list"}) == ""
