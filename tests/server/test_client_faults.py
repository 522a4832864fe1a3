"""What a client can do to a stream, through every bridge direction: hang up mid-way, or stop reading.

- A client that hangs up mid-stream: the proxy closes its upstream connection within a second,
  logs 499, and the active-streams gauge is back to 0.
- A client that reads nothing while the upstream streams as fast as it can: the proxy stops
  reading the upstream (backpressure) instead of buffering: the upstream gets only as far as the
  socket buffers let it, and the proxy's memory stays flat. If that client then vanishes, the
  upstream is closed within a second too (it used not to be: server/streaming.py says why).

The upstream is `fakes/faulty.py`'s `endless` and `firehose` streams; the rig is `fault_kit.py`'s.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from pathlib import Path

import aiohttp
import orjson
import pytest
from client_protocols import ROUTES, body_for
from fault_kit import DIRECTIONS
from server_kit import get_metrics, metric, wait_for

FIREHOSE = 4096 * 65536  # what the firehose would send in all (256 MiB)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def connection(faulty, model: str):
    return next(c for c in faulty[0].connections if c.body.get("model") == model)


@pytest.mark.parametrize("direction", sorted(DIRECTIONS))
async def test_a_client_that_hangs_up_mid_stream_has_its_upstream_closed_within_a_second(
    faulty, fault_proxy, direction
):
    client = DIRECTIONS[direction][0]
    model = f"{direction}.endless"
    async with aiohttp.ClientSession() as http:
        async with http.post(fault_proxy.url + ROUTES[client], json=body_for(client, model, True)) as r:
            assert r.status == 200
            for _ in range(8):  # well into the stream
                await r.content.readuntil(b"\n\n")
            assert await metric_now(http, fault_proxy, "switchyard_active_streams") >= 1
            r.connection.transport.abort()  # the client goes away without a word
            hung_up = time.monotonic()
        upstream = connection(faulty, model)
        await wait_for(lambda: upstream.peer_closed is not None, timeout=3)
        assert upstream.peer_closed - hung_up < 1.0
        await wait_for(lambda: '"status":499' in fault_proxy.log() and model in fault_proxy.log(), timeout=3)
        await wait_for(lambda: gauge_is_zero(http, fault_proxy), timeout=3)


async def metric_now(http, proxy, name: str, **labels) -> float:
    return metric(await get_metrics(http, proxy), name, **labels)


async def gauge_is_zero(http, proxy) -> bool:
    # Other tests of this module may have streams in flight only if they run concurrently; they do not.
    return await metric_now(http, proxy, "switchyard_active_streams") == 0


async def stop_reading(fault_proxy, direction: str, seconds: float):
    """Start a firehose stream, read its first event, then read nothing for `seconds`; returns what
    the upstream got to send meanwhile, the proxy's memory growth, and the connection (still open)."""
    client = DIRECTIONS[direction][0]
    body = orjson.dumps(body_for(client, f"{direction}.firehose", True))
    reader, writer = await asyncio.open_connection("127.0.0.1", fault_proxy.port)
    writer.write(b"POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n" % ROUTES[client].encode())
    writer.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    before = rss_mb(fault_proxy.proc.pid)
    assert b" 200 " in await reader.readuntil(b"\r\n")
    await asyncio.sleep(seconds)  # without backpressure, the whole 256 MiB would pass in this time
    return before, writer


def hang_up(writer: asyncio.StreamWriter) -> float:
    """Close with a TCP reset (unread data in the buffer makes any close one), as a killed client does."""
    writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
    return time.monotonic()


@pytest.mark.parametrize("direction", ["c2c", "r2c"])
async def test_a_client_that_stops_reading_a_fast_stream_pauses_the_upstream_instead_of_filling_memory(
    faulty, fault_proxy, direction
):
    before, writer = await stop_reading(fault_proxy, direction, 2.0)
    upstream = connection(faulty, f"{direction}.firehose")
    held, grown = upstream.sent, rss_mb(fault_proxy.proc.pid) - before
    hang_up(writer)
    # Only socket buffers' worth went out (kernel buffers on both loopback connections, a few MB each).
    assert held < FIREHOSE / 8, held
    assert grown < 64, grown


async def test_a_client_that_vanishes_while_its_stream_is_paused_has_its_upstream_closed_within_a_second(
    faulty, fault_proxy
):
    _, writer = await stop_reading(fault_proxy, "r2c", 1.0)
    upstream = [c for c in faulty[0].connections if c.body.get("model") == "r2c.firehose"][-1]
    hung_up = hang_up(writer)
    try:
        await wait_for(lambda: upstream.peer_closed is not None, timeout=2)
        assert upstream.peer_closed - hung_up < 1.0
    finally:
        faulty[0].cut_all()  # were it stuck, the proxy would wait for that stream when it stops
