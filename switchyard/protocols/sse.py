"""Server-Sent Events: an incremental decoder and the encoders for the streams the proxy writes.

Every streamed LLM response passes through here twice: upstream bytes are decoded into `Event`s, the
rule packs rewrite them, and the result is encoded again for the client. So this module is in the hot
path of every token, and it is written for that.

Design: the decoder works on bytes and is incremental. `SSEDecoder.decode` takes whatever a socket read
returned and returns the events that read completed; the rest waits in the decoder. It follows the
WHATWG "event stream interpretation" rules (HTML Living Standard, section 9.2.6) with two deliberate
representation choices, documented on `Event`.

- Lines are found in bytes, with C-level `bytes.splitlines`, not in text. The three line ends of the
  format (CRLF, LF, CR) are ASCII bytes that never occur inside a multi-byte UTF-8 sequence, so a
  read that ends in the middle of a character needs no special care: the partial line simply waits
  for the rest. (`str.splitlines` would also be wrong: it splits on U+2028, U+0085 and others.)
- Text is decoded once per field value, with `errors="replace"`, as the standard requires. Decoding
  each value on its own gives exactly what decoding the whole stream would, because a malformed
  sequence cannot span the ASCII delimiters (`:`, line ends) the values are cut at.
- Only the newest read is scanned for line ends; an unfinished line is kept in a `bytearray`. A long
  event arriving in many small reads costs linear time, not quadratic, and `max_buffer` bounds the
  memory a peer that never ends its line or its event can make us hold.

Encoding is the easy direction: `encode` for arbitrary text, `encode_json` for the common case of one
JSON object per event (orjson never writes a raw newline, so the payload is always one `data:` line),
and `DONE`, the OpenAI end-of-stream marker.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import orjson

from switchyard.errors import SSEError

__all__ = ["DEFAULT_MAX_BUFFER", "DONE", "Event", "SSEDecoder", "SSEError", "encode", "encode_json", "encode_typed"]

DONE = b"data: [DONE]\n\n"
DEFAULT_MAX_BUFFER = 16 * 1024 * 1024

_BOM = b"\xef\xbb\xbf"
_CR = 13
_LF = 10
_COLON = 58


class Event(NamedTuple):
    """One dispatched event.

    A NamedTuple, not a dataclass: the decoder creates tens of thousands per second and a tuple is the
    cheapest immutable object Python builds (a frozen dataclass `__init__` costs several times more).

    - `data`: the `data:` lines of the event joined with "\\n". An event with `data:` and an empty value
      is dispatched with `data == ""`; an event with no `data:` line at all is never dispatched.
    - `event`: the `event:` field, or None for the default type (the standard calls it "message").
    - `id`: the last event ID *as of this event*, as the standard defines it: an `id:` field applies to
      its event and to every later one until the next `id:`. None until the stream sets one.
    - `retry`: the `retry:` value given inside this event's block, if any. The standard makes `retry` a
      property of the connection, not of an event; it is here so a proxy can pass it on. The
      connection-level value is `SSEDecoder.retry`.
    """

    data: str
    event: str | None = None
    id: str | None = None
    retry: int | None = None

    @property
    def is_done(self) -> bool:
        """True for OpenAI's end-of-stream marker, `data: [DONE]`, which is otherwise an ordinary event."""
        return self.data == "[DONE]"


_new = tuple.__new__


class SSEDecoder:
    """Turns the bytes of one event stream, in reads of any size, into `Event`s.

    Call `decode(chunk)` for every read and `flush()` once at the end of the stream. One decoder per
    stream; it is not thread-safe (nor does it need to be: a stream is read by one task).
    """

    __slots__ = (
        "_at_start",
        "_data",
        "_data_size",
        "_event_retry",
        "_event_type",
        "_skip_lf",
        "_tail",
        "dispatch_unterminated",
        "last_event_id",
        "max_buffer",
        "retry",
    )

    def __init__(self, *, max_buffer: int = DEFAULT_MAX_BUFFER, dispatch_unterminated: bool = False):
        """`max_buffer`: the most bytes one unfinished line plus the event's data may occupy before
        `SSEError` is raised. `dispatch_unterminated`: see `flush`."""
        self.max_buffer = max_buffer
        self.dispatch_unterminated = dispatch_unterminated
        self.last_event_id: str | None = None
        self.retry: int | None = None
        self._tail = bytearray()  # the unfinished last line, without its line end
        self._data: list[bytes] = []  # the values of the pending event's `data:` lines
        self._data_size = 0
        self._event_type: str | None = None
        self._event_retry: int | None = None
        self._skip_lf = False  # the previous read ended in CR: a leading LF completes that CRLF
        self._at_start = True  # no line seen yet: the first one may start with a byte order mark

    def decode(self, chunk: bytes) -> list[Event]:
        """Feed one read of the stream; returns the events it completed, in order (often none)."""
        if not chunk:
            return []
        if self._skip_lf:
            self._skip_lf = False
            if chunk[0] == _LF:
                chunk = chunk[1:]
                if not chunk:
                    return []
        lines = chunk.splitlines()
        last = chunk[-1]
        if last == _CR:
            # The line is complete whatever comes next, but if the next read starts with LF, that LF is
            # the second half of this CRLF, not an empty line that would dispatch the event.
            self._skip_lf = True
            unfinished = None
        elif last == _LF:
            unfinished = None
        else:
            unfinished = lines.pop()
        tail = self._tail
        if tail and lines:
            tail += lines[0]
            lines[0] = bytes(tail)
            tail.clear()
        if unfinished is not None:
            tail += unfinished
            if len(tail) + self._data_size > self.max_buffer:
                self._overflow()
        if not lines:
            return []
        if self._at_start:
            self._at_start = False
            # One leading BOM is ignored, as the standard says. It is checked on the first complete line,
            # so a BOM split across reads is still recognised.
            lines[0] = lines[0].removeprefix(_BOM)
        return self._interpret(lines)

    def flush(self) -> list[Event]:
        """End of stream: returns the events it completes and resets the decoder for a new stream.

        The standard says an event not followed by a blank line is incomplete and must be discarded, and
        that is the default: a connection cut in the middle of an event then loses the event rather than
        forwarding a truncated JSON object as if it were whole. With `dispatch_unterminated=True`, for
        upstreams known to end with `data: [DONE]` and no blank line, the unfinished last line is taken
        as complete and the pending event is dispatched, if it has data.

        `last_event_id` and `retry` survive, as the standard keeps them across reconnections.
        """
        events: list[Event] = []
        if self.dispatch_unterminated:
            lines = [bytes(self._tail)] if self._tail else []
            if lines and self._at_start:
                lines[0] = lines[0].removeprefix(_BOM)
            lines.append(b"")  # the blank line the stream did not send
            events = self._interpret(lines)
        self._reset()
        return events

    def _interpret(self, lines: list[bytes]) -> list[Event]:
        # The hot loop. State lives in locals for the duration and is stored back at the end; the
        # overwhelmingly common line, `data: ...`, is tested first.
        events: list[Event] = []
        data = self._data
        size = self._data_size
        event_type = self._event_type
        event_retry = self._event_retry
        for line in lines:
            if line.startswith(b"data: "):
                data.append(line[6:])
                size += len(line) - 5  # the value and the "\n" that will join it to the next
                continue
            if not line:
                if data:
                    payload = b"\n".join(data).decode("utf-8", "replace")
                    # tuple.__new__ directly: a NamedTuple's own __new__ is a Python call, a third of this line.
                    events.append(_new(Event, (payload, event_type, self.last_event_id, event_retry)))
                    data.clear()
                    size = 0
                event_type = None
                event_retry = None
                continue
            if line[0] == _COLON:
                # A comment, such as the keep-alive `: ping`. The general path below would ignore it too, as
                # a field with an empty name; this is the shortcut for the most common non-data line.
                continue
            field, colon, value = line.partition(b":")
            if colon and value[:1] == b" ":
                value = value[1:]
            if field == b"data":
                data.append(value)
                size += len(value) + 1
            elif field == b"event":
                event_type = value.decode("utf-8", "replace") or None
            elif field == b"id":
                if b"\0" not in value:
                    self.last_event_id = value.decode("utf-8", "replace")
            elif field == b"retry" and value.isdigit():  # bytes.isdigit is ASCII-only, as the standard wants
                event_retry = self.retry = int(value)
            # Any other field is ignored, as the standard says.
        self._data_size = size
        self._event_type = event_type
        self._event_retry = event_retry
        # Checked once per read, not per line: one read adds at most its own length, so memory stays
        # within max_buffer plus one read.
        if size + len(self._tail) > self.max_buffer:
            self._overflow()
        return events

    def _overflow(self) -> None:
        limit = self.max_buffer
        self._reset()
        raise SSEError(f"event stream line or event exceeds the {limit}-byte buffer limit")

    def _reset(self) -> None:
        self._tail = bytearray()
        self._data = []
        self._data_size = 0
        self._event_type = None
        self._event_retry = None
        self._skip_lf = False
        self._at_start = True


def _check_event_name(event: str) -> bytes:
    name = event.encode()
    if b"\n" in name or b"\r" in name:
        raise ValueError(f"an SSE event name cannot contain a line end: {event!r}")
    return name


# The `event: NAME\ndata: ` head of each event name seen, built once: a stream has a handful of names
# and thousands of events. Bounded, so a peer inventing names cannot grow it without end.
_HEADS: dict[str, bytes] = {}
_MAX_HEADS = 1024


def _head(event: str) -> bytes:
    head = _HEADS.get(event)
    if head is None:
        head = b"event: " + _check_event_name(event) + b"\ndata: "
        if len(_HEADS) < _MAX_HEADS:
            _HEADS[event] = head
    return head


def encode(data: bytes | str, event: str | None = None) -> bytes:
    """One event: an optional `event:` line, one `data:` line per line of `data`, and the blank line.

    Any line end in `data` (LF, CRLF or CR) starts a new `data:` line, so decoding gives back `data` with
    its line ends normalised to LF. Raises ValueError if `event` contains a line end.
    """
    if isinstance(data, str):
        data = data.encode()
    if b"\n" in data or b"\r" in data:
        # Not splitlines: a trailing line end must survive, as a last and empty `data:` line.
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\ndata: ")
    if event is None:
        return b"data: " + data + b"\n\n"
    return b"event: " + _check_event_name(event) + b"\ndata: " + data + b"\n\n"


def encode_typed(obj: Any) -> bytes:
    """One event named by its own `type` field, as Responses and Anthropic Messages streams name theirs.

    `encode_json(obj, obj["type"])` in one call: it frames every event of those streams.
    """
    if type(obj) is not dict:
        return encode_json(obj)
    name = obj.get("type")
    head = _HEADS.get(name) if type(name) is str else None
    if head is None:
        return encode_json(obj, name)
    return head + orjson.dumps(obj) + b"\n\n"


def encode_json(obj: Any, event: str | None = None) -> bytes:
    """One event whose data is `obj` as compact JSON, the shape of every OpenAI streaming chunk.

    orjson escapes line ends inside strings and writes none of its own, so the JSON is always a single
    `data:` line and needs none of `encode`'s splitting. orjson's own error (a TypeError) is raised for
    an object it cannot serialise.
    """
    if event is None:
        return b"data: " + orjson.dumps(obj) + b"\n\n"
    return _head(event) + orjson.dumps(obj) + b"\n\n"
