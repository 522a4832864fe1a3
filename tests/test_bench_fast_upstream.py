"""bench/fast_upstream.py answers both protocols, and the harness's check catches a target that calls the wrong path.

The side-by-side benchmark trusts a target's figures only after one checked request per scenario: a
200 with what the client's protocol ends with, and a call of the upstream path the job needs (a bridge
that forwarded a Responses request to `/v1/responses` as it is would otherwise pass for one that
translated it). These run the real upstream process, in a second or so.
"""

from __future__ import annotations

import subprocess
import sys
import time

import golden_files
import orjson
import pytest

from bench import targets
from bench.loadgen import Request
from bench.side_by_side import free_port


@pytest.fixture(scope="module")
def upstream():
    port = free_port()
    cmd = [sys.executable, "-m", "bench.fast_upstream", "--port", str(port), "--events", "7"]
    proc = subprocess.Popen(cmd, cwd=golden_files.ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 15
    while True:
        try:
            targets.upstream_counts(base)
            break
        except OSError:
            assert time.monotonic() < deadline, "the fake upstream did not come up"
            time.sleep(0.05)
    yield base
    proc.terminate()
    proc.wait(10)


def test_each_relayed_scenario_gets_its_answer_and_counts_its_path(upstream) -> None:
    for scenario, req in targets.RELAYED.items():
        before = targets.upstream_counts(upstream).get(req.upstream, 0)
        body = targets.call(upstream.removesuffix("/v1"), req)
        assert targets.upstream_counts(upstream)[req.upstream] == before + 1, scenario
        if scenario == "chat_over_responses":
            assert body.count(b"event: response.output_text.delta") == 7
        elif scenario == "codex":
            assert body.count(b"chat.completion.chunk") == 8  # 7 chunks and the finish


def test_a_paced_stream_carries_the_same_events(upstream) -> None:
    req = targets.paced(targets.RELAYED["chat_over_responses"])
    assert b"(paced)" in req.body
    body = targets.call(upstream.removesuffix("/v1"), req)
    assert body.count(b"event: response.output_text.delta") == 7 and body.rstrip().endswith(b"}")


def test_an_answer_without_a_call_of_the_path_the_job_needs_fails_the_check(upstream) -> None:
    # A Responses request relayed to /v1/responses as it is: a 200 with the right ending, but no bridge.
    untranslated = Request(
        "/v1/responses", targets.RESPONSES_STREAM, expect=targets.RESPONSES_SSE, upstream="/v1/chat/completions"
    )
    with pytest.raises(RuntimeError, match="without calling the upstream's /v1/chat/completions"):
        targets.check(upstream.removesuffix("/v1"), untranslated, upstream)
    targets.check(upstream.removesuffix("/v1"), targets.RELAYED["chat_over_responses"], upstream)


def test_an_answer_without_what_the_protocol_ends_with_fails_the_check(upstream) -> None:
    wrong = Request("/v1/chat/completions", orjson.dumps({"stream": True}), expect=b"response.completed")
    with pytest.raises(RuntimeError, match="200 without"):
        targets.call(upstream.removesuffix("/v1"), wrong)
