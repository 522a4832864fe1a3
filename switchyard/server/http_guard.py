"""Limits on a request's head that uvicorn's httptools protocol does not have: its size and how long it may take.

Measured against uvicorn 0.54 with httptools: a 100 MB header is buffered whole and answered after
15 s, and a connection that sends its head one byte at a time (slowloris), or nothing at all, is
held forever: uvicorn's only timer is the keep-alive one, armed after a response. A sidecar's
clients are few and well-behaved, but a pod's port is reachable by whatever runs in the pod.

So, in the protocol itself (the one place that sees bytes before a request exists):

- a head over `max_header` bytes (request line and headers) is answered 431 and the connection
  closed, as soon as that many bytes have arrived without the head being complete (the count is by
  network read, so it may pass the limit by one read before it is noticed);
- a head not complete `header_timeout` seconds after the connection opened (or, on a reused
  connection, after the request's first byte) closes the connection without an answer, as nginx's
  `client_header_timeout` does.

The design choice: subclass uvicorn's protocol and keep all its parsing and ASGI plumbing; only the
three points where the head starts, grows and ends are wrapped. An idle keep-alive connection stays
uvicorn's (its `timeout_keep_alive`).
"""

from __future__ import annotations

import asyncio

import orjson

from switchyard.protocols.openai import error_body

DEFAULT_HEADER_TIMEOUT = 10.0
# `--body-timeout`: a request body not all received this long after its head is answered 408. That
# limit is the proxy's (`Proxy._read_body`), not this protocol's: the answer takes the route's error
# shape and is counted and logged like any refusal. Its default lives here, beside the head's, so the
# command line reads both from this light module.
DEFAULT_BODY_TIMEOUT = 30.0
MAX_HEADER = 64 * 1024  # what Node's limit (16 KiB) and nginx's defaults (8 KiB a line) comfortably fit in


class HeadTooLarge(Exception):
    """Raised from a parser callback: httptools passes a callback's exception out of `feed_data` as it is."""


def guarded(timeout: float = DEFAULT_HEADER_TIMEOUT, limit: int = MAX_HEADER) -> type:
    """The protocol class for uvicorn's `http=`, with these limits.

    uvicorn is imported here, not at the top: the command line imports this module for its default,
    and only `serve` should pay for the server.
    """
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class GuardedHttpTools(HttpToolsProtocol):
        header_timeout = timeout
        max_header = limit

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._in_head = True  # waiting for (the rest of) a request's head
            self._head_bytes = 0
            self._head_timer: asyncio.TimerHandle | None = self.loop.call_later(
                self.header_timeout, self._head_too_slow
            )

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_head_timer()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            in_head = self._in_head
            try:
                super().data_received(data)
            except HeadTooLarge:
                self._refuse()
                return
            if in_head and self._in_head:  # the whole read went into a head that is still not complete
                self._head_bytes += len(data)
                if self._head_bytes > self.max_header:
                    self._refuse()

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
                raise HeadTooLarge
            self._in_head = False
            self._stop_head_timer()
            super().on_headers_complete()

        def _stop_head_timer(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_too_slow(self) -> None:
            self._head_timer = None
            if self._in_head and not self.transport.is_closing():
                self.transport.close()

        def _refuse(self) -> None:
            """431 in the OpenAI error shape (the route is not known yet), then close."""
            self._stop_head_timer()
            if self.transport.is_closing():
                return
            message = f"request headers over {self.max_header} bytes"
            content = orjson.dumps(error_body(message, "invalid_request_error", None, "headers_too_large"))
            head = (
                b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
                b"content-length: %d\r\nconnection: close\r\n\r\n" % len(content)
            )
            self.transport.write(head + content)
            self.transport.close()

    return GuardedHttpTools
