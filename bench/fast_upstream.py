"""The side-by-side benchmark's fake upstream: canned answers from a bare HTTP/1.1 server on uvloop + httptools.

    python -m bench.fast_upstream --port 9000 [--events 200]

It serves the two OpenAI protocols, so every scenario of `bench.side_by_side` has its upstream:

- `POST /v1/chat/completions`: a small completion, or (`"stream": true`) `--events` content chunks,
  a finish chunk and `[DONE]`, as `bench.upstream_app` sends them;
- `POST /v1/responses`: a small Responses body, or (`"stream": true`) the whole event sequence of one
  message whose text comes in `--events` `response.output_text.delta` events (tests/fakes builds it).

`GET /-/counts` answers how many requests each path has had, so the harness can check that a target
called the path its job needs (a bridge that calls `/v1/chat/completions`, not `/v1/responses`).

A stream goes out in one write, as fast as the socket takes it: what a target does with the events
is the whole cost measured. A request whose body contains `(paced)` (in a message's text, which every
target passes on) gets its events one per millisecond instead, as a model sends them: the gaps a
client then sees between events, less that millisecond, are the jitter the target adds.

Why not `bench.upstream_app` (Starlette)? On a 2-core machine the upstream shares the cores with the
load generator and the proxy under test, so every microsecond it spends is taken from the proxy: a
Starlette app costs about as much per request as the bare pass-through does. This one writes prebuilt
bytes and costs a few microseconds; the harness measures it alone as the `direct` target, so its share
is visible. No validation: what a target sends is checked by the tests, not here.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import httptools
import orjson
import uvloop

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the fakes build the event sequences a real upstream sends

from fakes.responses_provider import message_item, response_object, stream_events  # noqa: E402

try:
    from bench.upstream_app import COMPLETION, FINISH, chunk
except ImportError:  # run as a script: bench/ itself is on sys.path
    from upstream_app import COMPLETION, FINISH, chunk  # type: ignore[no-redef]


def sse(event: dict) -> bytes:
    return f"event: {event['type']}\n".encode() + b"data: " + orjson.dumps(event) + b"\n\n"


def http_chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


class Answers:
    """Every answer, built once as the bytes that go on the wire."""

    def __init__(self, events: int):
        text = "".join(f"tok{i} " for i in range(events)).strip()
        item = message_item(text)
        responses_events = stream_events([item], model="bench-model")
        self.json = {
            b"/v1/chat/completions": self._whole(COMPLETION),
            b"/v1/responses": self._whole(orjson.dumps(response_object([message_item("pong")], model="bench-model"))),
        }
        self.stream = {
            b"/v1/chat/completions": self._stream(
                [chunk(i, False) for i in range(events)] + [FINISH, b"data: [DONE]\n\n"]
            ),
            b"/v1/responses": self._stream([sse(e) for e in responses_events]),
        }
        self.burst = {path: b"".join(frames) for path, frames in self.stream.items()}
        self.counts: dict[str, int] = {}

    @staticmethod
    def _whole(body: bytes) -> bytes:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
        return head + body

    @staticmethod
    def _stream(frames: list[bytes]) -> list[bytes]:
        """One HTTP chunk per SSE event, so the proxy reads events as a real upstream sends them."""
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
        return [head, *(http_chunk(f) for f in frames), b"0\r\n\r\n"]


PACED = b"(paced)"
PACE_S = 0.001

NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


class Connection(asyncio.Protocol):
    """One keep-alive connection; requests are answered in order, as they complete."""

    def __init__(self, answers: Answers):
        self.answers = answers
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.body: list[bytes] = []

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.transport.close()

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.url, self.body = b"", []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        path = self.url.split(b"?", 1)[0]
        raw = b"".join(self.body)
        if path == b"/-/counts":
            self.transport.write(self.answers._whole(orjson.dumps(self.answers.counts)))
            return
        self.answers.counts[path.decode()] = self.answers.counts.get(path.decode(), 0) + 1
        try:
            streamed = bool(raw) and orjson.loads(raw).get("stream") is True
        except (orjson.JSONDecodeError, AttributeError):
            streamed = False
        if streamed and path in self.answers.stream and PACED in raw:
            self.pace(self.answers.stream[path])
            return
        if streamed and path in self.answers.stream:
            self.transport.write(self.answers.burst[path])
        else:
            self.transport.write(self.answers.json.get(path, NOT_FOUND))
        if not self.parser.should_keep_alive():
            self.transport.close()

    def pace(self, frames: list[bytes]) -> None:
        """The head and the first event now, then one event per PACE_S (the client waits for the end)."""
        loop = asyncio.get_running_loop()
        self.transport.write(frames[0] + frames[1])
        for i, frame in enumerate(frames[2:], start=1):
            loop.call_later(i * PACE_S, self.transport.write, frame)


async def serve(host: str, port: int, events: int) -> None:
    answers = Answers(events)
    server = await asyncio.get_running_loop().create_server(lambda: Connection(answers), host, port, backlog=1024)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--events", type=int, default=200, help="chunks (or text deltas) per streamed answer")
    args = parser.parse_args()
    uvloop.run(serve(args.host, args.port, args.events))


if __name__ == "__main__":
    main()
