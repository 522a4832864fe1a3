"""The least a translating proxy written in Python must spend on a bridged scenario: its JSON, and nothing else.

A bridge cannot relay bytes: it parses the client's body and writes the upstream's, and parses each
upstream event and writes the client's. With orjson (the fastest JSON library for CPython) and no
other work at all (no rule, no bridge, no HTTP), that is

    loads(client body) + dumps(of it) + for each upstream event: loads(its data) + dumps(of it)

timed here, in the harness's own process, on the very bytes the fake upstream sends
(`bench.fast_upstream.Answers`). Added to the bare pass-through's measured CPU per request (a
translating proxy also receives and sends every byte the bare one does), it bounds the throughput any
such proxy can reach on one core against the bare one:

    best ratio = bare CPU per request / (bare CPU per request + JSON floor)

The side-by-side report prints it beside each bridged scenario, so a ratio budget can be read
against what is possible at all in this runtime. Best of several rounds: the figure is a floor.
"""

from __future__ import annotations

import time

import orjson

try:
    from bench.fast_upstream import Answers
except ImportError:  # run as a script: bench/ itself is on sys.path
    from fast_upstream import Answers  # type: ignore[no-redef]


def _events(stream_frames: list[bytes]) -> list[bytes]:
    """The `data:` values of a stream as the fake upstream sends it (HTTP chunks of SSE frames)."""
    out = []
    for frame in stream_frames[1:-1]:  # the HTTP head and the last chunk carry no event
        body = frame.split(b"\r\n", 1)[1].rsplit(b"\r\n", 1)[0]
        for line in body.split(b"\n"):
            if line.startswith(b"data: ") and line != b"data: [DONE]":
                out.append(line[6:])
    return out


def json_floor_us(client_body: bytes, upstream_path: str, events: int, rounds: int = 7, repeat: int = 20) -> float:
    """Microseconds of orjson work per request for one bridged scenario (best of `rounds`)."""
    datas = _events(Answers(events).stream[upstream_path.encode()])
    loads, dumps = orjson.loads, orjson.dumps
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(repeat):
            dumps(loads(client_body))
            for data in datas:
                dumps(loads(data))
        best = min(best, (time.perf_counter() - start) / repeat)
    return best * 1e6


def best_ratio(bare_cpu_us: float, floor_us: float) -> float:
    return bare_cpu_us / (bare_cpu_us + floor_us)
