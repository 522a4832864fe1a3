"""The proxy's edge to the ASGI server: the request as the proxy reads it, and its two kinds of answer.

The proxy routes (`POST /v1/chat/completions`, ...) are the hot path, so they are plain ASGI: no
router, no middleware stack, no Request object, no anyio task group per stream. Everything else (the
admin and health endpoints, Anthropic's count_tokens, 404s and 405s) stays a Starlette app.

What a client sees is what Starlette's `Response` and `StreamingResponse` sent before: the same
status, the same headers in the same order (names lower-cased, `content-length` for a body,
`content-type` last, `; charset=utf-8` on a text type), the same body or events. Two things are
done differently, on purpose:

- headers are decoded once per request (`Incoming.headers`, a plain dict), and the upstream's
  response headers go back as the raw bytes they came in, never decoded and encoded again;
- a stream's clean-up (`Stream.end`) runs once after the answer, whatever happened: Starlette's
  streaming response never starts its generator when the client is gone before the first byte,
  so a clean-up inside the generator alone would never run (and a gauge would stay up).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable

from starlette.requests import ClientDisconnect

# Set in a request's scope by the server's protocol when its body is late: not all received
# `--body-timeout` seconds after its head. The protocol then wakes the body's reader.
from switchyard.server.http_guard import BODY_LATE

__all__ = ["Answer", "ClientDisconnect", "Incoming", "StreamAnswer", "raw_headers"]

JSON = b"application/json"
SSE = b"text/event-stream; charset=utf-8"


class Incoming:
    """A client request as the proxy reads it: headers decoded once, the body read from `receive`.

    `headers` holds lower-case names (as ASGI servers give them); a header sent twice keeps its last
    value, which is also the one that went upstream before.
    """

    __slots__ = ("headers", "receive", "scope")

    def __init__(self, scope: dict, receive: Callable) -> None:
        self.headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        self.receive = receive
        self.scope = scope

    async def body(self, limit: int, too_large: Callable[[], Exception], too_slow: Callable[[], Exception]) -> bytes:
        """The whole body; `too_large()` is raised past `limit` bytes, `too_slow()` when the server says
        it is late (`BODY_LATE`), ClientDisconnect if the client goes.

        The deadline is the protocol's, not a timer here: it knows when the head ended, and it arms
        a timer only for a body that did not come with its head, so the usual request pays nothing.
        """
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnect()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise too_large()
            if not message.get("more_body", False):
                if not chunks:  # the usual case: one message holds the whole body
                    return chunk
                chunks.append(chunk)
                return b"".join(chunks)
            if self.scope.get(BODY_LATE):
                raise too_slow()
            chunks.append(chunk)


def raw_headers(headers: dict[str, str] | None) -> list[tuple[bytes, bytes]]:
    """Headers as ASGI sends them: lower-case names, latin-1 bytes."""
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()] if headers else []


class Answer:
    """A whole body: what `starlette.responses.Response(body, status, headers, media_type)` sent."""

    __slots__ = ("body", "headers", "status")

    def __init__(
        self, status: int, body: bytes, headers: list[tuple[bytes, bytes]], media_type: bytes | None = JSON
    ) -> None:
        self.status = status
        self.body = body
        if not (status < 200 or status in (204, 304)):
            headers.append((b"content-length", str(len(body)).encode()))
        if media_type is not None:
            headers.append((b"content-type", media_type))
        self.headers = headers

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        await send({"type": "http.response.start", "status": self.status, "headers": self.headers})
        await send({"type": "http.response.body", "body": self.body})


class StreamAnswer:
    """A 200 event stream: `chunks` relayed as they come, `end()` called once the answer is over.

    The client going away (ASGI `http.disconnect`, or `send` raising OSError under ASGI 2.4) ends the
    relay where it waits, as Starlette's streaming response did: the generator sees `CancelledError`
    at its await (or `GeneratorExit` at its yield), so its own `except`/`finally` say why it ended.
    `end` must be idempotent; it runs after the generator in every case, including the one where the
    generator never started.
    """

    __slots__ = ("chunks", "end", "headers")

    def __init__(
        self,
        headers: list[tuple[bytes, bytes]],
        chunks: AsyncGenerator[bytes, None],
        end: Callable[[], None],
        media_type: bytes | None = None,
    ) -> None:
        headers.append((b"content-type", media_type or SSE))  # another only for Gemini's JSON-array stream
        self.headers = headers
        self.chunks = chunks
        self.end = end

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        me = asyncio.current_task()
        assert me is not None
        over = gone = False

        async def watch() -> None:
            nonlocal gone
            while (await receive())["type"] != "http.disconnect":
                pass
            if not over:  # a disconnect reported after the last byte is no news
                gone = True
                me.cancel()

        watcher = asyncio.get_running_loop().create_task(watch())
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.headers})
            async for chunk in self.chunks:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            over = True
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except asyncio.CancelledError:
            if not gone:
                raise
            me.uncancel()  # the client went away: this answer is over, the task goes on normally
        except OSError:
            # ASGI 2.4 servers say so this way: `send` raises once the client is gone (the first `send`
            # included, before the generator ever ran). The generator's own failures never get here:
            # the proxy turns each into an error event.
            pass
        finally:
            over = True
            watcher.cancel()
            try:
                await self.chunks.aclose()  # a generator stopped at a `yield` runs its `finally` now
            finally:
                self.end()
