"""The SSE codec: WHATWG event stream interpretation, incremental at any byte, and the encoders."""

from __future__ import annotations

import random

import orjson
import pytest

from switchyard.errors import SwitchyardError
from switchyard.protocols.sse import DONE, Event, SSEDecoder, SSEError, encode, encode_json


def decode_all(*chunks: bytes, **options) -> list[Event]:
    decoder = SSEDecoder(**options)
    events = []
    for chunk in chunks:
        events += decoder.decode(chunk)
    return events + decoder.flush()


def chunk(body: str) -> dict:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": {"content": body}}],
    }


# A stream as upstreams send them, with every feature the decoder must survive in one place: a BOM, JSON
# with 2-, 3- and 4-byte UTF-8 characters, keep-alive comments, all three line ends (never a CR line end
# followed by an LF one, which would read as one CRLF), named events, ids, retry, a multi-line event, an
# event without data, and [DONE].
STREAM = (
    b"\xef\xbb\xbf"
    + b": ping\r\n"
    + b"retry: 3000\r\n"
    + b"data: "
    + orjson.dumps(chunk("Caf\u00e9 \u00fcber"))
    + b"\r\n\r\n"
    + b"id: 7\n"
    + b"data: "
    + orjson.dumps(chunk("\u65e5\u672c\u8a9e \U0001f600"))
    + b"\n\n"
    + b"event: response.output_text.delta\r"
    + 'data:{"delta":"\u00e9"}\r\r'.encode()
    + b":\n"
    + b"data: first line\n"
    + b"data:  second line, one space kept\n"
    + b"data\n"
    + b"unknown: ignored\n"
    + b"\n"
    + b"event: only-a-type\n\n"
    + b"data: "
    + orjson.dumps(chunk("\U0001f680\n\U0001f30d"))
    + b"\r\n\r\n"
    + b"data: [DONE]\n\n"
)

EXPECTED = [
    Event(orjson.dumps(chunk("Caf\u00e9 \u00fcber")).decode(), None, None, 3000),
    Event(orjson.dumps(chunk("\u65e5\u672c\u8a9e \U0001f600")).decode(), None, "7", None),
    Event('{"delta":"\u00e9"}', "response.output_text.delta", "7", None),
    Event("first line\n second line, one space kept\n", None, "7", None),
    Event(orjson.dumps(chunk("\U0001f680\n\U0001f30d")).decode(), None, "7", None),
    Event("[DONE]", None, "7", None),
]


def test_a_realistic_stream_decoded_in_one_read_gives_the_expected_events():
    assert decode_all(STREAM) == EXPECTED


def test_a_stream_split_at_every_single_byte_offset_gives_the_same_events_as_one_read():
    for offset in range(len(STREAM) + 1):
        assert decode_all(STREAM[:offset], STREAM[offset:]) == EXPECTED, f"split at byte {offset}"


def test_a_stream_in_random_chunkings_gives_the_same_events_as_one_read():
    rng = random.Random(20240611)
    for _ in range(500):
        chunks, position = [], 0
        while position < len(STREAM):
            size = rng.randint(1, 64)
            chunks.append(STREAM[position : position + size])
            position += size
        assert decode_all(*chunks) == EXPECTED, f"chunk sizes {[len(c) for c in chunks]}"


def test_a_stream_fed_one_byte_at_a_time_gives_the_same_events_as_one_read():
    assert decode_all(*(STREAM[i : i + 1] for i in range(len(STREAM)))) == EXPECTED


def test_an_event_split_in_the_middle_of_a_utf8_character_is_decoded_once_complete():
    raw = "data: \U0001f600\n\n".encode()
    decoder = SSEDecoder()
    assert decoder.decode(raw[:8]) == []  # 6 bytes of "data: " and 2 of the 4-byte emoji
    assert decoder.decode(raw[8:]) == [Event("\U0001f600")]


def test_a_crlf_split_between_the_cr_and_the_lf_is_one_line_end_not_two():
    # Read as two line ends, the LF would be a blank line dispatching "a" on its own.
    assert decode_all(b"data: a\r", b"\ndata: b\r\n\r\n") == [Event("a\nb")]


def test_a_cr_at_the_end_of_a_read_followed_by_a_cr_dispatches_the_event():
    decoder = SSEDecoder()
    assert decoder.decode(b"data: a\r") == []
    assert decoder.decode(b"\r") == [Event("a")]


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"], ids=["LF", "CRLF", "CR"])
def test_each_of_the_three_line_ends_separates_lines_and_events(eol):
    raw = b"event: e" + eol + b"data: a" + eol + b"data: b" + eol + eol + b"data: c" + eol + eol
    assert decode_all(raw) == [Event("a\nb", "e"), Event("c")]


def test_comment_lines_are_ignored():
    assert decode_all(b": ping\n:\n:data: no\ndata: yes\n: between\n\n") == [Event("yes")]


def test_a_stream_of_only_comments_dispatches_nothing():
    assert decode_all(b": ping\n\n: ping\n\n") == []


def test_multi_line_data_is_joined_with_newlines():
    assert decode_all(b"data: one\ndata: two\ndata: three\n\n") == [Event("one\ntwo\nthree")]


@pytest.mark.parametrize(
    ("line", "data"),
    [(b"data: x", "x"), (b"data:x", "x"), (b"data:  x", " x"), (b"data: x ", "x "), (b"data::x", ":x")],
)
def test_one_leading_space_after_the_colon_is_removed_and_nothing_else(line, data):
    assert decode_all(line + b"\n\n") == [Event(data)]


def test_a_field_with_no_colon_has_an_empty_value():
    assert decode_all(b"data\n\n") == [Event("")]
    assert decode_all(b"data: a\ndata\ndata: b\n\n") == [Event("a\n\nb")]


def test_an_empty_data_field_dispatches_an_event_with_empty_data():
    assert decode_all(b"data:\n\n") == [Event("")]


def test_unknown_fields_are_ignored():
    assert decode_all(b"foo: bar\nDATA: upper\ndata : spaced\ndata: kept\n\n") == [Event("kept")]


def test_a_leading_byte_order_mark_is_ignored():
    assert decode_all(b"\xef\xbb\xbfdata: x\n\n") == [Event("x")]


def test_a_byte_order_mark_split_across_reads_is_still_ignored():
    assert decode_all(b"\xef", b"\xbb", b"\xbfdata: x\n\n") == [Event("x")]


def test_only_the_first_byte_order_mark_is_ignored():
    # The second one makes the field name "\ufeffdata", an unknown field.
    assert decode_all(b"\xef\xbb\xbf\xef\xbb\xbfdata: x\n\ndata: y\n\n") == [Event("y")]


def test_a_byte_order_mark_after_the_start_of_the_stream_is_not_ignored():
    assert decode_all(b"data: x\n\n\xef\xbb\xbfdata: y\n\n") == [Event("x")]


def test_an_event_without_data_is_not_dispatched_and_its_type_does_not_leak():
    assert decode_all(b"event: lonely\n\ndata: x\n\n") == [Event("x")]


def test_the_event_field_sets_the_type_and_an_empty_one_means_the_default():
    assert decode_all(b"event: delta\ndata: a\n\nevent:\ndata: b\n\n") == [Event("a", "delta"), Event("b")]


def test_done_is_delivered_as_an_ordinary_event():
    events = decode_all(b"data: {}\n\ndata: [DONE]\n\n")
    assert events == [Event("{}"), Event("[DONE]")]
    assert [e.is_done for e in events] == [False, True]


def test_the_last_event_id_applies_to_later_events_until_changed():
    raw = b"data: a\n\nid: 1\ndata: b\n\ndata: c\n\nid\ndata: d\n\n"
    assert [e.id for e in decode_all(raw)] == [None, "1", "1", ""]


def test_an_id_containing_nul_is_ignored():
    assert decode_all(b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n")[1].id == "1"


def test_an_id_in_an_event_without_data_still_sets_the_last_event_id():
    decoder = SSEDecoder()
    assert decoder.decode(b"id: 9\n\ndata: x\n\n") == [Event("x", id="9")]
    assert decoder.last_event_id == "9"


def test_retry_is_kept_only_when_all_ascii_digits():
    decoder = SSEDecoder()
    events = decoder.decode(b"retry: 100\ndata: a\n\nretry: 1e3\ndata: b\n\nretry: -5\nretry:\ndata: c\n\n")
    assert [e.retry for e in events] == [100, None, None]
    assert decoder.retry == 100
    decoder.decode("retry: \u0661\u0662\n\n".encode())  # Arabic-Indic digits are not ASCII digits
    assert decoder.retry == 100


def test_invalid_utf8_is_replaced_not_raised():
    assert decode_all(b"data: a\xffb\xe2\x82\n\n") == [Event("a\ufffdb\ufffd")]


def test_an_unterminated_event_is_discarded_at_the_end_of_the_stream_by_default():
    decoder = SSEDecoder()
    assert decoder.decode(b"data: a\n\ndata: b\n") == [Event("a")]
    assert decoder.flush() == []
    assert decode_all(b"data: [DONE]") == []


def test_with_dispatch_unterminated_the_end_of_the_stream_completes_the_pending_event():
    assert decode_all(b"data: [DONE]", dispatch_unterminated=True) == [Event("[DONE]")]
    assert decode_all(b"data: a\ndata: b\n", dispatch_unterminated=True) == [Event("a\nb")]
    assert decode_all(b"\xef\xbb\xbfdata: x", dispatch_unterminated=True) == [Event("x")]


def test_with_dispatch_unterminated_a_pending_event_without_data_is_still_not_dispatched():
    assert decode_all(b"data: a\n\nevent: e\n", dispatch_unterminated=True) == [Event("a")]
    assert decode_all(b"data: a\n\n", dispatch_unterminated=True) == [Event("a")]


def test_flush_resets_the_decoder_for_a_new_stream():
    decoder = SSEDecoder()
    decoder.decode(b"event: e\ndata: stale\ndata: par")
    decoder.flush()
    assert decoder.decode(b"\xef\xbb\xbftial\ndata: fresh\n\n") == [Event("fresh")]


def test_a_line_longer_than_max_buffer_raises_sse_error():
    decoder = SSEDecoder(max_buffer=1000)
    decoder.decode(b"data: " + b"x" * 600)
    with pytest.raises(SSEError, match="1000-byte"):
        decoder.decode(b"x" * 600)


def test_an_event_whose_data_lines_exceed_max_buffer_raises_sse_error():
    decoder = SSEDecoder(max_buffer=1000)
    decoder.decode(b"data: " + b"x" * 500 + b"\n")
    with pytest.raises(SSEError):
        decoder.decode(b"data: " + b"x" * 500 + b"\n")


def test_events_within_max_buffer_each_are_fine_however_many_there_are():
    decoder = SSEDecoder(max_buffer=1000)
    event = b"data: " + b"x" * 900 + b"\n\n"
    assert len(decoder.decode(event * 50)) == 50


def test_sse_error_is_a_switchyard_error():
    assert issubclass(SSEError, SwitchyardError)


def test_encode_writes_one_data_line_and_a_blank_line():
    assert encode("hello") == b"data: hello\n\n"
    assert encode(b"hello") == b"data: hello\n\n"
    assert encode("") == b"data: \n\n"


def test_encode_writes_the_event_line_first():
    assert encode("x", event="response.completed") == b"event: response.completed\ndata: x\n\n"


@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r"], ids=["LF", "CRLF", "CR"])
def test_encode_splits_multi_line_data_into_several_data_lines(eol):
    assert encode(f"a{eol}b{eol}") == b"data: a\ndata: b\ndata: \n\n"


def test_encode_refuses_an_event_name_with_a_line_end():
    with pytest.raises(ValueError, match="line end"):
        encode("x", event="a\nb")
    with pytest.raises(ValueError, match="line end"):
        encode_json({}, event="a\rb")


def test_encode_json_writes_compact_json_on_one_data_line():
    assert encode_json({"a": "x\ny"}) == b'data: {"a":"x\\ny"}\n\n'
    assert encode_json([1], event="e") == b"event: e\ndata: [1]\n\n"


def test_done_is_the_openai_end_of_stream_marker():
    assert DONE == b"data: [DONE]\n\n"
    assert decode_all(DONE)[0].is_done


@pytest.mark.parametrize(
    "data",
    ["plain", "", " leading space", "a: colon", "multi\nline\n\ntext\n", "\n", "caf\u00e9 \U0001f600", "[DONE]"],
)
def test_encode_then_decode_gives_back_the_data_and_event(data):
    assert decode_all(encode(data, event="e")) == [Event(data, "e")]
    assert decode_all(encode(data)) == [Event(data)]


def test_encode_then_decode_round_trips_random_text_with_line_ends_normalised_to_lf():
    rng = random.Random(7)
    alphabet = ["a", " ", ":", "\n", "\r", "\r\n", "\u00e9", "\u65e5", "\U0001f600", "\ufeff"]
    for _ in range(300):
        data = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        expected = data.replace("\r\n", "\n").replace("\r", "\n")
        assert decode_all(encode(data)) == [Event(expected)], repr(data)


def test_encode_json_then_decode_gives_back_the_object():
    obj = chunk("line one\nline two \u2028 \U0001f600 \r")
    [event] = decode_all(encode_json(obj, event="chunk"))
    assert event.event == "chunk"
    assert orjson.loads(event.data) == obj


def test_many_encoded_events_in_one_read_decode_to_all_of_them():
    objs = [chunk(f"token {i} \u00e9") for i in range(200)]
    stream = b"".join(encode_json(o) for o in objs) + DONE
    events = decode_all(stream)
    assert [orjson.loads(e.data) for e in events[:-1]] == objs
    assert events[-1].is_done
