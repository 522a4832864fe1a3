"""The request head's limits (switchyard/server/http_guard.py) against a real `switchyard serve`, on raw sockets.

A head over 64 KiB is a 431 in the error shape of the route its request line names (the OpenAI
shape when it names none, or has not been read whole); a head that does not complete within
`--header-timeout` (slowloris, or a connection that sends nothing) is dropped while other clients
are served; pipelined requests are answered in order on one connection.
"""

from __future__ import annotations

import asyncio
import contextlib

import aiohttp
import orjson
import pytest
from proxy_process import free_port, write_pack
from server_kit import assert_error_shape

HEADER_TIMEOUT = 1.0


@pytest.fixture(name="guarded_proxy")
def guarded_proxy_fixture(start_proxy, tmp_path):
    write_pack(
        tmp_path / "rules",
        "p",
        f"""
        pack: p
        match: "`true`"
        models: [m]
        upstream: {{url: "http://127.0.0.1:{free_port()}/v1", protocol: chat}}
        """,
    )
    return start_proxy(tmp_path / "rules", args=("--header-timeout", str(HEADER_TIMEOUT)))


async def raw_exchange(port: int, data: bytes) -> bytes:
    """Write `data` on a fresh connection and read until the server closes it (or 10 s pass)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()


def split_answer(raw: bytes) -> tuple[int, bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body


async def send_huge_head(port: int, head: bytes) -> tuple[bytes, int]:
    """Send `head` in pieces until the server answers; (its answer, how many bytes were sent)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sent, answer = 0, b""
    try:
        # In pieces, each read by the server before the next: the answer is not lost to a reset.
        while sent < len(head) and not answer:
            writer.write(head[sent : sent + 16384])
            sent += 16384
            await writer.drain()
            with contextlib.suppress(TimeoutError):
                answer = await asyncio.wait_for(reader.read(65536), 0.05)
        answer += await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    return answer, sent


def assert_431_in_the_openai_shape(answer: bytes) -> None:
    status, body = split_answer(answer)
    assert status == 431
    assert assert_error_shape(orjson.loads(body))["code"] == "headers_too_large"


async def test_a_1_mb_header_is_answered_431_in_the_openai_error_shape_after_64_kib_of_it(guarded_proxy):
    header = b"GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (1024 * 1024)
    answer, sent = await send_huge_head(guarded_proxy.port, header)
    assert_431_in_the_openai_shape(answer)
    assert sent <= 128 * 1024  # refused after about 64 KiB, not after the whole megabyte
    async with aiohttp.ClientSession() as http, http.get(guarded_proxy.url + "/healthz") as r:
        assert r.status == 200


@pytest.mark.parametrize("target", ["/v1/messages?beta=true", "/v1/messages/count_tokens"])
async def test_a_huge_head_on_an_anthropic_route_is_answered_431_in_the_anthropic_error_shape(guarded_proxy, target):
    # The big header comes first: the request line is all the server has of the request but its size.
    header = b"POST %s HTTP/1.1\r\nX-Big: %s\r\nHost: x\r\n" % (target.encode(), b"a" * (1024 * 1024))
    answer, _ = await send_huge_head(guarded_proxy.port, header)
    status, body = split_answer(answer)
    assert status == 431
    error = orjson.loads(body)
    assert error["type"] == "error" and set(error["error"]) == {"type", "message"}
    assert error["error"]["type"] == "invalid_request_error" and "over 65536 bytes" in error["error"]["message"]


async def test_a_huge_head_on_a_gemini_route_is_answered_431_in_googles_error_shape(guarded_proxy):
    target = b"/v1beta/models/qwen3-coder-plus:streamGenerateContent?alt=sse"
    header = b"POST %s HTTP/1.1\r\nX-Big: %s\r\nHost: x\r\n" % (target, b"a" * (1024 * 1024))
    status, body = split_answer((await send_huge_head(guarded_proxy.port, header))[0])
    error = orjson.loads(body)["error"]
    assert status == 431 and error["code"] == 431 and error["status"] == "INVALID_ARGUMENT", body


async def test_a_head_whose_request_line_alone_is_over_the_limit_is_answered_in_the_openai_shape(guarded_proxy):
    # The target never ends within the limit: its path is unknown, whatever it starts with.
    header = b"POST /v1/messages" + b"a" * (1024 * 1024)
    answer, _ = await send_huge_head(guarded_proxy.port, header)
    assert_431_in_the_openai_shape(answer)


async def test_a_huge_head_that_arrives_in_one_read_is_answered_in_its_routes_shape(guarded_proxy):
    # Complete, so the parser measures it at its end (`on_headers_complete`), with the target known.
    head = b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\nContent-Length: 0\r\n\r\n" % (b"a" * 70_000)
    status, body = split_answer(await raw_exchange(guarded_proxy.port, head))
    assert status == 431 and orjson.loads(body)["error"]["type"] == "invalid_request_error", body


async def test_a_head_near_the_limit_is_served(guarded_proxy):
    big = {"X-Big": "a" * 48_000}
    async with aiohttp.ClientSession() as http, http.get(guarded_proxy.url + "/v1/models", headers=big) as r:
        assert r.status == 200


async def test_slowloris_connections_are_dropped_after_the_header_timeout_while_others_are_served(guarded_proxy):
    async def slowloris() -> float:
        reader, writer = await asyncio.open_connection("127.0.0.1", guarded_proxy.port)
        started = asyncio.get_running_loop().time()
        try:
            writer.write(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
            for i in range(100):  # one header line every 0.1 s: never done within the timeout
                writer.write(b"X-%d: y\r\n" % i)
                await writer.drain()
                if reader.at_eof() or writer.is_closing():
                    break
                try:
                    if await asyncio.wait_for(reader.read(1), 0.1) == b"":
                        break  # dropped by the server
                except TimeoutError:
                    pass
        except ConnectionError:
            pass
        finally:
            writer.close()
        return asyncio.get_running_loop().time() - started

    async def silent() -> bytes:  # connects and sends nothing at all
        reader, writer = await asyncio.open_connection("127.0.0.1", guarded_proxy.port)
        try:
            return await asyncio.wait_for(reader.read(), 10)
        finally:
            writer.close()

    tasks = [asyncio.create_task(slowloris()) for _ in range(50)] + [asyncio.create_task(silent()) for _ in range(10)]
    await asyncio.sleep(0.3)
    async with aiohttp.ClientSession() as http:  # others are served meanwhile
        for _ in range(5):
            async with http.get(guarded_proxy.url + "/v1/models") as r:
                assert r.status == 200
    results = await asyncio.gather(*tasks)
    held = results[:50]
    # Every slowloris socket was dropped near the timeout, long before its 100 lines (10 s) were sent.
    assert max(held) < HEADER_TIMEOUT + 3, max(held)
    assert results[50:] == [b""] * 10  # the silent ones were closed without an answer


async def test_pipelined_requests_are_answered_in_order_on_one_connection(guarded_proxy):
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    raw = await raw_exchange(guarded_proxy.port, request)
    assert raw.count(b"HTTP/1.1 200") == 2
    first, second = raw.split(b"HTTP/1.1 200")[1:]
    assert b'"status":"ok"' in first and b'"object":"list"' in second
