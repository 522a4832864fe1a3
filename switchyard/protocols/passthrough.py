"""The identity translators: a stream whose client and upstream speak the same protocol.

Nothing is translated, but a same-protocol stream still has to end properly for its client, and
that is protocol knowledge: a Chat stream has ended when a `finish_reason` (or an error chunk) has
been seen, a Responses stream when a terminal event has. With these translators the relay drives
every stream the same way (`feed`, `close`, `fail`), and a failure has one shape per client
protocol whether or not a bridge is in the path:

- Chat: a chunk `{"error": {...}}`, which the openai SDK raises as `APIError`.
- Responses: `response.failed` with the upstream's code, which Codex acts on. An upstream `error`
  event is passed on and followed by a `response.failed`, because Codex ignores `error` events and
  would otherwise wait for a terminal event that never comes.

`passes_raw` tells the relay that non-JSON events (comments, keep-alives) may go to the client
unchanged, which a translating bridge could not honour.
"""

from __future__ import annotations

from switchyard.bridges.mapping import TERMINAL_EVENTS
from switchyard.errors import error_body
from switchyard.ids import new_id
from switchyard.protocols.aggregate import UpstreamFailed, upstream_error


class ChatPassthrough:
    passes_raw = True

    def __init__(self) -> None:
        self.finished = False

    def feed(self, chunk: dict) -> list[dict]:
        if type(chunk) is dict:
            if "error" in chunk:
                self.finished = True
            for choice in chunk.get("choices") or ():
                if type(choice) is dict and choice.get("finish_reason"):
                    self.finished = True
        return [chunk]

    def close(self) -> list[dict]:
        # A stream that finished may still lack its [DONE]: the relay adds that. One that never
        # finished was cut short, and a half answer must not look whole.
        return [] if self.finished else self.fail("the upstream stream ended before it finished")

    def fail(self, message: str, code: str = "server_error") -> list[dict]:
        self.finished = True
        failed = UpstreamFailed(message, code=code)
        return [error_body(failed.message, failed.type, None, failed.code)]


class ResponsesPassthrough:
    passes_raw = True

    def __init__(self) -> None:
        self.ended = False
        self.seq = -1  # the last sequence_number seen, so a synthetic failure continues the numbering
        self.response_id: str | None = None

    def feed(self, event: dict) -> list[dict]:
        if self.ended or type(event) is not dict:
            return [] if self.ended else [event]
        seq = event.get("sequence_number")
        if type(seq) is int:
            self.seq = seq
        response = event.get("response")
        if type(response) is dict and response.get("id"):
            self.response_id = response["id"]
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
        response = {
            "id": self.response_id or new_id("resp"),
            "object": "response",
            "status": "failed",
            "error": {"code": code, "message": message},
            "output": [],
            "usage": None,
        }
        return [{"type": "response.failed", "sequence_number": self.seq, "response": response}]


def passthrough(client: str):
    """The identity translator for a client protocol."""
    return ChatPassthrough() if client == "chat" else ResponsesPassthrough()
