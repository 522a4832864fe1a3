"""The fault matrix: every way an upstream misbehaves, through every bridge direction, read as the client would.

One `switchyard serve` with a pack per bridge direction (c2c, r2c, c2r, m2c; `fault_kit.py`), and one
fake upstream (`fakes/faulty.py`, raw sockets) playing the fault the model's last part names.

Every answer is read with the client protocol's own rules (`client_protocols.read`): it must be a
whole answer or an error that client recognises, never a cut, a traceback or another protocol's
shape; the status is the one in the table; and the metric the table names moved by one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import aiohttp
import pytest
from fakes.faulty import FAULTS, FIVE_MB, TEXT
from fault_kit import DIRECTIONS, TIMEOUT, call
from server_kit import get_metrics, metric, wait_for

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
