"""Wiring for the fault suite: the misbehaving upstream (`fakes/faulty.py`) and a proxy with one pack per direction.

Both are module-scoped (a proxy start costs half a second): the fake runs on its own event loop in a
thread, so that it outlives each test's loop, and records every connection. The proxy serves four
packs, one per bridge direction, named by the model's prefix, plus one per direction whose upstream
refuses connections (`<direction>.refused`):

    c2c  a Chat client, a Chat upstream (the same protocol: the passthrough)
    r2c  a Responses client (Codex), a Chat upstream
    c2r  a Chat client, a Responses upstream
    m2c  a Messages client (Claude Code), a Chat upstream

Timeouts are short (connect and read: `TIMEOUT`), so a stall ends in about a second.
"""

from __future__ import annotations

import asyncio
import threading

import aiohttp
import pytest
from client_protocols import ROUTES, Outcome, body_for, read
from fakes.faulty import FaultyUpstream
from proxy_process import ProxyProcess, free_port, write_pack

# direction -> (client protocol, upstream protocol)
DIRECTIONS = {"c2c": ("chat", "chat"), "r2c": ("responses", "chat"), "c2r": ("chat", "responses"),
              "m2c": ("messages", "chat")}  # fmt: skip
TIMEOUT = 1.0  # the packs' connect and read timeouts


def fault_packs(rules, url: str, timeout: float = TIMEOUT, api_key: str | None = None) -> None:
    """The packs of the rig; with `api_key`, each upstream call carries it (`${VAR}` for a key from the environment)."""
    closed = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens: the "refused" fault
    for direction, (_, upstream) in DIRECTIONS.items():
        limits = f"timeout: {{connect: {timeout}, read: {timeout}}}" + (f", api_key: '{api_key}'" if api_key else "")
        write_pack(rules, direction, f"""
            pack: {direction}
            match: "starts_with(model, '{direction}.')"
            upstream: {{url: "{url}", protocol: {upstream}, {limits}}}
        """)  # fmt: skip
        write_pack(rules, f"{direction}-down", f"""
            pack: {direction}-down
            priority: 1
            match: "model == '{direction}.refused'"
            upstream: {{url: "{closed}", protocol: {upstream}, {limits}}}
        """)  # fmt: skip


@pytest.fixture(name="faulty", scope="module")
def faulty_fixture(tmp_path_factory):
    """The fake upstream on its own loop in a thread, so that module-scoped tests share it."""
    loop = asyncio.new_event_loop()
    fake = FaultyUpstream()
    url = loop.run_until_complete(fake.start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield fake, url
    asyncio.run_coroutine_threadsafe(fake.close(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


@pytest.fixture(name="fault_proxy", scope="module")
def fault_proxy_fixture(faulty, tmp_path_factory):
    _, url = faulty
    rules = tmp_path_factory.mktemp("faults") / "rules"
    fault_packs(rules, url)
    # --grace 0: a stream left stuck by a test (the known gap in test_client_faults.py) holds the stop 5 s, not 30
    process = ProxyProcess(rules, args=("--log-format", "json", "--grace", "0"))
    try:
        yield process.wait_ready()
    finally:
        process.stop()


async def call(http: aiohttp.ClientSession, proxy: ProxyProcess, direction: str, fault: str, stream: bool) -> Outcome:
    """One request of the direction's client protocol for `fault`, read as that client reads it."""
    client = DIRECTIONS[direction][0]
    body = body_for(client, f"{direction}.{fault}", stream)
    async with http.post(proxy.url + ROUTES[client], json=body) as r:
        return read(client, r.status, r.headers.get("Content-Type", ""), await r.read())
