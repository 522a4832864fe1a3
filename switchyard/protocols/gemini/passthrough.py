"""The identity translator of a Gemini stream: nothing is translated, but it must end properly.

A Gemini stream has no end marker and no terminal event: it is over when the connection closes
(gemini.md 3). What tells a whole answer from a cut one is a `finishReason` on a candidate, or a
prompt blocked outright (`promptFeedback.blockReason`, no candidates), or an `error` chunk. Events
after the `finishReason` still pass: the last chunk may be an empty part that only carries a
`thoughtSignature`, which the client must echo next turn. One that closes before any of those was cut
short, and a half answer must not look whole: the client gets an error chunk, on which both SDKs
raise and Gemini CLI retries. `fail` does the same for a failure the proxy sees.
"""

from __future__ import annotations

from switchyard.protocols.failures import failed
from switchyard.protocols.gemini.errors import error_event


def finished(event: object) -> bool:
    """Whether a Gemini chunk ends the answer: a candidate's `finishReason`, a blocked prompt, or an error."""
    if type(event) is not dict:
        return False
    if "error" in event:
        return True
    for candidate in event.get("candidates") or ():
        if type(candidate) is dict and candidate.get("finishReason"):
            return True
    feedback = event.get("promptFeedback")
    return type(feedback) is dict and bool(feedback.get("blockReason"))


class GeminiPassthrough:
    passes_raw = True

    def __init__(self) -> None:
        self.finished = False
        self.failed = False

    def feed(self, event: dict) -> list[dict]:
        if self.failed:
            return []
        if not self.finished and finished(event):
            self.finished = True
        return [event]

    def close(self) -> list[dict]:
        return [] if self.finished else self.fail("the upstream stream ended before it finished")

    def fail(self, message: str, code: str = "server_error") -> list[dict]:
        if self.failed:
            return []
        self.finished = self.failed = True
        return [error_event(failed(message, code))]
