"""The relay of one stream: upstream SSE events in, client-ready bytes out.

A `Relay` is made per streamed request and holds everything that stream needs: the pack whose
`response` steps run on each JSON event, the bridge translator when the protocols differ, and what
it takes to end the stream properly. It works on whole reads: `events()` gets the SSE events
decoded from one upstream read and returns the bytes for one client write, so nothing waits for
more than the bytes it needs and the client sees one write per upstream read.

Ending properly is its other job. The client must see the end of its stream in its own protocol:
a terminal Responses event, or `[DONE]` for Chat. An upstream that closes early, breaks, or whose
events make a step fail gets an error event instead (`response.failed`, or a chunk with an `error`
key that the openai SDK raises on), never a stream that just stops. With `collect` set (the
`force_stream` aggregation path) the client events are gathered instead of encoded.
"""

from __future__ import annotations

import orjson

from .aggregate import upstream_error
from .bridge.ids import new_id
from .errors import error_body
from .metrics import Metrics
from .pack import Pack
from .sse import DONE, encode, encode_json


class Relay:
    """Per-stream state: upstream SSE events in, client bytes out (or collected events, for aggregation).

    `ended` records that the client has seen the end of its stream (a terminal Responses event,
    `[DONE]`, or an error); a stream that closes before that gets a failure event instead.
    """

    def __init__(self, pack: Pack, bridge, client: str, client_body: dict, metrics: Metrics):
        self.pack = pack
        self.client = client
        self.bridge = bridge.stream(client_body) if bridge else None
        self.collect: list | None = None
        self.ended = False
        self.finished = False  # same-protocol chat: a finish_reason was seen, [DONE] may be all that is missing
        self.seq = -1  # last sequence_number seen (same-protocol Responses), for a synthetic failure event
        self.response_id: str | None = None
        self.events_in = metrics.stream_events.labels(pack.name, "in")
        self.events_out = metrics.stream_events.labels(pack.name, "out")

    def events(self, events: list) -> bytes:
        out: list[bytes] = []
        run = self.pack.run_response
        for ev in events:
            self.events_in.inc()
            if self.ended:
                continue  # nothing after the end: a client must not see events past [DONE] or a terminal event
            if ev.is_done:
                self._end(out)
                continue
            try:
                obj = orjson.loads(ev.data)
            except orjson.JSONDecodeError:
                if self.bridge is None and self.collect is None:
                    out.append(encode(ev.data, ev.event))  # not JSON: passed on unchanged
                continue
            if type(obj) is dict:
                run(obj)
            if self.bridge is not None:
                self._emit(self.bridge.feed(obj), out)
            else:
                self._note(obj)
                self._emit([obj], out)
                if self.client == "responses" and type(obj) is dict and obj.get("type") == "error":
                    # Codex ignores `error` events and would wait for a terminal one that never comes
                    # (then retry); `response.failed` with the same code ends the stream properly.
                    failed = upstream_error(obj)
                    self._emit(self._failure(failed.message, failed.code or "server_error"), out)
        return b"".join(out)

    def close(self) -> bytes:
        """The upstream closed the stream."""
        if not self.ended and self.bridge is None and not self.finished:
            # Closed cleanly but without its end marker: a half answer must not look whole.
            return self.fail("the upstream stream ended before the response completed")
        out: list[bytes] = []
        if not self.ended:
            self._end(out)
        return b"".join(out)

    def fail(self, message: str, code: str = "server_error") -> bytes:
        """The upstream broke mid-stream (or a response step failed): the client gets an error."""
        out: list[bytes] = []
        if not self.ended:
            events = self.bridge.fail(message, code) if self.bridge is not None else self._failure(message, code)
            self._emit(events, out)
            if self.client == "chat" and self.collect is None:
                out.append(DONE)
            self.ended = True
        return b"".join(out)

    def _end(self, out: list[bytes]) -> None:
        """The upstream's end marker ([DONE]) or its clean close after a finish: end the client's stream."""
        if self.bridge is not None and not self.ended:
            self._emit(self.bridge.close(), out)
        elif self.client == "responses" and not self.ended:
            # [DONE] before any terminal event: the response never completed.
            self._emit(self._failure("the upstream stream ended before the response completed"), out)
        if self.client == "chat" and self.collect is None:
            out.append(DONE)
        self.ended = True

    def _emit(self, events: list, out: list[bytes]) -> None:
        for obj in events:
            self.events_out.inc()
            if self.collect is not None:
                self.collect.append(obj)
            elif self.client == "responses":
                out.append(encode_json(obj, obj.get("type") if type(obj) is dict else None))
            else:
                out.append(encode_json(obj))
            if self.client == "responses" and type(obj) is dict and obj.get("type") in _TERMINAL:
                self.ended = True

    def _note(self, obj: dict) -> None:
        if type(obj) is not dict:
            return
        if self.client == "chat":
            if "error" in obj:
                self.finished = True
            for choice in obj.get("choices") or ():
                if type(choice) is dict and choice.get("finish_reason"):
                    self.finished = True
            return
        seq = obj.get("sequence_number")
        if type(seq) is int:
            self.seq = seq
        response = obj.get("response")
        if type(response) is dict and response.get("id"):
            self.response_id = response["id"]

    def _failure(self, message: str, code: str = "server_error") -> list[dict]:
        if self.client == "chat":
            return [error_body(message, "upstream_error", None, code)]
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


# The events that end a Responses stream for its clients. An `error` event does not: Codex ignores it.
_TERMINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})
