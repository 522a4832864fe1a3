"""Reading answers: reasoning in a known or an unknown field, usage, and how a stream ended."""

from __future__ import annotations

from fakes.chat_provider import chunk, completion, text_chunks

from switchyard.probe.stream import read_chat, read_responses


def test_reasoning_content_is_known_and_needs_no_mapping():
    reading = read_chat([*text_chunks("OK", reasoning=("hm",)), "[DONE]"])
    assert (reading.reasoning_field, reading.unknown_reasoning) == ("reasoning_content", False)
    assert reading.usage and reading.done and reading.finish == ["stop"]


def test_reasoning_under_an_unknown_field_is_found_with_the_event_that_carried_it():
    events = [chunk({"role": "assistant"}), chunk({"thoughts": "Let me see"}), chunk({"content": "OK"})]
    reading = read_chat([*events, chunk({}, "stop"), "[DONE]"])
    assert (reading.reasoning_field, reading.unknown_reasoning) == ("thoughts", True)
    assert reading.example == events[1]
    assert not reading.usage


def test_a_non_streaming_message_is_read_too():
    body = completion("OK")
    body["choices"][0]["message"]["thinking"] = "first this"
    reading = read_chat([], body)
    assert (reading.reasoning_field, reading.unknown_reasoning) == ("thinking", True)


def test_a_stream_without_done_or_usage_says_so():
    reading = read_chat([chunk({"content": "OK"}), chunk({}, "stop")])
    assert "no usage" in reading.describe() and "ended without [DONE]" in reading.describe()


def test_a_responses_stream_ends_with_its_terminal_event_and_carries_usage():
    events = [
        {"type": "response.reasoning_summary_text.delta", "delta": "x"},
        {"type": "response.completed", "response": {"usage": {"input_tokens": 1}}},
    ]
    reading = read_responses(events)
    assert reading.done and reading.usage and reading.reasoning_field == "reasoning_summary_text"
    assert "ended with response.completed" in reading.describe()
