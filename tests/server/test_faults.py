"""The fault matrix: every way an upstream misbehaves, through every bridge direction, read as the client would.

One `switchyard serve` with a pack per bridge direction (c2c, r2c, c2r, m2c; `fault_kit.py`), and one
fake upstream (`fakes/faulty.py`, raw sockets) playing the fault the model names after its first dot.

Every answer is read with the client protocol's own rules (`client_protocols.read`): it must be a
whole answer or an error that client recognises, never a cut, a traceback or another protocol's
shape; the status is the one in the table; and the metric the table names moved by one.

The table, fault -> expected outcome (the same in every direction), is `fault_kit.MATRIX`, which
`make soak` also runs round after round.
"""

from __future__ import annotations

import time

import aiohttp
import pytest
from fakes.faulty import FAULTS
from fault_kit import DIRECTIONS, MATRIX, TIMEOUT, WHOLE, call
from server_kit import get_metrics, metric, wait_for


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
