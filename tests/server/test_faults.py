"""The fault matrix: every way an upstream misbehaves, through every bridge direction, read as the client would.

One `switchyard serve` serves four packs, one per direction (its model prefix names it):

    c2c  a Chat client, a Chat upstream (the same protocol: the passthrough)
    r2c  a Responses client (Codex), a Chat upstream
    c2r  a Chat client, a Responses upstream
    m2c  a Messages client (Claude Code), a Chat upstream

and one fake upstream (`fakes/faulty.py`, raw sockets) plays the fault the model's last part names.
Timeouts are short (connect and read: 1 s), so a stall ends in about a second.

Every answer is read with the client protocol's own rules (`client_protocols.read`): it must be a
whole answer or an error that client recognises, never a cut, a traceback or another protocol's
shape; the status is the one in the table; and the metric the table names moved by one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import aiohttp
import pytest
from client_protocols import ROUTES, body_for, read
from fakes.faulty import FAULTS, FIVE_MB, TEXT, FaultyUpstream
from proxy_process import ProxyProcess, free_port, write_pack
from server_kit import get_metrics, metric, wait_for

# direction -> (client protocol, upstream protocol)
DIRECTIONS = {"c2c": ("chat", "chat"), "r2c": ("responses", "chat"), "c2r": ("chat", "responses"),
              "m2c": ("messages", "chat")}  # fmt: skip
WHOLE = "".join(TEXT)
TIMEOUT = 1.0  # the packs' connect and read timeouts


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


@pytest.fixture(name="faulty", scope="module")
def faulty_fixture(tmp_path_factory):
    """The fake upstream on its own loop in a thread, so that module-scoped tests share it."""
    import asyncio
    import threading

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
    closed = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens: the "refused" fault
    for direction, (_, upstream) in DIRECTIONS.items():
        timeout = f"timeout: {{connect: {TIMEOUT}, read: {TIMEOUT}}}"
        write_pack(rules, direction, f"""
            pack: {direction}
            match: "starts_with(model, '{direction}.')"
            upstream: {{url: "{url}", protocol: {upstream}, {timeout}}}
        """)  # fmt: skip
        write_pack(rules, f"{direction}-down", f"""
            pack: {direction}-down
            priority: 1
            match: "model == '{direction}.refused'"
            upstream: {{url: "{closed}", protocol: {upstream}, {timeout}}}
        """)  # fmt: skip
    process = ProxyProcess(rules, args=("--log-format", "json"))
    try:
        yield process.wait_ready()
    finally:
        process.stop()


async def call(http: aiohttp.ClientSession, proxy: ProxyProcess, direction: str, fault: str, stream: bool):
    client = DIRECTIONS[direction][0]
    body = body_for(client, f"{direction}.{fault}", stream)
    async with http.post(proxy.url + ROUTES[client], json=body) as r:
        return read(client, r.status, r.headers.get("Content-Type", ""), await r.read())


@pytest.mark.parametrize("direction", sorted(DIRECTIONS))
@pytest.mark.parametrize("fault", list(MATRIX))
async def test_every_upstream_fault_ends_in_a_well_formed_answer_or_error_in_the_clients_protocol(
    faulty, fault_proxy, direction, fault
):
    expect = MATRIX[fault]
    name, labels = expect.metric
    pack = f"{direction}-down" if fault == "refused" else direction
    async with aiohttp.ClientSession() as http:
        before = metric(await get_metrics(http, fault_proxy), name, pack=pack, **labels)
        started = time.monotonic()
        outcome = await call(http, fault_proxy, direction, fault, expect.stream)
        elapsed = time.monotonic() - started
        after = metric(await get_metrics(http, fault_proxy), name, pack=pack, **labels)
    assert (outcome.status, outcome.ok) == (expect.status, expect.ok), outcome
    if expect.ok:
        assert outcome.text == expect.text, outcome.text[:200]
    else:
        assert expect.message in outcome.message, outcome
        assert WHOLE.startswith(outcome.text), outcome  # what came before the error is a prefix, never garbled
    assert after - before == 1, (name, labels, before, after)
    # Within the configured timeouts: a stall ends after the read timeout, not at some later default.
    assert elapsed < TIMEOUT + 4, elapsed
    if fault.startswith("stall"):  # and the proxy let go of the stalled upstream connection
        [conn] = [c for c in faulty[0].connections if c.body.get("model") == f"{direction}.{fault}"]
        await wait_for(lambda: conn.peer_closed is not None, timeout=2)


def test_the_matrix_covers_every_scripted_fault():
    assert set(MATRIX) - {"refused"} == set(FAULTS)


async def test_no_traceback_reached_the_log_through_the_whole_matrix(fault_proxy):
    # Runs after the matrix in this module's order: the proxy that served every fault logged none.
    assert "Traceback" not in fault_proxy.log()
