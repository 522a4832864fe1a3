"""Server budgets (issue 3), measured against a fake upstream on loopback, baseline in the same run.

    .venv/bin/python -m bench.bench_server [--quick] [--workers N]

Starts three processes, each uvicorn with uvloop and httptools: the fast fake upstream
(`bench.upstream_app`), Switchyard (`switchyard serve`, a pack of 5 request and 3 response steps),
and the baseline (`bench.baseline_proxy`, a bare Starlette + aiohttp pass-through). The load comes
from this process (aiohttp on uvloop). On a 2-core machine the client, the proxy and the upstream
share the cores, so absolute numbers are noisy: compare the ratios printed, which come from runs
interleaved in one session.

Budgets printed next to each figure:
- added latency of the proxy hop (median, sequential small chat requests): <= 0.5 ms
- throughput of one worker: >= 75% of the baseline pass-through
- stream: >= 20,000 events/s through one worker; first event <= 1 ms after it leaves the upstream
- resident memory after 10,000 requests < 100 MB (per process), not growing across a further 10,000
"""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import aiohttp
import orjson

# How every client declares its bodies (the proxy answers 415 otherwise, server/origins.py).
JSON_BODY = {"Content-Type": "application/json"}

try:
    from bench.kit import record
except ImportError:  # run as a script: bench/ itself is on sys.path
    from kit import record  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parent.parent
QUICK = "--quick" in sys.argv
# `--workers N`: Switchyard as `serve --workers N` (the budgets are a worker's; with N > 1 throughput
# is the whole server's, and memory is every worker's, summed).
WORKERS = sys.argv[sys.argv.index("--workers") + 1] if "--workers" in sys.argv else "1"
BODY = orjson.dumps(
    {
        "model": "bench-model",
        "messages": [{"role": "developer", "content": "be brief"}, {"role": "user", "content": "ping"}],
        "max_completion_tokens": 64,
        "prompt_cache_key": "abc",
    }
)

PACK = """
pack: bench
match: "model == 'bench-model'"
upstream:
  url: {url}
  protocol: chat
request:
  - each: messages
    match: "role == 'developer'"
    do: [{{set: {{role: system}}}}]
  - rename: {{max_completion_tokens: max_tokens}}
  - drop: [prompt_cache_key, store, include]
  - match: "!stream"
    drop: stream_options
  - default: {{temperature: 0.7}}
response:
  - rename: {{"choices[].delta.reasoning": reasoning_content}}
  - drop: [system_fingerprint, obfuscation]
  - match: "usage"
    set: {{x_proxy: switchyard}}
"""


# A Responses client in front of the chat upstream: the bridge both ways, plus the same response steps.
BRIDGE_PACK = """
pack: bench-bridge
match: "model == 'bench-bridge'"
upstream:
  url: {url}
  protocol: chat
response:
  - rename: {{"choices[].delta.reasoning": reasoning_content}}
  - drop: [system_fingerprint, obfuscation]
  - match: "usage"
    set: {{x_proxy: switchyard}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(cmd: list[str], env: dict | None = None) -> subprocess.Popen:
    env = {**os.environ, **(env or {})}
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def uvicorn(module: str, port: int, env: dict | None = None) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "uvicorn", module, "--port", str(port), "--loop", "uvloop", "--http", "httptools"]
    return start([*cmd, "--log-level", "warning", "--no-access-log"], env)


def stop(procs: list[subprocess.Popen]) -> None:
    """Stop every process started, all at once, then wait for each."""
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait(10)


async def wait_up(url: str) -> None:
    async with aiohttp.ClientSession(headers=JSON_BODY) as s:
        for _ in range(200):
            try:
                async with s.post(url + "/chat/completions", data=BODY) as r:
                    await r.read()
                    return
            except aiohttp.ClientError:
                await asyncio.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


async def latency(session: aiohttp.ClientSession, url: str, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        async with session.post(url + "/chat/completions", data=BODY) as r:
            await r.read()
        out.append((time.perf_counter() - t) * 1000)
    return out


async def throughput(url: str, total: int, concurrency: int = 16, every_4th: bytes = BODY) -> float:
    """Requests per second for `total` requests, `concurrency` at a time; every 4th sends `every_4th`."""
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, headers=JSON_BODY) as session:
        left = total

        async def worker():
            nonlocal left
            while left > 0:
                left -= 1
                data = every_4th if left % 4 == 0 else BODY
                async with session.post(url + "/chat/completions", data=data) as r:
                    await r.read()

        t = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return total / (time.perf_counter() - t)


async def stream_rate(session: aiohttp.ClientSession, url: str, events: int) -> float:
    body = orjson.dumps({**orjson.loads(BODY), "stream": True})
    t = time.perf_counter()
    seen = 0
    async with session.post(url + "/chat/completions", data=body, headers={"X-Events": str(events)}) as r:
        async for chunk in r.content.iter_any():
            seen += chunk.count(b"\n\n")
    elapsed = time.perf_counter() - t
    if seen < events:
        raise RuntimeError(f"stream through {url} delivered {seen} of {events} events")
    return events / elapsed


async def bridged_stream_rate(session: aiohttp.ClientSession, url: str, events: int) -> float:
    """Upstream chat chunks per second, for a Responses client bridged to the chat upstream (issue 4's budget)."""
    body = orjson.dumps({"model": "bench-bridge", "input": "ping", "stream": True})
    t = time.perf_counter()
    completed = False
    async with session.post(url + "/responses", data=body, headers={"X-Events": str(events)}) as r:
        tail = b""
        async for chunk in r.content.iter_any():
            # the terminal event carries the whole text, so look for its name as it passes
            completed = completed or b"event: response.completed" in tail + chunk
            tail = chunk[-64:]
    elapsed = time.perf_counter() - t
    if not completed:
        raise RuntimeError(f"bridged stream through {url} did not complete")
    return events / elapsed


async def first_event_delay(session: aiohttp.ClientSession, url: str, n: int) -> list[float]:
    """ms from the upstream writing an event to this client holding it (same machine, monotonic clock)."""
    body = orjson.dumps({**orjson.loads(BODY), "stream": True})
    out = []
    for _ in range(n):
        headers = {"X-Events": "1", "X-Stamp": "1", "X-Pause": "0.002"}
        async with session.post(url + "/chat/completions", data=body, headers=headers) as r:
            buf = b""
            async for chunk in r.content.iter_any():
                now = time.monotonic_ns()
                buf += chunk
                if b"\n\n" in buf:
                    first = buf.split(b"\n\n", 1)[0]
                    stamp = orjson.loads(first[len(b"data: ") :])["t"]
                    out.append((now - stamp) / 1e6)
                    break
            await r.read()
    return out


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (the workers of `serve --workers N`)."""
    total = float("nan")
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                total = int(line.split()[1]) / 1024
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            children = [int(child) for child in f.read().split()]
    except OSError:
        children = []
    return total + sum(rss_mb(child) for child in children)


def line(name: str, value: str, budget: str, ok: bool) -> None:
    record(name, ok, budget)
    print(f"  {name:<58} {value:>16}   budget {budget:<14} {'ok' if ok else 'MISSED'}")


async def main() -> None:
    up_port, sy_port, base_port = free_port(), free_port(), free_port()
    upstream = f"http://127.0.0.1:{up_port}/v1"
    rules = Path(tempfile.mkdtemp(prefix="switchyard-bench-"))
    (rules / "bench.yaml").write_text(textwrap.dedent(PACK).format(url=upstream))
    (rules / "bridge.yaml").write_text(textwrap.dedent(BRIDGE_PACK).format(url=upstream))
    procs = [uvicorn("bench.upstream_app:app", up_port)]
    sy = start(
        [
            sys.executable,
            "-m",
            "switchyard",
            "serve",
            "--rules",
            str(rules),
            "--port",
            str(sy_port),
            "--workers",
            WORKERS,
        ]
    )
    procs.append(sy)
    procs.append(uvicorn("bench.baseline_proxy:app", base_port, {"BASELINE_UPSTREAM": upstream}))
    direct, switchyard, baseline = upstream, f"http://127.0.0.1:{sy_port}/v1", f"http://127.0.0.1:{base_port}/v1"
    try:
        for url in (direct, switchyard, baseline):
            await wait_up(url)
        n = 300 if QUICK else 2000
        print(f"server budgets ({os.cpu_count()} cores, {WORKERS} worker(s); client, proxy and upstream share them)")
        async with aiohttp.ClientSession(headers=JSON_BODY) as session:
            for url in (direct, switchyard, baseline):
                await latency(session, url, 200)  # warm-up: connections, caches
            med = {}
            for name, url in (("direct", direct), ("switchyard", switchyard), ("baseline", baseline)):
                med[name] = statistics.median(await latency(session, url, n))
            added = med["switchyard"] - med["direct"]
            print(
                f"  median round trip: direct {med['direct']:.3f} ms, baseline {med['baseline']:.3f} ms, "
                f"switchyard {med['switchyard']:.3f} ms"
            )
            line("added latency of the proxy hop (median)", f"{added:.3f} ms", "<= 0.5 ms", added <= 0.5)
            line("  (bare pass-through adds, for comparison)", f"{med['baseline'] - med['direct']:.3f} ms", "-", True)

            total = 2000 if QUICK else 6000
            rounds = 3 if QUICK else 5
            ratios, best = [], {"baseline": 0.0, "switchyard": 0.0}
            for _ in range(rounds):  # interleaved: the machine's noise hits both alike within a round
                b = await throughput(baseline, total)
                s = await throughput(switchyard, total)
                ratios.append(s / b)
                best["baseline"], best["switchyard"] = max(best["baseline"], b), max(best["switchyard"], s)
            ratio = statistics.median(ratios)
            print(
                f"  throughput, 16 concurrent (best of {rounds}): baseline {best['baseline']:,.0f} req/s, "
                f"switchyard {best['switchyard']:,.0f} req/s; per-round ratios " + ", ".join(f"{r:.0%}" for r in ratios)
            )
            line("throughput relative to bare pass-through (median round)", f"{ratio:.0%}", ">= 75%", ratio >= 0.75)

            events = 20000 if QUICK else 50000
            stream = {}
            for name, url in (("direct", direct), ("baseline", baseline), ("switchyard", switchyard)):
                stream[name] = max([await stream_rate(session, url, events) for _ in range(2)])
            print(
                f"  stream of {events:,} chunks: direct {stream['direct']:,.0f}/s, "
                f"baseline {stream['baseline']:,.0f}/s, switchyard {stream['switchyard']:,.0f}/s"
            )
            line("stream events through one worker (3 response steps)", f"{stream['switchyard']:,.0f}/s", ">= 20,000/s",
                 stream["switchyard"] >= 20000)  # fmt: skip

            bridged = max([await bridged_stream_rate(session, switchyard, events) for _ in range(2)])
            line("bridged stream, Responses client over a chat upstream", f"{bridged:,.0f}/s", ">= 15,000/s",
                 bridged >= 15000)  # fmt: skip

            k = 50 if QUICK else 300
            d_direct = statistics.median(await first_event_delay(session, direct, k))
            d_proxy = statistics.median(await first_event_delay(session, switchyard, k))
            print(f"  first event, upstream write -> client: direct {d_direct:.3f} ms, switchyard {d_proxy:.3f} ms")
            line("first event delay added by the proxy (median)", f"{d_proxy - d_direct:.3f} ms", "<= 1 ms",
                 d_proxy - d_direct <= 1)  # fmt: skip

        rounds = 2000 if QUICK else 10000
        streaming = orjson.dumps({**orjson.loads(BODY), "stream": True})  # a quarter of the load streams
        await throughput(switchyard, rounds, every_4th=streaming)
        first = rss_mb(sy.pid)
        await throughput(switchyard, rounds, every_4th=streaming)
        second = rss_mb(sy.pid)
        processes = 1 if WORKERS == "1" else int(WORKERS) + 1  # with workers, a supervisor too
        limit = 100 * processes
        line(f"resident memory after {rounds:,} requests", f"{first:.1f} MB", f"< {limit} MB", first < limit)
        growth = second - first
        line(f"growth across a further {rounds:,}", f"{growth:+.1f} MB", f"~0 (< {5 * processes} MB)",
             growth < 5 * processes)  # fmt: skip
    finally:
        stop(procs)


if __name__ == "__main__":
    import uvloop

    uvloop.run(main())
