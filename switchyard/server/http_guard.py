"""Limits uvicorn's httptools protocol lacks: a request head's size, and how long its head and body may take.

Measured against uvicorn 0.54 with httptools: a 100 MB header is buffered whole and answered after
15 s, and a connection that sends its head one byte at a time (slowloris), or nothing at all, is
held forever: uvicorn's only timer is the keep-alive one, armed after a response. A body that stops
short of its Content-Length holds its request (and its place under `--max-concurrency`) forever
too. A sidecar's clients are few and well-behaved, but a pod's port is reachable by whatever runs
in the pod.

So, in the protocol itself (the one place that sees bytes before a request exists):

- a head over `max_header` bytes (request line and headers) is answered 431 and the connection
  closed, as soon as that many bytes have arrived without the head being complete (the count is by
  network read, so it may pass the limit by one read before it is noticed). The answer is in the
  error shape of the route the request line names (Anthropic's for `/v1/messages`), when its path
  has arrived: the request line comes first, so it usually has; otherwise the OpenAI shape;
- a head not complete `header_timeout` seconds after the connection opened (or, on a reused
  connection, after the request's first byte) closes the connection without an answer, as nginx's
  `client_header_timeout` does;
- a body not complete `body_timeout` seconds after its head is the app's to answer (a 408 in the
  route's shape, counted and logged, `Proxy.read_body`): the protocol marks the request's scope
  (`BODY_LATE`) and wakes the app's `receive`. If the app has already answered without
  reading the body (a 401, a 404), nobody waits for the rest: the connection is closed.

The design choice: subclass uvicorn's protocol and keep all its parsing and ASGI plumbing; only the
points where a head starts, grows and ends, and where a body ends, are wrapped (and uvicorn's
answer to a parser error, which is how a refusal at the head's end comes back, see `HeadTooLarge`).
The body's timer is armed only after a read that leaves a body incomplete, so a request whose body
comes with its head (nearly all) costs no timer. An idle keep-alive connection stays uvicorn's (its
`timeout_keep_alive`). Where a request's head ends, its response cycle is also given `HeldHead`
(`server/held_head.py`), so its answer leaves in one write.
"""

from __future__ import annotations

import asyncio
import functools

import orjson

from switchyard import protocols
from switchyard.errors import RequestError
from switchyard.server.held_head import HeldHead

DEFAULT_HEADER_TIMEOUT = 10.0
DEFAULT_BODY_TIMEOUT = 30.0  # a large body on a slow link takes seconds; one that takes this long is stuck
# Set in a request's scope when its body is late; the app's body reader (`asgi.Incoming.body`) looks.
BODY_LATE = "switchyard.body_late"
MAX_HEADER = 64 * 1024  # what Node's limit (16 KiB) and nginx's defaults (8 KiB a line) comfortably fit in


class HeadTooLarge(Exception):
    """Raised from `on_headers_complete` to stop the parser there.

    httptools does not pass it out of `feed_data` as it is: it wraps it in its own parser error, which
    uvicorn answers with a plain-text 400 (and a warning "Invalid HTTP request received." in the log).
    So the protocol notes the refusal first, and its `send_400_response` sends the 431 instead.
    """


def guarded(
    timeout: float = DEFAULT_HEADER_TIMEOUT, limit: int = MAX_HEADER, body_timeout: float = DEFAULT_BODY_TIMEOUT
) -> type:
    """The protocol class for uvicorn's `http=`, with these limits.

    uvicorn is imported here, not at the top: the command line imports this module for its default,
    and only `serve` should pay for the server.
    """
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    shapes = _route_protocols()

    class GuardedHttpTools(HttpToolsProtocol):
        header_timeout = timeout
        max_header = limit
        body_limit = body_timeout

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._in_head = True  # waiting for (the rest of) a request's head
            self._head_bytes = 0
            self._oversized = False  # `on_headers_complete` refused the head (see `HeadTooLarge`)
            self._body_timer: asyncio.TimerHandle | None = None  # armed while a request's body is incomplete
            self._head_timer: asyncio.TimerHandle | None = self.loop.call_later(
                self.header_timeout, self._head_too_slow
            )

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_head_timer()
            self._stop_body_timer()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            in_head = self._in_head
            super().data_received(data)
            if in_head and self._in_head:  # the whole read went into a head that is still not complete
                self._head_bytes += len(data)
                if self._head_bytes > self.max_header:
                    self._refuse()
            elif self._body_timer is None and not self._in_head and self.cycle is not None and self.cycle.more_body:
                # A head is in and its body is not: the body's time starts (this read ended the head).
                self._body_timer = self.loop.call_later(self.body_limit, self._body_too_slow, self.cycle)

        def on_message_complete(self) -> None:
            self._stop_body_timer()
            super().on_message_complete()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._in_head = True
            self._head_bytes = 0
            if self._head_timer is None:  # a reused connection: its next request's head starts now
                self._head_timer = self.loop.call_later(self.header_timeout, self._head_too_slow)

        def on_headers_complete(self) -> None:
            # The whole head may have come in one read: measure what the parser collected, too.
            size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
            if size > self.max_header:
                self._oversized = True
                raise HeadTooLarge
            self._in_head = False
            self._stop_head_timer()
            before = self.cycle
            super().on_headers_complete()
            if self.cycle is not before:  # a new request: its answer's head and body leave in one write
                self.cycle.transport = HeldHead(self.transport, self.loop)

        def send_400_response(self, msg: str) -> None:
            if self._oversized:  # the parser's error was our `HeadTooLarge`: the answer is a 431
                self._refuse()
                return
            super().send_400_response(msg)

        def _stop_head_timer(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _stop_body_timer(self) -> None:
            if self._body_timer is not None:
                self._body_timer.cancel()
                self._body_timer = None

        def _body_too_slow(self, cycle) -> None:
            if self.transport.is_closing() or not cycle.more_body:
                return
            if self.flow.read_paused:
                # The server holds the body back, not the client: a pipelined request waiting its
                # turn, or an app not keeping up with the body. Its time starts over.
                self._body_timer = self.loop.call_later(self.body_limit, self._body_too_slow, cycle)
            elif cycle.response_complete:  # answered without its body (a 401, a 404): nobody waits for the rest
                self.transport.close()
            elif not cycle.response_started:  # the app reads it: it answers 408 and the connection closes
                cycle.scope[BODY_LATE] = True
                cycle.message_event.set()
            # (An answer under way, which no route of ours starts before its body is read, is left to finish.)

        def _head_too_slow(self) -> None:
            self._head_timer = None
            if self._in_head and not self.transport.is_closing():
                self.transport.close()

        def _refuse(self) -> None:
            """431 in the error shape of the route named so far (the OpenAI one when none is), then close."""
            self._stop_head_timer()
            if self.transport.is_closing():
                return
            error = RequestError(f"request headers over {self.max_header} bytes", code="headers_too_large", status=431)
            content = orjson.dumps(protocols.get(_protocol_of(self.url, shapes)).render_error(error))
            head = (
                b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
                b"content-length: %d\r\nconnection: close\r\n\r\n" % len(content)
            )
            self.transport.write(head + content)
            self.transport.close()

    return GuardedHttpTools


def _route_protocols() -> dict[bytes, str]:
    """Every path a client protocol answers on (its route and its local routes) -> that protocol's name."""
    table = {}
    for name in protocols.names():
        protocol = protocols.get(name)
        for path in (protocol.route, *(local for local, _ in protocol.local_routes)):
            table[path.encode()] = name
    return table


def _protocol_of(url: bytes, table: dict[bytes, str]) -> str:
    """The client protocol whose route `url` (the request target as far as it has arrived) names; "chat"
    (the OpenAI shape) when none does.

    The target may be cut short (the limit can be hit within it, and the parser gives it piece by
    piece), so only an exact match of its path counts: a path cut in the middle matches nothing, and
    the one path that is a prefix of another (`/v1/messages` of `/v1/messages/count_tokens`) names
    the same protocol.
    """
    path = url.partition(b"?")[0]
    name = table.get(path)
    if name is not None:
        return name
    # A protocol whose routes name facts in the path (Gemini's `/v1beta/models/{model}:...`): by prefix.
    return next((p for p in protocols.names() if path.startswith(_prefixes(p))), "chat")


@functools.cache
def _prefixes(name: str) -> tuple[bytes, ...]:
    return tuple(prefix.encode() for prefix in protocols.get(name).route_prefixes)
