"""An upstream that misbehaves on cue, written on raw asyncio sockets.

aiohttp's server is too well-behaved to be a bad upstream: it always frames its answers, cannot
send a TCP reset mid-body, and will not write a header it thinks is wrong. This fake reads one HTTP
request per connection and then plays a *script*: a list of actions, each bytes to write, a number
of seconds to wait, `RESET` (abort with a TCP RST), `CLOSE` (a clean FIN) or `HANG` (write nothing
more and wait until the proxy hangs up, noting when it did).

The script is chosen by the request: the fault's name follows the first dot of the `model` the
proxy forwards (`c2c.reset_mid_stream` plays `reset_mid_stream`), and the script is
written in the protocol the request's path speaks (`/chat/completions`: Chat chunks;
`/responses`: Responses events). One fake therefore serves every direction and every fault.

`FAULTS` holds the scripts of upstream faults, `STREAMS` well-formed streams for testing what a
client does (`endless`, `firehose`); each is a function of the upstream protocol. A model
`<direction>.paced_<count>_<ms>.<tag>` streams `count` numbered, tagged deltas `ms` apart, for load
and reload tests that check every stream's text end to end (`paced_text`). `Connection`
records what happened to each connection (bytes taken, when the proxy hung up), so a test can tell
how soon the proxy let go of an upstream and how far backpressure let it get.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import socket
import struct
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import orjson

RESET = "reset"
CLOSE = "close"
HANG = "hang"

Action = bytes | float | str
Script = Iterable[Action]
TEXT = ("Hel", "lo, ", "wor", "ld")  # what every successful stream says, in four deltas


# -- the two upstream protocols' frames -----------------------------------------------------------------


def chat_chunk(delta: dict, finish: str | None = None) -> dict:
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
    return {"id": "chatcmpl-f", "object": "chat.completion.chunk", "created": 0, "model": "m", "choices": [choice]}


def chat_events(parts: tuple[str, ...] = TEXT, end: bool = True) -> list[bytes]:
    """A Chat stream of `parts`, with its finish chunk and `[DONE]` unless `end` is false."""
    chunks = [chat_chunk({"role": "assistant", "content": parts[0]})]
    chunks += [chat_chunk({"content": part}) for part in parts[1:]]
    frames = [b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks]
    if end:
        frames += [b"data: " + orjson.dumps(chat_chunk({}, "stop")) + b"\n\n", b"data: [DONE]\n\n"]
    return frames


def _response(status: str, text: str) -> dict:
    output = []
    if status == "completed":
        content = [{"type": "output_text", "text": text, "annotations": []}]
        output = [{"type": "message", "id": "msg_f", "status": "completed", "role": "assistant", "content": content}]
    return {"id": "resp_f", "object": "response", "created_at": 0, "status": status, "model": "m", "output": output}


def responses_events(parts: tuple[str, ...] = TEXT, end: bool = True) -> list[bytes]:
    """A Responses stream of `parts` as one message item, ending in `response.completed` unless `end` is false."""
    item = {"type": "message", "id": "msg_f", "status": "in_progress", "role": "assistant", "content": []}
    at = {"item_id": "msg_f", "output_index": 0, "content_index": 0}
    events: list[dict] = [
        {"type": "response.created", "response": _response("in_progress", "")},
        {"type": "response.output_item.added", "output_index": 0, "item": item},
        {"type": "response.content_part.added", **at, "part": {"type": "output_text", "text": "", "annotations": []}},
    ]
    events += [{"type": "response.output_text.delta", **at, "delta": part} for part in parts]
    if end:
        text = "".join(parts)
        done = {**item, "status": "completed", "content": [{"type": "output_text", "text": text, "annotations": []}]}
        events += [
            {"type": "response.output_text.done", **at, "text": text},
            {"type": "response.output_item.done", "output_index": 0, "item": done},
            {"type": "response.completed", "response": _response("completed", text)},
        ]
    return [f"event: {e['type']}\n".encode() + b"data: " + orjson.dumps(e) + b"\n\n" for e in events]


def whole_body(protocol: str) -> bytes:
    if protocol == "chat":
        message = {"role": "assistant", "content": "".join(TEXT)}
        choice = {"index": 0, "message": message, "finish_reason": "stop"}
        return orjson.dumps({"id": "c", "object": "chat.completion", "created": 0, "model": "m", "choices": [choice]})
    return orjson.dumps(_response("completed", "".join(TEXT)))


# -- HTTP framing -----------------------------------------------------------------------------------------


def head(status: int = 200, content_type: str = "text/event-stream", length: int | None = None) -> bytes:
    framing = f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    return f"HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\n{framing}\r\nConnection: close\r\n\r\n".encode()


def chunked(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


END = b"0\r\n\r\n"  # the end of a chunked body


def stream(frames: list[bytes]) -> list[Action]:
    return [head(), *(chunked(f) for f in frames)]


def events(protocol: str, end: bool = True) -> list[bytes]:
    return chat_events(end=end) if protocol == "chat" else responses_events(end=end)


def first_event(protocol: str) -> bytes:
    """The first frame carrying text (for Responses, after the frames that open the message)."""
    frames = events(protocol)
    return b"".join(frames[:1] if protocol == "chat" else frames[:4])


def after_first(protocol: str, inserted: bytes) -> list[Action]:
    """A whole stream with `inserted` written after its first text event."""
    frames = events(protocol)
    cut = 1 if protocol == "chat" else 4
    return [head(), chunked(b"".join(frames[:cut])), chunked(inserted), *(chunked(f) for f in frames[cut:])]


def body(status: int, data: bytes, content_type: str) -> list[Action]:
    return [head(status, content_type, len(data)) + data, CLOSE]


# -- the faults -------------------------------------------------------------------------------------------

FIVE_MB = 5 * 1024 * 1024
HTML = b"<html><head><title>502 Bad Gateway</title></head><body><center>nginx</center></body></html>"


def delta(protocol: str, text: str) -> bytes:
    """One text delta event."""
    if protocol == "chat":
        return b"data: " + orjson.dumps(chat_chunk({"content": text})) + b"\n\n"
    event = {"type": "response.output_text.delta", "item_id": "msg_f", "output_index": 0, "content_index": 0}
    return b"event: response.output_text.delta\ndata: " + orjson.dumps({**event, "delta": text}) + b"\n\n"


FAULTS: dict[str, Callable[[str], Script]] = {
    "ok": lambda p: [*stream(events(p)), END, CLOSE],
    "ok_whole": lambda p: body(200, whole_body(p), "application/json"),
    "reset_mid_body": lambda p: [head(200, "application/json", 4000) + whole_body(p)[:20], 0.05, RESET],
    # the pause lets the proxy read the first event: a reset discards what the peer has not read yet
    "reset_mid_stream": lambda p: [head(), chunked(first_event(p)), 0.3, RESET],
    "stall_before_headers": lambda p: [HANG],
    "stall_mid_stream": lambda p: [head(), chunked(first_event(p)), HANG],
    "html_5xx": lambda p: body(503, HTML, "text/html"),
    "not_json_200": lambda p: body(200, b"<html>maintenance</html>", "text/html"),
    "truncated_json": lambda p: [
        head(),
        chunked(first_event(p)),
        chunked(b'data: {"choices": [{"delta\n\n'),
        END,
        CLOSE,
    ],
    "five_mb_line": lambda p: [*after_first(p, delta(p, "y" * FIVE_MB)), END, CLOSE],
    "garbage_bytes": lambda p: [*after_first(p, b"\x00\xff\xfe\x8f garbage \x01\n\n"), END, CLOSE],
    "garbage_data": lambda p: [*after_first(p, b"data: \x00\xff\xfe\x8f{ garbage \x01\n\n"), END, CLOSE],
    "cr_line_ends": lambda p: [*stream([f.replace(b"\n", b"\r") for f in events(p)]), END, CLOSE],
    "events_without_data": lambda p: [
        *stream([b"event: ping\n\n", b": comment\n\n", b"id: 7\nretry: 10\n\n", *events(p)]),
        END,
        CLOSE,
    ],
    "no_end_marker": lambda p: [*stream(events(p, end=False)), END, CLOSE],
}

# Not faults of the upstream: streams for testing what a client does to the proxy.
STREAMS: dict[str, Callable[[str], Script]] = {
    # a delta every 20 ms, forever: ends only when the proxy hangs up
    "endless": lambda p: itertools.chain(
        [head(), chunked(first_event(p))], itertools.cycle([chunked(delta(p, "x")), 0.02])
    ),
    # 64 KiB deltas as fast as the proxy takes them, 256 MB in all
    "firehose": lambda p: [
        head(),
        chunked(first_event(p)),
        *itertools.repeat(chunked(delta(p, "z" * 65536)), 4096),
        END,
    ],
}


def paced_text(count: int, tag: str) -> list[str]:
    """The deltas of a paced stream: numbered and tagged, so a client can check it got its own, whole, in order."""
    return [f"<{i}:{tag}>" for i in range(count)]


def paced_stream(protocol: str, count: int, pause: float, tag: str) -> Script:
    """`<direction>.paced_<count>_<ms>.<tag>`: a whole stream of `count` deltas, `ms` apart (0: at once)."""
    parts = tuple(paced_text(count, tag))
    frames = chat_events(parts) if protocol == "chat" else responses_events(parts)
    yield head()
    for frame in frames:
        yield chunked(frame)
        if pause:
            yield pause
    yield END


@dataclass
class Connection:
    """One upstream call: its path, body, the fault played, and when the proxy hung up (if it did)."""

    path: str = ""
    body: dict = field(default_factory=dict)
    fault: str = ""
    started: float = 0.0
    peer_closed: float | None = None  # monotonic time the proxy closed its side (seen on a write or while hanging)
    sent: int = 0  # bytes written and taken by the proxy's socket
    raw: bytes = b""  # the request body as sent
    headers: dict = field(default_factory=dict)  # the request headers, names in lower case


class FaultyUpstream:
    """`await start()` -> base URL (`http://127.0.0.1:PORT/v1`); `connections` records every call."""

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self.connections: list[Connection] = []
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task] = set()

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{self.port}/v1"

    def cut_all(self) -> None:
        """End every connection in play now; callable from any thread (the fixture runs the fake in its own)."""
        for task in list(self._tasks):
            task.get_loop().call_soon_threadsafe(task.cancel)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._tasks.add(asyncio.current_task())
        conn = Connection(started=time.monotonic())
        self.connections.append(conn)
        try:
            request_line, headers = await _read_head(reader)
            conn.path = request_line.split(" ")[1]
            raw = conn.raw = await reader.readexactly(int(headers.get("content-length", "0")))
            conn.headers = headers
            conn.body = orjson.loads(raw) if raw else {}
            # `<direction>.<fault>`, and whatever a test appends after it (`c2c.ok/../x`)
            model = str(conn.body.get("model", ""))
            named = re.match(r"[a-z0-9-]+\.(\w+)", model)
            conn.fault = named.group(1) if named else ""
            protocol = "responses" if conn.path.endswith("/responses") else "chat"
            if paced := re.fullmatch(r"paced_(\d+)_(\d+)", conn.fault):
                script = paced_stream(protocol, int(paced[1]), int(paced[2]) / 1000, model[named.end() + 1 :])
            else:
                script = (FAULTS | STREAMS)[conn.fault](protocol)
            await self._play(script, reader, writer, conn)
        except (ConnectionError, asyncio.IncompleteReadError):
            conn.peer_closed = conn.peer_closed or time.monotonic()
        except asyncio.CancelledError:
            pass  # closed by `close()`: ending quietly (asyncio's stream server reports a cancelled handler)
        finally:
            self._tasks.discard(asyncio.current_task())
            if not writer.is_closing():
                writer.close()

    async def _play(self, script: Script, reader, writer: asyncio.StreamWriter, conn: Connection) -> None:
        for action in script:
            if isinstance(action, bytes):
                writer.write(action)
                await writer.drain()
                conn.sent += len(action)
            elif isinstance(action, float | int):
                await asyncio.sleep(action)
            elif action == RESET:
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                writer.transport.abort()
                return
            elif action == CLOSE:
                writer.close()
                return
            elif action == HANG:
                while await reader.read(65536):
                    pass
                conn.peer_closed = time.monotonic()
                return


async def _read_head(reader: asyncio.StreamReader) -> tuple[str, dict[str, str]]:
    raw = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    request_line, *lines = raw.split("\r\n")
    headers = {}
    for line in lines:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    return request_line, headers
