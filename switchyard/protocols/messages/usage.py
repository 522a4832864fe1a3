"""Anthropic Messages usage: `usage` on a message, and in a stream on `message_start` and `message_delta`.

    {"input_tokens": 4, "cache_read_input_tokens": 8, "cache_creation_input_tokens": 0, "output_tokens": 34}

Anthropic's input buckets are disjoint (`input_tokens` is what was neither read from nor written to
the cache), so `input` is their sum and `cached` the cache reads (`protocols/usage.py` has the one
meaning). A stream gives the input counts on `message_start` and the cumulative output count (and,
from newer servers, the input counts again) on `message_delta`: the meter keeps the fields it has
seen, a later value of a field replacing the earlier. Anthropic reports no reasoning count.
A content event is a `content_block_delta` (text, thinking, tool input).
"""

from __future__ import annotations

from switchyard.protocols.usage import Meter, Usage, count

_FIELDS = ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens", "output_tokens")


def read(usage: object) -> Usage | None:
    """An Anthropic `usage` object -> Usage; None when it has no count."""
    if type(usage) is not dict:
        return None
    found = {name: count(usage.get(name)) for name in _FIELDS}
    if all(value is None for value in found.values()):
        return None
    fresh, read_, written, output = (found[name] or 0 for name in _FIELDS)
    return Usage(input=fresh + read_ + written, output=output, cached=read_, cache_written=written)


def body_usage(body: object) -> Usage | None:
    """The usage of a whole `message` body."""
    return read(body.get("usage")) if type(body) is dict else None


class MessagesMeter(Meter):
    __slots__ = ("_seen",)

    def __init__(self) -> None:
        super().__init__()
        self._seen: dict = {}  # the usage fields seen so far, the latest value of each

    def body(self, body: object) -> MessagesMeter:
        if type(body) is dict:
            self.usage = read(body.get("usage"))
            self._named(body.get("model"))
            self._stopped(body.get("stop_reason"))
        return self

    def _read(self, event: dict) -> bool:
        kind = event.get("type")
        if kind == "content_block_delta":
            if self.content:
                return False
            self.content = True
            return True
        if kind == "message_start":
            message = event.get("message")
            if type(message) is not dict:
                return False
            self._named(message.get("model"))
            usage = message.get("usage")
        elif kind == "message_delta":
            delta = event.get("delta")
            if type(delta) is dict:
                self._stopped(delta.get("stop_reason"))
            usage = event.get("usage")
        else:
            return False
        if type(usage) is dict:
            self._seen.update({k: v for k, v in usage.items() if k in _FIELDS and count(v) is not None})
            self.usage = read(self._seen)
        return False

    def _stopped(self, reason: object) -> None:
        if type(reason) is str and reason:
            self.finish[:] = [reason]
