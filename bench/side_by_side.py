"""`make bench` / `make bench-peers`: every target side by side, in one command, against one fake upstream.

    .venv/bin/python -m bench.side_by_side [--peers] [--quick] [--targets direct,bare,switchyard] [--out DIR]

Starts the fake upstream (`bench.fast_upstream`) and each target (`bench.targets`) as its own process,
checks once that each answers every scenario correctly (a target that does not is reported, never
timed), then measures in rounds. Within a round every target runs every scenario in turn, the order
of targets rotating from round to round, so the machine's noise (other work on shared cores) falls
on all of them alike; figures are min/median/max over rounds, and ratios to the bare pass-through
are medians of the per-round ratios. Per scenario: wrk at 8 and 64 connections (req/s) and at 1
connection (latency percentiles, less `direct`'s in the same round = the latency the hop adds);
for the streamed scenarios also an aiohttp client's time to first event, gaps between events and
events/s. Last, resident memory of each target's process tree after 20,000 mixed requests.

Writes `latest.json`, `latest.md` (bench/report.py) and, when BENCH_PLOT_PYTHON names a Python with
matplotlib (the Makefile makes one in .bench/plot), `latest.png` (bench/plot.py) into bench/results/.
BENCH_QUICK=1 (or --quick): one short round, for a smoke run.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

try:
    from bench import floor, loadgen, report, targets
    from bench.bench_server import free_port, uvicorn
except ImportError:  # run as a script: bench/ itself is on sys.path
    import floor  # type: ignore[no-redef]
    import loadgen  # type: ignore[no-redef]
    import report  # type: ignore[no-redef]
    import targets  # type: ignore[no-redef]
    from bench_server import free_port, uvicorn  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parent.parent
EVENTS = 200  # chunks (Chat) or text deltas (Responses) per streamed answer
# The memory scenario's requests, in turn: mostly small ones, and one of each stream per MIX_CHAT of them
# (a stream of 200 events costs a proxy some 20 small requests; more would keep `make bench` past 10 minutes).
MIX_CHAT = 18
MIX = ["chat"] * MIX_CHAT + ["codex", "chat_over_responses"]


class Settings:
    def __init__(self, quick: bool):
        self.quick = quick
        self.rounds = 1 if quick else 3
        self.seconds = 1 if quick else 2  # per wrk run (wrk counts whole seconds)
        self.connections = (8, 64)
        self.streams = 2 if quick else 12
        self.paced_streams = 1 if quick else 3  # 200 ms each
        self.memory_requests = 300 if quick else 20_000
        self.memory_cap_s = 10 if quick else 90  # a slow peer stops here; the report says how many it did
        self.warmup = not quick


def machine() -> dict:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor() or "unknown",
    )
    node = (
        subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
        if shutil.which("node")
        else ""
    )
    return {
        "cores": os.cpu_count(),
        "cpu": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "node": node or "not installed",
        "switchyard": targets.python_version("switchyard"),
        "uvicorn": targets.python_version("uvicorn"),
        "aiohttp": targets.python_version("aiohttp"),
        "wrk": loadgen.wrk_version(),
    }


def build_targets(names: set[str], peers: bool, upstream: str, folder: Path, notes: list[str]) -> list:
    up_port = int(upstream.rsplit(":", 1)[1].split("/")[0])
    found = [targets.Target("direct", "direct (the upstream alone)", None, up_port, dict(targets.RELAYED))]
    found.append(targets.bare(free_port(), upstream))
    rules_env = targets.switchyard_rules(folder / "rules", upstream)
    found.append(targets.switchyard(free_port(), folder / "rules", rules_env))
    if targets.workers_flag():
        found.append(targets.switchyard(free_port(), folder / "rules", rules_env, workers=2))
    else:
        notes.append("Switchyard with 2 workers: skipped, this build's `switchyard serve` has no `--workers` flag.")
    if peers:
        for peer in (targets.litellm(free_port(), folder, upstream), targets.portkey(free_port(), upstream)):
            if isinstance(peer, str):
                notes.append(f"peer skipped: {peer}")
            else:
                found.append(peer)
    return [t for t in found if not names or t.name in names or t.name.split("-")[0] in names]


def upstream_ceiling(seconds: int) -> float:
    """req/s of bench/upstream_app.py (Starlette) alone, to show why the bench uses a faster upstream."""
    port = free_port()
    proc = uvicorn("bench.upstream_app:app", port)
    try:
        base = f"http://127.0.0.1:{port}"
        t = targets.Target("starlette-upstream", "", None, port, dict(targets.RELAYED))
        t.wait_ready(20)
        return loadgen.wrk(base, [targets.RELAYED["chat"]], 8, seconds).rps
    finally:
        proc.terminate()
        proc.wait(10)


def measure(settings: Settings, run: list, upstream: subprocess.Popen) -> dict:
    """{scenario: {target: {"rps8": [...], "rps64": [...], "p50": [...], ..., "added_p50": [...], ...}}}"""
    figures: dict = {s: {t.name: {} for t in run} for s in targets.SCENARIOS}

    def add(scenario: str, target: str, key: str, value: float) -> None:
        figures[scenario][target].setdefault(key, []).append(value)

    def load(t, scenario: str, connections: int) -> loadgen.WrkResult | None:
        before = loadgen.cpu_seconds(t.proc.pid) if t.proc is not None else None
        result = loadgen.wrk(t.base, [t.requests[scenario]], connections, settings.seconds)
        if before is not None and result.requests and connections > 1:
            # CPU per request: what the target itself spent, whatever the load generator and the upstream
            # took of the shared cores (the steadier figure on a busy machine).
            cpu = loadgen.cpu_seconds(t.proc.pid) - before
            add(scenario, t.name, f"cpu{connections}", cpu / result.requests * 1e6)
        for proc in (t.proc, upstream):
            if proc is not None:
                loadgen.settle(proc.pid)
        if result.errors:
            add(scenario, t.name, "errors", result.errors)
        if not result.requests:  # not one answer completed within the run: no figure, a note
            add(scenario, t.name, "incomplete", connections)
            return None
        return result

    if settings.warmup:
        for t in run:
            for req in t.requests.values():
                if isinstance(req, loadgen.Request):
                    loadgen.wrk(t.base, [req], 8, 1)
    for r in range(settings.rounds):
        order = run[r % len(run) :] + run[: r % len(run)]
        print(f"round {r + 1}/{settings.rounds}: {', '.join(t.name for t in order)}", flush=True)
        for scenario in targets.SCENARIOS:
            rps: dict[tuple[str, int], float] = {}  # this round's, for the ratios taken within the round
            latency: dict[str, loadgen.WrkResult] = {}
            for t in order:
                if not isinstance(t.requests.get(scenario), loadgen.Request):
                    continue
                if result := load(t, scenario, 1):
                    latency[t.name] = result
                for c in settings.connections:
                    if result := load(t, scenario, c):
                        rps[t.name, c] = result.rps
                        add(scenario, t.name, f"rps{c}", result.rps)
            direct = latency.get("direct")
            for name, result in latency.items():
                for p in ("p50", "p90", "p99"):
                    add(scenario, name, p, getattr(result, f"{p}_ms"))
                    if direct is not None:
                        add(scenario, name, f"added_{p}", getattr(result, f"{p}_ms") - getattr(direct, f"{p}_ms"))
            for (name, c), value in rps.items():
                if rps.get(("bare", c)):
                    add(scenario, name, f"ratio{c}", value / rps["bare", c])
        for scenario in targets.STREAMED:
            for t in order:
                req = t.requests.get(scenario)
                if isinstance(req, loadgen.Request):
                    timings = loadgen.run_streams(
                        t.base, req, targets.paced(req), settings.streams, settings.paced_streams
                    )
                    for key, value in timings.items():
                        add(scenario, t.name, key, value)
    return figures


def memory(settings: Settings, run: list) -> dict:
    out = {}
    for t in run:
        if t.proc is None:
            continue
        mix = [t.requests[s] for s in MIX if isinstance(t.requests.get(s), loadgen.Request)]
        idle, _ = loadgen.rss_mb(t.proc.pid)
        result = loadgen.wrk(t.base, mix, 8, settings.memory_cap_s, limit=settings.memory_requests)
        after, processes = loadgen.rss_mb(t.proc.pid)
        out[t.name] = {
            "requests": result.requests,
            "errors": result.errors,
            "rss_before_mb": idle,
            "rss_after_mb": after,
            "processes": processes,
            "kinds": sorted({s for s in MIX if isinstance(t.requests.get(s), loadgen.Request)}),
        }
        print(f"memory {t.name}: {after:.1f} MB after {result.requests:,} requests", flush=True)
    return out


def check(run: list, upstream: str, notes: list[str]) -> None:
    """Each scenario once per target; a wrong answer takes the scenario away from that target, with a note."""
    for t in run:
        for scenario, req in list(t.requests.items()):
            if not isinstance(req, loadgen.Request):
                continue
            try:
                targets.check(t.base, req, upstream)
            except (OSError, RuntimeError) as exc:
                t.requests[scenario] = f"failed its check: {str(exc)[:200]}"
                notes.append(f"{t.label}, scenario {scenario}: failed its check, not measured: {str(exc)[:200]}")


def summarize(figures: dict, run: list, notes: list[str]) -> dict:
    out: dict = {}
    for scenario, per_target in figures.items():
        out[scenario] = {}
        for t in run:
            values = per_target.get(t.name, {})
            req = t.requests.get(scenario)
            if not isinstance(req, loadgen.Request):
                out[scenario][t.name] = {"na": req or "not run"}
                continue
            row = {}
            for key, series in values.items():
                if key in ("errors", "incomplete"):
                    row[key] = sorted(set(series)) if key == "incomplete" else int(sum(series))
                    continue
                row[key] = {"min": min(series), "median": statistics.median(series), "max": max(series)}
            out[scenario][t.name] = row
            if "incomplete" in row:
                notes.append(
                    f"{t.label}, scenario {scenario}: at {', '.join(map(str, row['incomplete']))} connection(s), "
                    "some runs ended before one answer completed (no figure from those runs)."
                )
    return out


def floors() -> dict:
    """The JSON floor of each bridged scenario (`bench.floor`), in microseconds per request."""
    return {
        "codex": floor.json_floor_us(targets.CODEX, targets.CHAT_PATH, EVENTS),
        "chat_over_responses": floor.json_floor_us(targets.CHAT_STREAM, targets.RESPONSES_PATH, EVENTS),
    }


def write(out_dir: Path, results: dict) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "latest.json").write_text(json.dumps(results, indent=1) + "\n")
    plot_python = os.environ.get("BENCH_PLOT_PYTHON", "")
    if plot_python and Path(plot_python).exists():
        cmd = [plot_python, str(ROOT / "bench" / "plot.py"), str(out_dir / "latest.json"), str(out_dir / "latest.png")]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode == 0:
            results["plot"] = "latest.png"
        else:
            results["notes"].append(f"plot failed: {done.stderr.strip()[-300:]}")
    else:
        results["notes"].append(
            "plot skipped: BENCH_PLOT_PYTHON names no Python with matplotlib (`make bench` makes one)"
        )
    (out_dir / "latest.md").write_text(report.render(results))


def main() -> int:
    parser = argparse.ArgumentParser(description="Every target side by side against one fake upstream.")
    parser.add_argument("--peers", action="store_true", help="also LiteLLM proxy and Portkey gateway (.bench/peers)")
    parser.add_argument("--quick", action="store_true", default=os.environ.get("BENCH_QUICK") == "1")
    parser.add_argument("--targets", default="", help="comma-separated names (default: every one available)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = parser.parse_args()
    if not loadgen.wrk_available():
        print(
            "bench: wrk is not installed and could not be installed (`apt-get install wrk`, Debian's package); "
            "the side-by-side benchmark needs it for plain requests.",
            file=sys.stderr,
        )
        return 2
    settings = Settings(args.quick)
    notes: list[str] = []
    started = time.monotonic()
    folder = Path(tempfile.mkdtemp(prefix="bench-side-"))
    up_port = free_port()
    upstream_cmd = [sys.executable, "-m", "bench.fast_upstream", "--port", str(up_port), "--events", str(EVENTS)]
    upstream = subprocess.Popen(upstream_cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    upstream_base = f"http://127.0.0.1:{up_port}/v1"
    run = build_targets({n for n in args.targets.split(",") if n}, args.peers, upstream_base, folder, notes)
    try:
        for t in run:
            t.start(folder)
        for t in run:
            t.wait_ready(180)
        check(run, upstream_base, notes)
        print(f"targets up: {', '.join(t.name for t in run)}; logs in {folder}", flush=True)
        figures = measure(settings, run, upstream)
        mem = memory(settings, run)
        ceiling = None if settings.quick else upstream_ceiling(settings.seconds)
    finally:
        for t in run:
            t.stop()
        upstream.terminate()
        upstream.wait(10)
    info = machine()
    for t in run:
        if t.name in ("litellm", "portkey"):
            info[t.name] = t.version
    results = {
        "generated": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "make bench-peers" if args.peers else "make bench",
        "quick": settings.quick,
        "settings": {
            "rounds": settings.rounds,
            "seconds": settings.seconds,
            "connections": list(settings.connections),
            "streams": settings.streams,
            "paced_streams": settings.paced_streams,
            "events": EVENTS,
            "memory_requests": settings.memory_requests,
            "memory_mix_chat": MIX_CHAT,
            "memory_cap_s": settings.memory_cap_s,
        },
        "machine": info,
        "upstream_starlette_rps8": ceiling,
        "targets": [{"name": t.name, "label": t.label, "version": t.version} for t in run],
        "scenarios": targets.SCENARIOS,
        "results": summarize(figures, run, notes),
        "floor": floors(),
        "memory": mem,
        "notes": notes,
        "minutes": round((time.monotonic() - started) / 60, 1),
    }
    write(Path(args.out), results)
    shutil.rmtree(folder, ignore_errors=True)
    print(f"wrote {Path(args.out) / 'latest.md'} in {results['minutes']} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
