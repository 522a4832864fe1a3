"""The identity translator of a Chat Completions stream: nothing is translated, but it must end properly.

A Chat stream has ended when a `finish_reason` (or an error chunk) has been seen. One that closes
before was cut short, and a half answer must not look whole: the client gets an error chunk
`{"error": {...}}`, which the openai SDK raises as `APIError`. `passes_raw` tells the relay that
non-JSON events (comments, keep-alives) may go to the client unchanged, which a translating bridge
could not honour.
"""

from __future__ import annotations

from switchyard.protocols.failures import failed
from switchyard.protocols.openai import error_body


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
        failure = failed(message, code)
        return [error_body(failure.message, failure.type, None, failure.code)]
