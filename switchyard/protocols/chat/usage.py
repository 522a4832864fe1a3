"""Chat Completions usage: `usage` on a `chat.completion`, and on the last chunk of a stream.

    {"prompt_tokens": 12, "completion_tokens": 34, "total_tokens": 46,
     "prompt_tokens_details": {"cached_tokens": 8}, "completion_tokens_details": {"reasoning_tokens": 20}}

A stream carries it only when the client asked (`stream_options.include_usage`), on a chunk whose
`choices` is empty (some servers put it on the finish chunk instead: any chunk with a `usage`
object counts, the last one wins). `usage: null` on the other chunks is no usage. A chunk is
content when its first choice's delta has text, reasoning (the de-facto fields, `reading.py`) or
a tool call.
"""

from __future__ import annotations

from switchyard.protocols.chat.reading import reasoning_of
from switchyard.protocols.usage import Meter, Usage, count, detail


def read(usage: object) -> Usage | None:
    """A Chat `usage` object -> Usage; None when it is not one (no counts at all)."""
    if type(usage) is not dict:
        return None
    prompt, completion = count(usage.get("prompt_tokens")), count(usage.get("completion_tokens"))
    if prompt is None and completion is None:
        return None
    return Usage(
        input=prompt or 0,
        output=completion or 0,
        cached=detail(usage, "prompt_tokens_details", "cached_tokens"),
        reasoning=detail(usage, "completion_tokens_details", "reasoning_tokens"),
    )


def body_usage(body: object) -> Usage | None:
    """The usage of a whole `chat.completion` body."""
    return read(body.get("usage")) if type(body) is dict else None


class ChatMeter(Meter):
    __slots__ = ()

    def body(self, body: object) -> ChatMeter:
        if type(body) is dict:
            self.usage = read(body.get("usage"))
            self._named(body.get("model"))
            self._choices(body.get("choices"))
        return self

    def _read(self, event: dict) -> bool:
        usage = event.get("usage")
        if usage:
            self.usage = read(usage) or self.usage
        if self.model is None:
            self._named(event.get("model"))
        choices = event.get("choices")
        if not choices:
            return False
        self._choices(choices)
        if self.content or type(choices) is not list or type(choices[0]) is not dict:
            return False
        delta = choices[0].get("delta")
        if type(delta) is dict and (
            delta.get("content") or delta.get("tool_calls") or delta.get("refusal") or reasoning_of(delta)
        ):
            self.content = True
            return True
        return False

    def _choices(self, choices: object) -> None:
        if type(choices) is list:
            for choice in choices:
                if type(choice) is dict and (reason := choice.get("finish_reason")) and type(reason) is str:
                    self.finish.append(reason)
