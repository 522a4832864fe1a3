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
from dataclasses import dataclass

import aiohttp
import pytest
from client_protocols import ROUTES, Outcome, body_for, read
from fakes.faulty import FIVE_MB, TEXT, FaultyUpstream
from proxy_process import ProxyProcess, free_port, write_pack

# direction -> (client protocol, upstream protocol)
DIRECTIONS = {"c2c": ("chat", "chat"), "r2c": ("responses", "chat"), "c2r": ("chat", "responses"),
              "m2c": ("messages", "chat")}  # fmt: skip
TIMEOUT = 1.0  # the packs' connect and read timeouts


WHOLE = "".join(TEXT)


@dataclass(frozen=True)
class Expect:
    """What the client reads: an answer with the whole text, or an error with `message` in it, at `status`."""

    status: int
    ok: bool
    message: str
    metric: tuple[str, dict]  # (name, labels besides the pack's) of a sample that moves by exactly one
    stream: bool = True  # the client asks for a stream
    text: str = WHOLE  # an answer's text


def counted(name: str, **labels: str) -> tuple[str, dict]:
    return (f"switchyard_{name}_total", labels)


def answer(stream: bool = True, text: str = WHOLE) -> Expect:
    return Expect(200, True, "", counted("requests", status="200"), stream, text)


def refused(status: int, message: str, metric: tuple[str, dict], stream: bool = True) -> Expect:
    """An error status before anything was streamed, in the client protocol's error shape."""
    return Expect(status, False, message, metric, stream)


def broke(message: str, metric: tuple[str, dict] = counted("failed_streams", source="upstream")) -> Expect:
    """A stream answered 200 that ends in the client protocol's error event."""
    return Expect(200, False, message, metric)


# fault -> expected outcome, the same for every direction (each bridge words its message; the table
# gives the part they share). Each row's metric moves by exactly one.
MATRIX: dict[str, Expect] = {
    "ok": answer(),
    "ok_whole": answer(stream=False),
    "refused": refused(502, "upstream unreachable", counted("upstream_errors", kind="upstream_unreachable")),
    "reset_mid_body": refused(502, "upstream body cut", counted("requests", status="502"), stream=False),
    "reset_mid_stream": broke("upstream stream broke", counted("upstream_errors", kind="stream_cut")),
    "stall_before_headers": refused(504, "did not answer in time", counted("upstream_errors", kind="upstream_timeout")),
    "stall_mid_stream": broke("upstream stream broke: timeout", counted("upstream_errors", kind="stream_timeout")),
    "html_5xx": refused(503, "nginx", counted("upstream_http_errors", status="503")),
    "not_json_200": refused(502, "not JSON", counted("requests", status="502"), stream=False),
    "truncated_json": broke("not JSON"),
    "garbage_data": broke("not JSON"),
    # a 5 MB delta on one line: under the 16 MiB line bound, so it reaches the client whole
    "five_mb_line": answer(text=TEXT[0] + "y" * FIVE_MB + "".join(TEXT[1:])),
    "garbage_bytes": answer(),  # lines that are no SSE field are ignored (the SSE rules)
    "cr_line_ends": answer(),  # `\r` alone ends a line (the SSE rules)
    "events_without_data": answer(),  # nothing to dispatch (the SSE rules)
    "no_end_marker": broke("ended before"),
}


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
