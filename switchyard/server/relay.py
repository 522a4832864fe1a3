"""The relay of one stream: upstream SSE events in, client-ready bytes out.

A `Relay` is made per streamed request and holds what that stream needs: the pack whose
`response` steps run on each JSON event, and a stream translator, the bridge's when the protocols
differ and an identity one (`switchyard.protocols.passthrough`) when they do not, so every stream is
driven the same way. It works on whole reads: `events()` gets the SSE events decoded from one
upstream read and returns the bytes for one client write, so nothing waits for more than the
bytes it needs and the client sees one write per upstream read.

Ending properly is the translators' knowledge (what counts as finished in each protocol); the
relay's part is the framing: `[DONE]` after a Chat stream, nothing after the end, and the order of
calls. An upstream that closes early, breaks, or whose events make a step fail gives the client an
error event in its own protocol, never a stream that just stops. With `collect` set (the
`force_stream` aggregation path) the client events are gathered instead of encoded.
"""

from __future__ import annotations

import orjson

from switchyard.bridges.mapping import TERMINAL_EVENTS
from switchyard.language.pack import Pack
from switchyard.protocols.passthrough import passthrough
from switchyard.protocols.sse import DONE, encode, encode_json
from switchyard.server.metrics import Metrics


class Relay:
    """Per-stream state: upstream SSE events in, client bytes out (or collected events, for aggregation).

    `ended` records that the client has seen the end of its stream (a terminal Responses event,
    `[DONE]`, or an error); nothing is sent after it.
    """

    def __init__(self, pack: Pack, bridge, client: str, client_body: dict, metrics: Metrics):
        self.pack = pack
        self.client = client
        self.translator = bridge.stream(client_body) if bridge else passthrough(client)
        self.collect: list | None = None
        self.ended = False
        self.events_in = metrics.stream_events.labels(pack.name, "in")
        self.events_out = metrics.stream_events.labels(pack.name, "out")

    def events(self, events: list) -> bytes:
        out: list[bytes] = []
        run = self.pack.run_response
        feed = self.translator.feed
        for ev in events:
            self.events_in.inc()
            if self.ended:
                continue  # nothing after the end: a client must not see events past [DONE] or a terminal event
            if ev.is_done:
                self._finish(self.translator.close(), out)
                continue
            try:
                obj = orjson.loads(ev.data)
            except orjson.JSONDecodeError:
                if self.collect is None and getattr(self.translator, "passes_raw", False):
                    out.append(encode(ev.data, ev.event))  # not JSON: passed on unchanged
                continue
            if type(obj) is dict:
                run(obj)
            self._emit(feed(obj), out)
        return b"".join(out)

    def close(self) -> bytes:
        """The upstream closed the stream (cleanly): end the client's, with an error if it never finished."""
        out: list[bytes] = []
        if not self.ended:
            self._finish(self.translator.close(), out)
        return b"".join(out)

    def fail(self, message: str, code: str = "server_error") -> bytes:
        """The upstream broke mid-stream (or a response step failed): the client gets an error."""
        out: list[bytes] = []
        if not self.ended:
            self._finish(self.translator.fail(message, code), out)
        return b"".join(out)

    def _finish(self, events: list, out: list[bytes]) -> None:
        self._emit(events, out)
        if self.client == "chat" and self.collect is None and not self.ended:
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
            if self.client == "responses" and type(obj) is dict and obj.get("type") in TERMINAL_EVENTS:
                self.ended = True
