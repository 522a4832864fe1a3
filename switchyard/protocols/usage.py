"""Tokens: the `Usage` of one answer, and what a protocol's usage reader gives the server.

Each protocol knows its own usage shape, so each folder has a `usage.py` with two readers that its
`Protocol` record names: `usage(body)` for a whole body and `meter()`, a small per-stream object
fed the client events of each read. Both read what the *client* receives, after the pack's
response steps and the bridge back: a pack that renames a provider's odd usage fields into the
protocol's own makes them count, and a bridged answer is read in the client's protocol.

One meaning for every protocol (the OpenAI one, which the GenAI semantic conventions follow too):
`input` is every input token, cached or not; `cached` is the part of it read from a prompt cache;
`cache_written` the part written to one (Anthropic reports it); `reasoning` is the part of
`output` spent on reasoning. Anthropic's disjoint buckets are summed into `input` by its reader.

Design choice: a reader returns None when the answer carried no usage, never a Usage of zeros, so
"unknown" stays distinguishable from "nothing" all the way to the log (`tokens=unknown`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Usage:
    """The tokens of one answer, as its client received them."""

    input: int = 0  # every input token, cached ones included
    output: int = 0  # every output token, reasoning ones included
    cached: int = 0  # of `input`: read from a prompt cache
    cache_written: int = 0  # of `input`: written to a prompt cache
    reasoning: int = 0  # of `output`: spent on reasoning

    def text(self) -> str:
        """`in=12 out=34 cached=0 reasoning=0` (and `cache_written=N` when there were any), for the log."""
        words = f"in={self.input} out={self.output} cached={self.cached} reasoning={self.reasoning}"
        return words + (f" cache_written={self.cache_written}" if self.cache_written else "")

    def record(self) -> dict:
        """The usage as JSON-ready data (traces)."""
        return {
            "input": self.input,
            "output": self.output,
            "cached": self.cached,
            "cache_written": self.cache_written,
            "reasoning": self.reasoning,
        }


class Meter:
    """What an answer's client events (or its whole body) said: usage, the model that answered, why it stopped.

    `see(events)` takes the client events of one read and returns True for the read that carried
    the first content event (text, reasoning or a tool call), so the relay can time it; `body(body)`
    reads a whole answer. `usage` stays None until an event carried one; `model` is the model the
    answer names (None if it named none), `finish` the finish reasons in the protocol's own words.
    A protocol subclasses it with `_read` (one event: True when it is the first content) and `body`;
    the loop is written once.
    """

    __slots__ = ("content", "finish", "model", "usage")

    def __init__(self) -> None:
        self.usage: Usage | None = None
        self.content = False
        self.model: str | None = None
        self.finish: list[str] = []

    def see(self, events: list) -> bool:
        first = False
        read = self._read
        for event in events:
            # Bytes are already framed (an end marker, a comment passed on): no usage in them.
            if type(event) is dict and read(event):
                first = True
        return first

    def body(self, body: Any) -> Meter:
        """Read a whole answer; the meter itself, for chaining."""
        return self

    def _read(self, event: dict) -> bool:
        return False

    def _named(self, model: Any) -> None:
        if self.model is None and type(model) is str and model:
            self.model = model[:200]


def count(value: Any) -> int | None:
    """A token count as sent, or None when it is not a whole non-negative number."""
    if type(value) is int and value >= 0:
        return value
    if type(value) is float and value >= 0 and value.is_integer():
        return int(value)
    return None


def detail(usage: dict, name: str, field: str) -> int:
    """`usage[name][field]` as a count (0 when absent): the `*_details` objects of both OpenAI protocols."""
    details = usage.get(name)
    return (count(details.get(field)) or 0) if type(details) is dict else 0
