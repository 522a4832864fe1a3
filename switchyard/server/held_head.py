"""A response's head and its body in one write: the transport a uvicorn response cycle writes to.

uvicorn's httptools protocol writes a response in (at least) two calls of `transport.write`: the
status line and headers when the app sends `http.response.start`, then the body. uvloop sends each
at once, so a whole answer costs two `send` system calls and two TCP segments; on loopback, where a
sidecar's clients are, the kernel delivers each segment to the reader inside the writer's call, so
the first write was the most expensive line of a profile of the proxy under load (about a tenth of
its time on a small chat request).

`HeldHead` stands between one response cycle and the connection's transport: the cycle's first
write (the head) is held until the next (the body), and both leave in one `writelines`. If no body
write comes in the same turn of the event loop (a stream whose first event is still upstream), the
head leaves alone at the end of that turn, so a client never waits on it. Everything else is the
transport's: what was written is written in order, and closing sends what is held first.

The design choice: wrap the transport the cycle sees rather than reorder the ASGI messages, so the
app keeps sending the two messages every ASGI server expects, and uvicorn keeps its own framing,
flow control and keep-alive handling.
"""

from __future__ import annotations

import asyncio

_FIRST, _HELD, _PASSING = 0, 1, 2


class HeldHead:
    """One response cycle's view of its connection's transport (`write`, `close`, `is_closing`)."""

    __slots__ = ("_held", "_loop", "_state", "transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self.transport = transport
        self._loop = loop
        self._state = _FIRST
        self._held = b""

    def write(self, data: bytes) -> None:
        state = self._state
        if state == _PASSING:
            self.transport.write(data)
        elif state == _HELD:
            self._state = _PASSING
            held, self._held = self._held, b""
            self.transport.writelines((held, data))
        else:
            self._state = _HELD
            self._held = data
            self._loop.call_soon(self.release)

    def release(self) -> None:
        """Send a held head on its own (the end of the loop's turn, or the connection closing)."""
        if self._state == _HELD:
            self._state = _PASSING
            held, self._held = self._held, b""
            if not self.transport.is_closing():
                self.transport.write(held)

    def close(self) -> None:
        self.release()
        self.transport.close()

    def is_closing(self) -> bool:
        return self.transport.is_closing()
