"""OpenTelemetry's cost (issue 23): OTel on against off, and off against the code before it, in one run.

    .venv/bin/python -m bench.bench_otel [--quick] [--base REF]

Four processes besides this one: the fake upstream (`bench.upstream_app`), an OTLP sink that takes
every export (`bench.otlp_sink`), and three `switchyard serve` on the server benchmark's pack:

- `base`: the code of git REF (default `main`: the code before this change, when run on its branch),
  checked out with `git archive` into a temporary folder;
- `off`: this checkout, no OTEL_* variable (telemetry never imported);
- `on`: this checkout with `OTEL_EXPORTER_OTLP_ENDPOINT` at the sink and the defaults otherwise:
  every request sampled, spans sent every 5 s or 512 requests, metrics every 60 s.

8 requests at a time, a quarter of them streams (so that tokens, the time to the first token and
the stream's spans are all exercised), rounds interleaved across the three. Each round gives the
throughput and the server's CPU per request (read from /proc): on a 2-core machine shared with
other work, CPU per request is the steadier figure. Budgets: `on` within 5% of `off` (throughput,
median of the per-round ratios), and `off` within 3% of `base` (no measurable change).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import aiohttp
import orjson

try:
    from bench.bench_server import BODY, PACK, free_port, line, start, stop, throughput, uvicorn, wait_up
    from bench.bench_traces import cpu_seconds
except ImportError:  # run as a script: bench/ itself is on sys.path
    from bench_server import BODY, PACK, free_port, line, start, stop, throughput, uvicorn, wait_up  # type: ignore
    from bench_traces import cpu_seconds  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parent.parent
QUICK = "--quick" in sys.argv
BASE = sys.argv[sys.argv.index("--base") + 1] if "--base" in sys.argv else "main"
STREAM = orjson.dumps({**orjson.loads(BODY), "stream": True, "stream_options": {"include_usage": True}})
CONNECTIONS = 8


def checkout(ref: str) -> Path:
    """The package as it is at `ref`, in a temporary folder (its PYTHONPATH)."""
    folder = Path(tempfile.mkdtemp(prefix="switchyard-bench-base-"))
    archive = subprocess.run(["git", "archive", ref, "switchyard"], cwd=ROOT, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    return folder


async def rounds(servers: dict, urls: dict[str, str], total: int, n: int) -> dict:
    """Per process, per interleaved round: (req/s, CPU µs per request)."""
    seen: dict[str, list[tuple[float, float]]] = {name: [] for name in urls}
    for i in range(n):
        order = list(urls)[i % len(urls) :] + list(urls)[: i % len(urls)]  # who goes first rotates
        for name in order:
            before = cpu_seconds(servers[name].pid)
            rate = await throughput(urls[name], total, concurrency=CONNECTIONS, every_4th=STREAM)
            seen[name].append((rate, (cpu_seconds(servers[name].pid) - before) / total * 1e6))
    return seen


def median_ratio(seen: dict, name: str, against: str, which: int) -> float:
    return statistics.median(a[which] / b[which] for a, b in zip(seen[name], seen[against], strict=True))


async def main() -> None:
    up_port, sink_port = free_port(), free_port()
    upstream = f"http://127.0.0.1:{up_port}/v1"
    rules = Path(tempfile.mkdtemp(prefix="switchyard-bench-otel-"))
    (rules / "bench.yaml").write_text(textwrap.dedent(PACK).format(url=upstream))
    procs = [uvicorn("bench.upstream_app:app", up_port), uvicorn("bench.otlp_sink:app", sink_port)]
    base = checkout(BASE)
    otel = {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{sink_port}"}  # the defaults otherwise
    targets = {"base": ({"PYTHONPATH": str(base)}, base), "off": ({}, ROOT), "on": (otel, ROOT)}
    servers, urls = {}, {}
    for name, (env, cwd) in targets.items():
        port = free_port()
        cmd = [sys.executable, "-m", "switchyard", "serve", "--rules", str(rules), "--port", str(port)]
        clean = {"OTEL_SDK_DISABLED": "true"} if name != "on" else {}
        servers[name] = start(cmd, {**clean, **env}) if cwd == ROOT else _start_in(cmd, env, cwd)
        procs.append(servers[name])
        urls[name] = f"http://127.0.0.1:{port}/v1"
    try:
        for url in (upstream, *urls.values()):
            await wait_up(url)
        total, n = (1000, 3) if QUICK else (3000, 9)
        await rounds(servers, urls, 500, 1)  # warm-up: connections, caches
        seen = await rounds(servers, urls, total, n)
        async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{sink_port}/") as r:
            sink = json.loads(await r.read())

        print(f"OpenTelemetry: {CONNECTIONS} connections, a quarter streams, {n} rounds of {total:,} interleaved")
        print(f"  base is {BASE} ({_describe(BASE)})")
        for name, runs in seen.items():
            rate = statistics.median(r for r, _ in runs)
            cpu = statistics.median(c for _, c in runs)
            print(f"  {name:<5} {rate:>8,.0f} req/s (median round), {cpu:>6,.0f} µs of server CPU per request")
        print(f"  the sink received {sink['exports']:,} exports, {sink['bytes'] / 1e6:,.1f} MB")
        on = median_ratio(seen, "on", "off", 0)
        on_cpu = median_ratio(seen, "on", "off", 1)
        off = median_ratio(seen, "off", "base", 0)
        off_cpu = median_ratio(seen, "off", "base", 1)
        line("throughput, OTel on / off", f"{on:.1%}", ">= 95%", on >= 0.95)
        print(f"  {'CPU per request, OTel on / off':<58} {on_cpu:>13.1%}")
        line(f"throughput, OTel off / {BASE}", f"{off:.1%}", ">= 97%", off >= 0.97)
        print(f"  {f'CPU per request, OTel off / {BASE}':<58} {off_cpu:>13.1%}")
    finally:
        stop(procs)


def _start_in(cmd: list[str], env: dict, cwd: Path) -> subprocess.Popen:
    import os

    full = {**os.environ, "OTEL_SDK_DISABLED": "true", **env}
    return subprocess.Popen(cmd, cwd=cwd, env=full, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _describe(ref: str) -> str:
    done = subprocess.run(["git", "log", "-1", "--format=%h %s", ref], cwd=ROOT, capture_output=True, text=True)
    return done.stdout.strip()[:72]


if __name__ == "__main__":
    import uvloop

    uvloop.run(main())
