"""switchyard/server/asgi.py: the proxy routes as plain ASGI, driven the way an ASGI server drives them.

uvicorn (ASGI 2.3) reports a client that went away with an `http.disconnect` message; a server of
ASGI 2.4 and later raises OSError from `send` instead, possibly on the very first `send`, before the
stream's generator has run at all. Whichever way the news comes, a stream's clean-up runs once: the
active-streams gauge goes back down and its place under --max-concurrency is given back.
"""

from __future__ import annotations

import asyncio
import contextlib

import orjson
from fakes.chat_provider import text_chunks
from proxy_process import lenient_chat_upstream
from server_kit import metric

from switchyard.server.app import create_app

BODY = orjson.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True})


def scope(path: str = "/v1/chat/completions", method: str = "POST", spec: str = "2.4") -> dict:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": spec},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


def request_once(body: bytes, leave: asyncio.Event | None = None):
    """An ASGI `receive` giving the body, then waiting as a server does while the client stays: for ever,
    or until `leave` is set, when the client's `http.disconnect` comes."""
    given = False
    gone = leave or asyncio.Event()

    async def receive() -> dict:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    return receive


@contextlib.asynccontextmanager
async def running(app):
    """The app between its ASGI lifespan start-up and shut-down."""
    inbox: asyncio.Queue = asyncio.Queue()
    outbox: asyncio.Queue = asyncio.Queue()
    task = asyncio.create_task(
        app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, inbox.get, outbox.put)
    )
    await inbox.put({"type": "lifespan.startup"})
    assert (await outbox.get())["type"] == "lifespan.startup.complete"
    try:
        yield app
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        assert (await outbox.get())["type"] == "lifespan.shutdown.complete"
        await task


async def rig(aiohttp_server, tmp_path):
    fake = await lenient_chat_upstream(aiohttp_server, tmp_path / "rules")
    return fake, create_app(str(tmp_path / "rules"), max_concurrency=1)


async def get(app, path: str) -> tuple[int, bytes]:
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    await app(scope(path, "GET"), request_once(b""), send)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


async def test_a_stream_whose_client_is_gone_at_the_first_send_is_cleaned_up_and_gives_its_place_back(
    aiohttp_server, tmp_path
):
    fake, app = await rig(aiohttp_server, tmp_path)
    fake.reply_stream(text_chunks("never read"))
    sends: list[str] = []

    async def gone(message: dict) -> None:
        sends.append(message["type"])
        raise OSError("the client is gone")  # ASGI 2.4: send raises once the client has disconnected

    async with running(app):
        await app(scope(), request_once(BODY), gone)  # returns: a client gone is no failure of the app
        assert sends == ["http.response.start"]
        status, text = await get(app, "/metrics")
        assert status == 200 and metric(text.decode(), "switchyard_active_streams") == 0
        assert (await get(app, "/readyz"))[0] == 200  # under --max-concurrency 1, the place is free again

        fake.reply_stream(text_chunks("read"))
        sent: list[dict] = []

        async def send(message: dict) -> None:
            sent.append(message)

        await app(scope(), request_once(BODY), send)
        assert sent[0]["status"] == 200 and b'"read"' in b"".join(m.get("body", b"") for m in sent[1:])
        assert sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}


async def test_a_stream_whose_client_disconnects_mid_way_stops_reading_and_is_cleaned_up(aiohttp_server, tmp_path):
    # ASGI 2.3, as uvicorn speaks it: the news is an `http.disconnect` message while the stream waits.
    fake, app = await rig(aiohttp_server, tmp_path)
    release = asyncio.Event()
    fake.reply_stream(text_chunks("first", "held back"), hold=(2, release))
    first_event = asyncio.Event()
    leave = asyncio.Event()
    receive = request_once(BODY, leave)
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)
        if message.get("body"):
            first_event.set()

    async with running(app):
        relay = asyncio.create_task(app(scope(spec="2.3"), receive, send))
        await first_event.wait()
        leave.set()
        await asyncio.wait_for(relay, 5)  # ends without the held-back events, and without an error
        release.set()
        assert not any(b"held back" in m.get("body", b"") for m in sent)
        assert sent[-1].get("more_body") is True  # no end of the stream was sent to nobody
        _, text = await get(app, "/metrics")
        assert metric(text.decode(), "switchyard_active_streams") == 0
        assert metric(text.decode(), "switchyard_requests_total", status="499") == 1
        assert (await get(app, "/readyz"))[0] == 200
