"""Following a Responses stream to its end, and the one body a whole stream amounts to.

Two callers need to know what a whole stream amounted to:

- the response path, when a pack sets `force_stream: true` and the client did not ask for a stream:
  the upstream streams, the client wants one body. `final_response(events)` returns the `response` of
  a Responses stream's terminal event (`switchyard.protocols.chat.aggregate` does the same for Chat).
- the Chat bridge (`switchyard.bridges.chat_over_responses.stream.ChatStream`), which must decide
  `finish_reason` from the finished output even when the upstream's terminal event does not carry it.

Both rest on `ResponseAccumulator`. The one thing it knows that a naive reader does not: some upstreams
(the ChatGPT backend) close with a `response.completed` whose `output` is EMPTY, having sent every item
only in `response.output_item.done`. The accumulator keeps those items and rebuilds `output` from them,
in `output_index` order, whenever the terminal event arrives without one. One class, so the streaming
and the non-streaming paths cannot disagree about what the upstream said.

A stream that failed (`response.failed`, an `error` event, an error chunk) or that ended without a
terminal event is never turned into a body: that would be a truncated success. It raises
`UpstreamFailed`, carrying the upstream's message and code and the HTTP status the proxy should answer
with, so the server renders it in the client's error shape.
"""

from __future__ import annotations

from switchyard.protocols.failures import failed
from switchyard.protocols.openai import upstream_error

SUCCESS_EVENTS = frozenset({"response.completed", "response.incomplete"})
FAILURE_EVENTS = frozenset({"response.failed", "error"})


class ResponseAccumulator:
    """Follows one Responses stream: the items it finished, and how it ended.

    `feed` every event; `result()` returns the final response (with `output` rebuilt when the upstream
    sent it empty) or raises `UpstreamFailed`.
    """

    def __init__(self) -> None:
        self.items: dict[int, dict] = {}  # output_index -> item from response.output_item.done
        self.terminal: dict | None = None  # the completed/incomplete/failed/error event

    def feed(self, event: dict) -> None:
        if self.terminal is not None:
            return
        kind = event.get("type")
        if kind == "response.output_item.done" and isinstance(event.get("item"), dict):
            index = event.get("output_index")
            if not isinstance(index, int):
                # Without an index, arrival order is the only order there is.
                index = max(self.items, default=-1) + 1
            self.items[index] = event["item"]
        elif kind in SUCCESS_EVENTS or kind in FAILURE_EVENTS:
            self.terminal = event

    def rebuilt_output(self) -> list[dict]:
        """The items of every `response.output_item.done` seen, in output order."""
        return [self.items[index] for index in sorted(self.items)]

    def result(self) -> dict:
        """The terminal event's `response`, `output` rebuilt if it came empty; raises when the stream failed."""
        if self.terminal is None:
            raise failed("The upstream stream ended before the response completed.")
        if self.terminal.get("type") in FAILURE_EVENTS:
            raise upstream_error(self.terminal)
        response = dict(self.terminal.get("response") or {})
        if not response.get("output") and self.items:
            response["output"] = self.rebuilt_output()
        return response


def final_response(events: list[dict]) -> dict:
    """The Responses body a whole stream amounts to; raises `UpstreamFailed` if it failed or was cut."""
    accumulator = ResponseAccumulator()
    for event in events:
        accumulator.feed(event)
    return accumulator.result()
