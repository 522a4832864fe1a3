"""`--body-timeout` (the protocol's timer in switchyard/server/http_guard.py, answered by `Proxy.read_body`)
against a real `switchyard serve`, on raw sockets.

A client that sends a complete head with a Content-Length, then its body slowly (a pause, or a byte
at a time), is answered 408 in its route's own error shape once the timeout has passed since the
head, and its connection is closed; the refusal is counted and logged as 408; other clients are
served meanwhile, and the process stays up. A body that is merely slow, but all in within the
timeout, is served. A body still coming after an answer that did not read it (a 405) has its
connection closed at the timeout.
"""

from __future__ import annotations

import asyncio
import contextlib

import aiohttp
import orjson
import pytest
from client_protocols import ROUTES, body_for, error_message
from proxy_process import lenient_chat_upstream
from server_kit import assert_error_shape, assert_healthy, get_metrics, metric, post_json

BODY_TIMEOUT = 1.0


@pytest.fixture(name="proxy")
async def proxy_fixture(start_proxy, tmp_path, aiohttp_server):
    await lenient_chat_upstream(aiohttp_server, tmp_path / "rules")
    return start_proxy(
        tmp_path / "rules", args=("--body-timeout", str(BODY_TIMEOUT), "--log-format", "json", "--header-timeout", "5")
    )


def head(path: str, length: int, request_id: str, close: bool = False) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\nX-Request-Id: {request_id}\r\n"
        + ("Connection: close\r\n" if close else "")
        + "\r\n"
    ).encode()


async def slow_body(
    port: int, path: str, body: bytes, request_id: str, *, pieces: int, gap: float, close: bool = False
) -> bytes:
    """Send the head at once, then `body` in `pieces` pieces `gap` seconds apart, reading all the while;
    stop sending once the server answers or closes. What the server sent, up to its closing."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    size = -(-len(body) // pieces)
    answer = b""
    try:
        writer.write(head(path, len(body), request_id, close))
        for i in range(pieces):
            writer.write(body[i * size : (i + 1) * size])
            await writer.drain()
            with contextlib.suppress(TimeoutError):
                answer = await asyncio.wait_for(reader.read(65536), gap)
            if answer:  # answered before the body was all sent: stop sending, read the rest
                break
        return answer + await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()


def split_answer(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head_, _, body = raw.partition(b"\r\n\r\n")
    lines = head_.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split(" ")[1]), headers, body


def assert_408(client: str, raw: bytes) -> None:
    """A 408 in `client`'s own error shape, saying `Connection: close`."""
    status, headers, content = split_answer(raw)
    assert status == 408 and headers["connection"] == "close", raw[:300]
    error = orjson.loads(content)
    assert f"within {BODY_TIMEOUT:g} s" in error_message(client, error)
    if client == "messages":
        assert error["error"]["type"] == "invalid_request_error"
    else:
        assert assert_error_shape(error)["code"] == "request_timeout"


def request_lines(proxy, request_id: str) -> list[tuple[int, str]]:
    """(status, source) of each access log line of this request."""
    lines = [orjson.loads(line) for line in proxy.log().splitlines() if request_id in line and line.startswith("{")]
    return [(line["status"], line["source"]) for line in lines if line.get("msg") == "request"]


@pytest.mark.parametrize("client", list(ROUTES))
async def test_a_body_that_stops_short_is_answered_408_in_the_routes_shape_and_the_connection_closed(proxy, client):
    body = orjson.dumps(body_for(client, "m", False))
    request_id = f"req-stalled-{client}"
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    try:
        # The head promises one byte more than is sent: the body never completes.
        writer.write(head(ROUTES[client], len(body) + 1, request_id) + body)
        await writer.drain()
        async with aiohttp.ClientSession() as http:  # others are served while it waits
            status, _, _ = await post_json(http, proxy.url + ROUTES[client], body_for(client, "m", False))
            assert status == 200
        raw = await asyncio.wait_for(reader.read(), 10)  # to the end: the server closes the connection
    finally:
        writer.close()
    assert_408(client, raw)
    async with aiohttp.ClientSession() as http:
        await assert_healthy(http, proxy)
        text = await get_metrics(http, proxy)
    assert metric(text, "switchyard_requests_total", client=client, status="408") == 1
    assert request_lines(proxy, request_id) == [(408, "proxy")]


async def test_a_body_dribbled_a_byte_at_a_time_is_answered_408_long_before_it_is_all_sent(proxy):
    body = orjson.dumps(body_for("chat", "m", False, text="x" * 200))
    raw = await slow_body(proxy.port, ROUTES["chat"], body, "req-dribble", pieces=len(body), gap=0.05)
    assert_408("chat", raw)  # after about 1 s: the whole body would have taken over 10 s
    assert request_lines(proxy, "req-dribble") == [(408, "proxy")]


async def test_a_slow_body_that_is_all_in_within_the_timeout_is_served(proxy):
    body = orjson.dumps(body_for("messages", "m", False))
    raw = await slow_body(proxy.port, ROUTES["messages"], body, "req-slow-ok", pieces=3, gap=0.2, close=True)
    status, _, content = split_answer(raw)
    assert status == 200, content[:300]
    assert request_lines(proxy, "req-slow-ok") == [(200, None)]


async def test_count_tokens_answers_a_stalled_body_408_in_the_anthropic_shape(proxy):
    body = orjson.dumps(body_for("messages", "m", False))
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    try:
        writer.write(head("/v1/messages/count_tokens", len(body) + 1, "req-count") + body)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    assert_408("messages", raw)


async def test_a_body_dribbled_after_an_answer_that_did_not_need_it_has_its_connection_closed(proxy):
    # A 405 answers at once without reading the body; the client goes on sending it a byte at a time,
    # which would hold the connection for ever (every byte resets uvicorn's keep-alive timer).
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    answer, closed = b"", False
    try:
        writer.write(head("/v1/models", 1000, "req-405") + b"{")
        for _ in range(100):  # 10 s of bytes at most
            writer.write(b" ")
            await writer.drain()
            with contextlib.suppress(TimeoutError):
                got = await asyncio.wait_for(reader.read(65536), 0.1)
                if got == b"":
                    closed = True
                    break
                answer += got
    except ConnectionError:
        closed = True
    finally:
        writer.close()
    assert split_answer(answer)[0] == 405
    assert closed
