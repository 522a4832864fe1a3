"""The side-by-side benchmark's load: wrk for plain requests, an aiohttp client for streams, RSS from /proc.

wrk (Debian's package) generates the load for throughput and latency: a C client costs the shared
cores far less than a Python one would, so more of them go to the target. It runs one thread
(`-t1`): on 2 cores a second thread would only take a core from the target. Its Lua script sends
prebuilt requests (the body read from a file, so a 40 KB Codex request costs nothing to build) and
writes its figures to a file in `done`, rather than its text report being parsed; `response` counts
answers when a run is bounded by a number of requests (the memory scenario).

Streams are read by aiohttp, which sees each read as it arrives: time to the first event, the gaps
between events (every event completed by one read gets that read's time) and events per second.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp


@dataclass(frozen=True)
class Request:
    """One request as a target needs it to do a scenario's job."""

    path: str
    body: bytes
    headers: dict = field(default_factory=dict)
    method: str = "POST"
    expect: bytes = b""  # what a correct answer contains (checked once before measuring)
    upstream: str = ""  # the upstream path the job needs called (checked once before measuring)


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def wrk_version() -> str:
    if not wrk_available():
        return "not installed"
    out = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    return (out.stdout or out.stderr).split("\n")[0].split(" [")[0].strip()


def _lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string literal is a valid Lua string literal for these contents


def _script(requests: list[Request], folder: Path, out: Path, limit: int) -> Path:
    """A wrk script cycling through `requests`; it stops a thread after `limit` answers when limit > 0."""
    lines = ["local reqs, i, n = {}, 0, 0", "init = function(args)"]
    for k, req in enumerate(requests):
        body = folder / f"body{k}.bin"
        body.write_bytes(req.body)
        headers = {"Content-Type": "application/json", **req.headers}
        table = ", ".join(f"[{_lua_string(h)}] = {_lua_string(v)}" for h, v in headers.items())
        lines += [
            f"  local f = io.open({_lua_string(str(body))}, 'rb'); local b = f:read('*a'); f:close()",
            f"  reqs[{k + 1}] = wrk.format({_lua_string(req.method)}, {_lua_string(req.path)}, {{{table}}}, b)",
        ]
    lines += [
        "end",
        "request = function() i = i % #reqs + 1; return reqs[i] end",
    ]
    if limit:
        lines.append(
            f"response = function(status, headers, body) n = n + 1; if n >= {limit} then wrk.thread:stop() end end"
        )
    lines += [
        "done = function(summary, latency, requests)",
        f"  local f = io.open({_lua_string(str(out))}, 'w')",
        "  local e = summary.errors",
        "  f:write(summary.requests, ' ', summary.duration, ' ', e.connect, ' ', e.read, ' ', e.write, ' ', e.status,",
        "    ' ', e.timeout, ' ', latency:percentile(50), ' ', latency:percentile(90), ' ', latency:percentile(99))",
        "  f:close()",
        "end",
    ]
    script = folder / "bench.lua"
    script.write_text("\n".join(lines) + "\n")
    return script


@dataclass
class WrkResult:
    requests: int
    seconds: float
    errors: int  # connect, read, write, timeout and non-2xx/3xx answers together
    p50_ms: float
    p90_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def wrk(base: str, requests: list[Request], connections: int, seconds: int, limit: int = 0) -> WrkResult:
    """Run wrk against `base` (scheme://host:port) for `seconds` (or until `limit` answers came back)."""
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
        folder = Path(tmp)
        out = folder / "out.json"
        script = _script(requests, folder, out, limit)
        cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "30s", "-s", str(script), base]
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
        if not out.exists():
            raise RuntimeError(
                f"wrk wrote no result (exit {run.returncode}): {run.stderr.strip() or run.stdout[-300:]}"
            )
        requests_done, micros, *errors, p50, p90, p99 = (float(v) for v in out.read_text().split())
    return WrkResult(int(requests_done), micros / 1e6, int(sum(errors)), p50 / 1e3, p90 / 1e3, p99 / 1e3)


# -- streams


@dataclass
class StreamTiming:
    ttfe_ms: float  # request sent -> first whole event received
    gaps_ms: list[float]
    events: int
    seconds: float  # request sent -> last byte

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


async def time_stream(session: aiohttp.ClientSession, base: str, req: Request) -> StreamTiming:
    headers = {"Content-Type": "application/json", **req.headers}
    start = time.perf_counter()
    stamps: list[float] = []
    buf = b""
    async with session.request(req.method, base + req.path, data=req.body, headers=headers) as resp:
        if resp.status != 200:
            raise RuntimeError(f"{base}{req.path} answered {resp.status}: {(await resp.read())[:200]!r}")
        async for chunk in resp.content.iter_any():
            now = time.perf_counter()
            buf += chunk.replace(b"\r\n", b"\n")
            complete = buf.count(b"\n\n")
            if complete:
                stamps += [now] * complete
                buf = buf[buf.rfind(b"\n\n") + 2 :]
    end = time.perf_counter()
    if not stamps:
        raise RuntimeError(f"{base}{req.path} streamed no event")
    gaps = [(b - a) * 1e3 for a, b in itertools.pairwise(stamps)]
    return StreamTiming((stamps[0] - start) * 1e3, gaps, len(stamps), end - start)


def summarize_streams(timings: list[StreamTiming]) -> dict:
    gaps = sorted(g for t in timings for g in t.gaps_ms)

    def pct(p: float) -> float:
        return gaps[min(len(gaps) - 1, int(p * len(gaps)))] if gaps else 0.0

    return {
        "ttfe_ms": statistics.median(t.ttfe_ms for t in timings),
        "gap_p50_ms": pct(0.50),
        "gap_p99_ms": pct(0.99),
        "events": statistics.median(t.events for t in timings),
        "events_per_s": statistics.median(t.events_per_s for t in timings),
    }


async def stream_figures(base: str, burst: Request, paced: Request, count: int, paced_count: int) -> dict:
    """`count` streams sent at once by the upstream (first event, events/s), then `paced_count` streams
    paced by it (gaps between events), one after another after one to warm up, summarized."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        await time_stream(session, base, burst)
        fast = summarize_streams([await time_stream(session, base, burst) for _ in range(count)])
        slow = summarize_streams([await time_stream(session, base, paced) for _ in range(paced_count)])
    return {
        "ttfe_ms": fast["ttfe_ms"],
        "events": fast["events"],
        "events_per_s": fast["events_per_s"],
        "gap_p50_ms": slow["gap_p50_ms"],
        "gap_p99_ms": slow["gap_p99_ms"],
    }


def run_streams(base: str, burst: Request, paced: Request, count: int, paced_count: int) -> dict:
    return asyncio.run(stream_figures(base, burst, paced, count, paced_count))


# -- memory


def _tree(pid: int) -> list[int]:
    """`pid` and every descendant (workers, a gateway's children)."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        for task in Path(f"/proc/{p}/task").glob("*"):
            with contextlib.suppress(OSError):
                todo += [int(c) for c in (task / "children").read_text().split()]
    return found


def rss_mb(pid: int) -> tuple[float, int]:
    """Resident memory of the process tree in MB, and how many processes it has."""
    total, count = 0, 0
    for p in _tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
                    count += 1
        except OSError:
            pass
    return total / 1024, count


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) the process tree has used so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in _tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of the whole line)
    return total / ticks


def settle(pid: int, limit_s: float = 2.0) -> None:
    """Until the process tree is idle: a target may still be working off the answers a run's clients
    dropped when it ended (64 streams, say), which would otherwise land in the next run's figures."""
    deadline = time.monotonic() + limit_s
    before = cpu_seconds(pid)
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = cpu_seconds(pid)
        if now - before < 0.005:
            return
        before = now
