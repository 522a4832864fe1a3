"""OpenAI Responses usage: `usage` on a `response` object, in a stream on its terminal event.

    {"input_tokens": 12, "input_tokens_details": {"cached_tokens": 8},
     "output_tokens": 34, "output_tokens_details": {"reasoning_tokens": 20}, "total_tokens": 46}

A stream carries it in the `response` of `response.completed` (also `response.incomplete` and
`response.failed`, which may have spent tokens). A content event is any `*.delta` event: output
text, refusal, reasoning text or summary, function-call arguments. Responses has no finish reason:
the final status stands for it (`completed`, `failed`, or an incomplete response's reason).
"""

from __future__ import annotations

from switchyard.protocols.usage import Meter, Usage, count, detail

_WITH_USAGE = frozenset({"response.completed", "response.incomplete", "response.failed"})


def read(usage: object) -> Usage | None:
    """A Responses `usage` object -> Usage; None when it is not one."""
    if type(usage) is not dict:
        return None
    input_tokens, output_tokens = count(usage.get("input_tokens")), count(usage.get("output_tokens"))
    if input_tokens is None and output_tokens is None:
        return None
    return Usage(
        input=input_tokens or 0,
        output=output_tokens or 0,
        cached=detail(usage, "input_tokens_details", "cached_tokens"),
        reasoning=detail(usage, "output_tokens_details", "reasoning_tokens"),
    )


def body_usage(body: object) -> Usage | None:
    """The usage of a whole `response` body."""
    return read(body.get("usage")) if type(body) is dict else None


class ResponsesMeter(Meter):
    __slots__ = ()

    def body(self, body: object) -> ResponsesMeter:
        if type(body) is dict:
            self.usage = read(body.get("usage"))
            self._named(body.get("model"))
            # Responses has no finish reason: its status says it (an incomplete one, why).
            details = body.get("incomplete_details")
            reason = details.get("reason") if type(details) is dict else None
            status = reason or body.get("status")
            if type(status) is str:
                self.finish.append(status)
        return self

    def _read(self, event: dict) -> bool:
        kind = event.get("type")
        if type(kind) is not str:
            return False
        if kind in _WITH_USAGE:
            self.body(event.get("response"))
            return False
        if not self.content and kind.endswith(".delta"):
            self.content = True
            return True
        return False
