"""Request traces (issue 12): the throughput they cost and the memory they hold, against tracing off in the same run.

    .venv/bin/python -m bench.bench_traces [--quick]

Starts the fast fake upstream and three `switchyard serve` processes on the pack of the server
benchmark: `--trace 0`, `--trace 100` (the default) and `--trace 100 --trace-bodies`. Load comes
from this process, 16 requests at a time, in rounds interleaved across the three, so the shared
machine's noise hits them alike; the ratios are medians over the rounds.

- served: every request answered 200. A trace is then a small record (no copy, no diff).
- a quarter failing: every 4th request goes to a pack whose upstream answers 400, naming a field.
  A failed request's trace is the request path run again, observed (the changes, the story of the
  field); replays share a budget of 5% of a core, which is what bounds this ratio.
- memory: resident memory of each process after 20,000 requests (a quarter failing, a quarter
  streaming), and its growth across 20,000 more: the buffer holds N traces, whatever the load.

Budgets: served >= 95% of tracing off with traces, >= 90% with bodies; a quarter failing >= 85%;
RSS with traces within 5 MB of tracing off (15 MB with bodies), growth across the second 20,000
< 5 MB.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import textwrap
from pathlib import Path

import orjson

try:
    from bench.bench_server import BODY, PACK, free_port, line, rss_mb, start, throughput, uvicorn, wait_up
except ImportError:  # run as a script: bench/ itself is on sys.path
    from bench_server import BODY, PACK, free_port, line, rss_mb, start, throughput, uvicorn, wait_up  # type: ignore[no-redef]

QUICK = "--quick" in sys.argv
REFUSED = orjson.dumps({**orjson.loads(BODY), "model": "bench-refused"})
MODES = {"off": ("--trace", "0"), "on": ("--trace", "100"), "bodies": ("--trace", "100", "--trace-bodies")}


def refused_pack(url: str) -> str:
    """The benchmark's pack, under another model, in front of an upstream that refuses every request."""
    text = textwrap.dedent(PACK).format(url=url.replace("/v1", "/refuses/v1"))
    return text.replace("pack: bench", "pack: bench-refused").replace("'bench-model'", "'bench-refused'")


async def rounds(urls: dict[str, str], total: int, n: int, every_4th: bytes = BODY) -> dict[str, list[float]]:
    """req/s of each process, `n` interleaved rounds of `total` requests."""
    seen: dict[str, list[float]] = {name: [] for name in urls}
    for _ in range(n):
        for name, url in urls.items():
            seen[name].append(await throughput(url, total, every_4th=every_4th))
    return seen


def ratios(seen: dict[str, list[float]], name: str) -> float:
    return statistics.median(on / off for on, off in zip(seen[name], seen["off"], strict=True))


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
        total, n = (1500, 3) if QUICK else (4000, 5)
        print("request traces: throughput and memory against tracing off, same run")
        await rounds(urls, 500, 1)  # warm-up: connections, caches
        served = await rounds(urls, total, n)
        best = {name: max(rates) for name, rates in served.items()}
        print("  served, 16 concurrent (best round): " + ", ".join(f"{k} {v:,.0f} req/s" for k, v in best.items()))
        on, bodies = ratios(served, "on"), ratios(served, "bodies")
        line("served: --trace 100 relative to --trace 0 (median round)", f"{on:.1%}", ">= 95%", on >= 0.95)
        line("served: --trace-bodies relative to --trace 0", f"{bodies:.1%}", ">= 90%", bodies >= 0.90)

        failing = await rounds({"off": urls["off"], "on": urls["on"]}, total, n, every_4th=REFUSED)
        storm = ratios(failing, "on")
        line("a quarter failing (400): --trace 100 relative to --trace 0", f"{storm:.1%}", ">= 85%", storm >= 0.85)

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
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(10)


if __name__ == "__main__":
    import uvloop

    uvloop.run(main())
