"""The identity translator of an Anthropic Messages stream: nothing is translated, but it must end properly.

A Messages stream is over at `message_stop` (success) or an `error` event. One that closes before
either was cut short, and a half answer must not look whole: the client gets an `error` event, on which
the anthropic SDK raises (`APIStatusError`) and Claude Code retries or reports. `fail` does the same
for a failure the proxy sees (a cut connection, a pack step failing). `keepalive` gives the `ping` event
the relay writes when the upstream has been quiet: Anthropic sends pings itself, and both SDKs drop
them before parsing, so one is harmless anywhere in the stream.
"""

from __future__ import annotations

from switchyard.protocols.failures import failed
from switchyard.protocols.messages.errors import error_event

PING = {"type": "ping"}


class MessagesPassthrough:
    passes_raw = True

    def __init__(self) -> None:
        self.finished = False

    def feed(self, event: dict) -> list[dict]:
        if type(event) is dict and event.get("type") in ("message_stop", "error"):
            self.finished = True
        return [event]

    def close(self) -> list[dict]:
        return [] if self.finished else self.fail("the upstream stream ended before it finished")

    def fail(self, message: str, code: str = "server_error") -> list[dict]:
        if self.finished:
            return []
        self.finished = True
        return [error_event(failed(message, code))]

    def keepalive(self) -> list[dict]:
        return [] if self.finished else [dict(PING)]
