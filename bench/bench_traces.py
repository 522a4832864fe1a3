"""Request traces (issue 12): the cost of tracing and the memory it holds, against tracing off in the same run.

    .venv/bin/python -m bench.bench_traces [--quick]

Three measurements:

1. The work tracing adds to one request, in this process: the proxy's hooks (`start`, `client`,
   `call`, `answered`, `finish`) run on the server benchmark's pack and body, best of several runs,
   for a served request (with and without `--trace-bodies`) and for a failed one (the replay of its
   request path, the story of the refused field), on the benchmark's small body and on a Codex
   request of 40 KB. Each is set against the CPU time a whole request costs the server with tracing
   off (read from /proc for that process), which is the ratio that says what tracing costs.
2. Throughput, end to end: the fast fake upstream and three `switchyard serve` processes (`--trace
   0`, `--trace 100`, `--trace 100 --trace-bodies`), 16 requests at a time, rounds interleaved
   across the three, served requests and then a quarter of them failing (an upstream that answers
   400 naming a field). On a 2-core machine shared with other work these ratios carry the
   neighbours' noise: they are printed, and the budget is on (1).
3. Memory: resident memory of each process after 20,000 requests (a quarter failing, a quarter
   streaming), and its growth across 20,000 more: the buffer holds N traces, whatever the load.

Budgets: a served request's tracing work <= 5% of a request's CPU with tracing off (<= 20% with
bodies, a debugging mode); RSS with traces within 5 MB of tracing off (15 MB with bodies); growth
across the second 20,000 < 5 MB. The replay of a failed request is printed: replays share a budget
of 5% of a core.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import textwrap
from pathlib import Path

import orjson
from starlette.datastructures import Headers

from switchyard.server.attempts import Attempts
from switchyard.server.exchange import Exchange
from switchyard.server.traces import Traces

try:
    from bench.bench_server import BODY, PACK, free_port, line, rss_mb, start, stop, throughput, uvicorn, wait_up
    from bench.kit import best_of, compile_text
except ImportError:  # run as a script: bench/ itself is on sys.path
    from bench_server import BODY, PACK, free_port, line, rss_mb, start, stop, throughput, uvicorn, wait_up  # type: ignore
    from kit import best_of, compile_text  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parent.parent
QUICK = "--quick" in sys.argv
REFUSED = orjson.dumps({**orjson.loads(BODY), "model": "bench-refused"})
REFUSAL = b'{"error":{"message":"Unrecognized request argument supplied: temperature","param":"temperature"}}'
MODES = {"off": ("--trace", "0"), "on": ("--trace", "100"), "bodies": ("--trace", "100", "--trace-bodies")}
CLIENT_HEADERS = Headers(
    raw=[
        (b"host", b"127.0.0.1:8080"),
        (b"content-type", b"application/json"),
        (b"authorization", b"Bearer sk-client-0123456789abcdef"),
        (b"user-agent", b"OpenAI/Python 1.99.0"),
        (b"accept", b"application/json"),
    ]
)
UPSTREAM_HEADERS = {
    "user-agent": "OpenAI/Python 1.99.0",
    "Authorization": "Bearer sk-pack-0123456789abcdef",
    "Content-Type": "application/json",
    "Accept": "application/json",
    "X-Request-Id": "req_0123456789abcdef",
}


def refused_pack(url: str) -> str:
    """The benchmark's pack, under another model, in front of an upstream that refuses every request."""
    text = textwrap.dedent(PACK).format(url=url.replace("/v1", "/refuses/v1"))
    return text.replace("pack: bench", "pack: bench-refused").replace("'bench-model'", "'bench-refused'")


def hooks_µs(pack, raw: bytes, client: str, bodies: bool, status: int, n: int) -> float:
    """µs of tracing work for one request, as the proxy calls it (the body already sent as `raw`)."""
    traces = Traces(100, bodies)
    traces._replays.share = 1e9  # measure the replay itself, not the budget that would skip it

    def requests() -> None:
        for i in range(n):
            ex = Exchange(f"req_{i}", client)
            ex.trace = traces.start(CLIENT_HEADERS)
            ex.trace.client(raw)
            ex.pack, ex.model, ex.attempts, ex.status = pack, "bench-model", Attempts(), status
            ex.trace.call(pack, None, raw)
            ex.trace.answered(status, UPSTREAM_HEADERS)
            if status >= 400:
                ex.trace.error_data(REFUSAL)
                ex.source, ex.error = "upstream", "upstream 400: Unrecognized request argument supplied: temperature"
            traces.finish(ex)

    return best_of(5, requests) / n * 1e6


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def rounds(servers: dict, urls: dict[str, str], total: int, n: int, every_4th: bytes = BODY) -> dict:
    """For each process, per interleaved round of `total` requests: (req/s, CPU µs per request)."""
    seen: dict[str, list[tuple[float, float]]] = {name: [] for name in urls}
    for _ in range(n):
        for name, url in urls.items():
            before = cpu_seconds(servers[name].pid)
            rate = await throughput(url, total, every_4th=every_4th)
            seen[name].append((rate, (cpu_seconds(servers[name].pid) - before) / total * 1e6))
    return seen


def ratio(seen: dict, name: str) -> float:
    """Median over the rounds of the throughput relative to tracing off."""
    return statistics.median(a[0] / b[0] for a, b in zip(seen[name], seen["off"], strict=True))


def show(seen: dict, label: str) -> None:
    cells = [f"{k} {max(r for r, _ in v):,.0f} req/s" for k, v in seen.items()]
    ratios = [f"{k} {ratio(seen, k):.1%}" for k in seen if k != "off"]
    print(f"  {label} (best round): " + ", ".join(cells) + "; median ratio to off: " + ", ".join(ratios))


async def main() -> None:
    up_port = free_port()
    upstream = f"http://127.0.0.1:{up_port}/v1"
    rules = Path(tempfile.mkdtemp(prefix="switchyard-bench-traces-"))
    (rules / "bench.yaml").write_text(textwrap.dedent(PACK).format(url=upstream))
    (rules / "refused.yaml").write_text(refused_pack(upstream))
    procs = [uvicorn("bench.upstream_app:app", up_port)]
    servers, urls = {}, {}
    for name, flags in MODES.items():
        port = free_port()
        cmd = [sys.executable, "-m", "switchyard", "serve", "--rules", str(rules), "--port", str(port), *flags]
        servers[name] = start(cmd)
        procs.append(servers[name])
        urls[name] = f"http://127.0.0.1:{port}/v1"
    try:
        for url in (upstream, *urls.values()):
            await wait_up(url)
        total, n = (1000, 3) if QUICK else (2000, 7)
        await rounds(servers, urls, 500, 1)  # warm-up: connections, caches
        served = await rounds(servers, urls, total, n)
        request_cpu = statistics.median(c for _, c in served["off"])

        print("request traces: the work tracing adds to a request, against a whole request's CPU (tracing off)")
        pack = compile_text(textwrap.dedent(PACK).format(url=upstream))
        k = 2000 if QUICK else 10000
        print(f"  a request costs the server {request_cpu:,.0f} µs of CPU with tracing off (median round)")
        for label, bodies, budget in (("served", False, 0.05), ("served, with --trace-bodies", True, 0.20)):
            cost = hooks_µs(pack, BODY, "chat", bodies, 200, k)
            share = cost / request_cpu
            line(f"{label}: {cost:.1f} µs, of a request's CPU", f"{share:.1%}", f"<= {budget:.0%}", share <= budget)
        failed = hooks_µs(pack, BODY, "chat", False, 400, k // 10)
        print(f"  {'failed (replay, changes, story), small body':<58} {failed:>13,.0f} µs")
        codex = orjson.loads((ROOT / "tests/fixtures/codex-cli-0.169.0/turn2-request.json").read_bytes())
        bridged = hooks_µs(pack, orjson.dumps({**codex, "model": "bench-model"}), "responses", False, 400, 20)
        print(f"  {'failed, a 40 KB Codex request bridged to Chat':<58} {bridged:>13,.0f} µs")
        print("    (replays share a budget of 5% of one core: past it, a failed request's trace skips them)")

        print("end to end, 16 concurrent, rounds interleaved across the three processes:")
        show(served, "served")
        two = {"off": urls["off"], "on": urls["on"]}
        show(await rounds(servers, two, total, n, every_4th=REFUSED), "a quarter failing (400)")

        count = 4000 if QUICK else 20000
        mixed = orjson.dumps({**orjson.loads(BODY), "stream": True})
        rss: dict[str, tuple[float, float]] = {}
        for name, url in urls.items():
            for body in (REFUSED, mixed):  # a quarter failing, then a quarter streaming
                await throughput(url, count // 2, every_4th=body)
            first = rss_mb(servers[name].pid)
            for body in (REFUSED, mixed):
                await throughput(url, count // 2, every_4th=body)
            rss[name] = (first, rss_mb(servers[name].pid))
        print(
            f"  resident memory after {count:,} requests (and {count:,} more): "
            + ", ".join(f"{k} {a:.1f} MB ({b - a:+.1f})" for k, (a, b) in rss.items())
        )
        held = rss["on"][0] - rss["off"][0]
        held_bodies = rss["bodies"][0] - rss["off"][0]
        line(f"RSS with --trace 100 minus --trace 0, after {count:,}", f"{held:+.1f} MB", "< 5 MB", held < 5)
        line("RSS with --trace-bodies minus --trace 0", f"{held_bodies:+.1f} MB", "< 15 MB", held_bodies < 15)
        growth = max(b - a for a, b in rss.values())
        line(f"largest growth across a further {count:,}", f"{growth:+.1f} MB", "< 5 MB", growth < 5)
    finally:
        stop(procs)


if __name__ == "__main__":
    import uvloop

    uvloop.run(main())
