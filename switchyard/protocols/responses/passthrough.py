"""The identity translator of a Responses stream: nothing is translated, but it must end properly.

A Responses stream has ended when a terminal event has been seen. One that closes before, or that
fails, ends with `response.failed` carrying the upstream's code, which Codex acts on. An upstream
`error` event is passed on and followed by a `response.failed`, because Codex ignores `error`
events and would otherwise wait for a terminal event that never comes (protocols.md D.3).
"""

from __future__ import annotations

from switchyard.ids import new_id
from switchyard.protocols.openai import upstream_error

# The events after which a Responses stream is over for its client. An `error` event is not one.
TERMINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})


class ResponsesPassthrough:
    passes_raw = True

    def __init__(self) -> None:
        self.ended = False
        self.seq = -1  # the last sequence_number seen, so a synthetic failure continues the numbering
        self.response: dict | None = None  # the upstream's last Response object, for a synthetic failure

    def feed(self, event: dict) -> list[dict]:
        if self.ended or type(event) is not dict:
            return [] if self.ended else [event]
        seq = event.get("sequence_number")
        if type(seq) is int:
            self.seq = seq
        response = event.get("response")
        if type(response) is dict and response.get("id"):
            self.response = response
        kind = event.get("type")
        if kind in TERMINAL_EVENTS:
            self.ended = True
            return [event]
        if kind == "error":
            failed = upstream_error(event)
            return [event, *self.fail(failed.message, failed.code or "server_error")]
        return [event]

    def close(self) -> list[dict]:
        return [] if self.ended else self.fail("the upstream stream ended before the response completed")

    def fail(self, message: str, code: str = "server_error") -> list[dict]:
        if self.ended:
            return []
        self.ended = True
        self.seq += 1
        error = {"code": code, "message": message}
        if self.response is not None:
            # The upstream's own Response (every field the spec requires, as it sent them), now failed. Its
            # output is left out: the items of a broken stream are not complete.
            response = {**self.response, "status": "failed", "completed_at": None, "error": error, "output": []}
        else:
            response = {"id": new_id("resp"), "object": "response", "status": "failed", "error": error, "output": []}
        response["usage"] = None
        return [{"type": "response.failed", "sequence_number": self.seq, "response": response}]
