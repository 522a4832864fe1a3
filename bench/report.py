"""`bench/results/latest.md` from the side-by-side benchmark's results (the dict `side_by_side` writes as JSON).

A pure function of the results, so the report can be rendered again from `latest.json` alone
(`python -m bench.report bench/results/latest.json`) and tested without a run.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

# What each target runs as and is given (bench/targets.py builds them), for the reader of the report.
HOW = {
    "direct": "`bench/fast_upstream.py` alone",
    "bare": "`bench/baseline_proxy.py` under uvicorn (uvloop, httptools, no access log): bytes relayed, nothing parsed",
    "switchyard": "`switchyard serve` with its defaults (one log line per request, to a file); the 5-step bench pack, "
    "the shipped `qwen` and `openai` packs",
    "switchyard-2": "the same with `--workers 2`",
    "litellm": "`litellm --config`, 1 worker: one model per scenario (`openai/`, `custom_openai/` for its "
    "Responses-to-Chat bridge, `openai/responses/` for its Chat-to-Responses bridge); no database, no master key, "
    "telemetry and the remote cost map off, log level ERROR",
    "portkey": "`node build/start-server.js --headless`; each request carries `x-portkey-provider: openai` and "
    "`x-portkey-custom-host: <upstream>/v1`",
}


def _num(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    if digits == 0 and 0 < abs(value) < 10:  # a slow target's few requests per second, not "0"
        digits = 1
    return f"{value:,.{digits}f}"


def _spread(cell: dict | None, digits: int = 0) -> str:
    """median (min-max) of a figure over rounds."""
    if not cell:
        return "-"
    if cell["min"] == cell["max"]:
        return _num(cell["median"], digits)
    return f"{_num(cell['median'], digits)} ({_num(cell['min'], digits)}-{_num(cell['max'], digits)})"


def _ratio(cell: dict | None) -> str:
    return f"{cell['median']:.0%}" if cell else "-"


def _med(row: dict, key: str) -> float | None:
    return row[key]["median"] if key in row else None


def _added_ratio(row: dict, bare: dict) -> str:
    mine, base = _med(row, "added_p50"), _med(bare, "added_p50")
    if mine is None or not base or base <= 0:
        return "-"
    return f"{mine / base:.1f}x"


def headline(results: dict) -> list[str]:
    """The small chat request at a glance: what README's Performance section quotes."""
    rows = results["results"]["chat"]
    bare = rows.get("bare", {})
    lines = [
        "| target | req/s, 8 conn. | vs bare | req/s, 64 conn. | vs bare | added latency p50, 1 conn. | vs bare |",
        "|---|---|---|---|---|---|---|",
    ]
    for t in results["targets"]:
        row = rows.get(t["name"], {})
        if "na" in row or t["name"] == "direct":
            continue
        lines.append(
            f"| {t['label']} | {_num(_med(row, 'rps8'))} | {_ratio(row.get('ratio8'))} | {_num(_med(row, 'rps64'))} "
            f"| {_ratio(row.get('ratio64'))} | {_num(_med(row, 'added_p50'), 3)} ms | {_added_ratio(row, bare)} |"
        )
    return lines


def scenario_table(results: dict, scenario: str) -> list[str]:
    rows = results["results"][scenario]
    bare = rows.get("bare", {})
    lines = [
        "| target | req/s, 8 conn. | vs bare | req/s, 64 conn. | vs bare | CPU per request, 8 / 64 conn. (µs) "
        "| vs bare | latency p50 / p90 / p99, 1 conn. (ms) | added p50 / p90 / p99 (ms) | added p50 vs bare | errors |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for t in results["targets"]:
        row = rows.get(t["name"], {})
        if "na" in row:
            lines.append(f"| {t['label']} | n/a: {row['na']} | | | | | | | | | |")
            continue
        latency = " / ".join(_num(_med(row, p), 3) for p in ("p50", "p90", "p99"))
        added = " / ".join(_num(_med(row, f"added_{p}"), 3) for p in ("p50", "p90", "p99"))
        cpu = f"{_num(_med(row, 'cpu8'))} / {_num(_med(row, 'cpu64'))}" if "cpu8" in row else "-"
        lines.append(
            f"| {t['label']} | {_spread(row.get('rps8'))} | {_ratio(row.get('ratio8'))} | {_spread(row.get('rps64'))} "
            f"| {_ratio(row.get('ratio64'))} | {cpu} | {_cpu_ratio(row, bare)} | {latency} | {added} "
            f"| {_added_ratio(row, bare)} | {row.get('errors', 0)} |"
        )
    return lines


def _cpu_ratio(row: dict, bare: dict) -> str:
    mine, base = _med(row, "cpu8"), _med(bare, "cpu8")
    return f"{mine / base:.2f}x" if mine and base else "-"


def floor_note(results: dict, scenario: str) -> list[str]:
    """What the JSON work alone costs a translating proxy here, and the best ratio it allows (`bench/floor.py`)."""
    floor_us = results.get("floor", {}).get(scenario)
    bare = _med(results["results"][scenario].get("bare", {}), "cpu8")
    if not floor_us or not bare:
        return []
    best = bare / (bare + floor_us)
    return [
        "",
        f"The floor (`bench/floor.py`): parsing and writing this scenario's JSON with orjson, and nothing else (the "
        f"client's body once, each of the upstream's events once), takes {floor_us:,.0f} µs per request in the "
        f"harness's process. With the bare pass-through's {bare:,.0f} µs of CPU per request (8 conn.), a proxy "
        f"that translates in CPython can reach at best {best:.0%} of its throughput on one core.",
    ]


def stream_table(results: dict, scenario: str) -> list[str]:
    rows = results["results"][scenario]
    bare_rate = _med(rows.get("bare", {}), "events_per_s")
    lines = [
        "| target | events per stream | time to first event (ms) | gap p50, paced (ms) | gap p99, paced (ms) "
        "| events/s | vs bare |",
        "|---|---|---|---|---|---|---|",
    ]
    for t in results["targets"]:
        row = rows.get(t["name"], {})
        if "na" in row or "events_per_s" not in row:
            continue
        rate = _med(row, "events_per_s")
        ratio = f"{rate / bare_rate:.0%}" if bare_rate and rate is not None else "-"
        lines.append(
            f"| {t['label']} | {_num(_med(row, 'events'))} | {_num(_med(row, 'ttfe_ms'), 3)} "
            f"| {_num(_med(row, 'gap_p50_ms'), 3)} | {_num(_med(row, 'gap_p99_ms'), 3)} "
            f"| {_spread(row['events_per_s'])} | {ratio} |"
        )
    return lines


def memory_table(results: dict) -> list[str]:
    lines = [
        "| target | requests | of which | RSS before (MB) | RSS after (MB) | processes | errors |",
        "|---|---|---|---|---|---|---|",
    ]
    labels = {t["name"]: t["label"] for t in results["targets"]}
    for name, m in results["memory"].items():
        lines.append(
            f"| {labels.get(name, name)} | {m['requests']:,} | {', '.join(m['kinds'])} | {m['rss_before_mb']:.1f} "
            f"| {m['rss_after_mb']:.1f} | {m['processes']} | {m['errors']} |"
        )
    return lines


def render(results: dict) -> str:
    s, m = results["settings"], results["machine"]
    out = [
        "# Side-by-side benchmark",
        "",
        f"Written by `{results['command']}` (`python -m bench.side_by_side`) on {results['generated']}"
        + (", **quick mode: a smoke run, not figures to quote**" if results["quick"] else "")
        + f"; the run took {results['minutes']} min.",
        "",
        "## How",
        "",
        "- Each target is its own process in front of one fake upstream (`bench/fast_upstream.py`: canned answers "
        "from uvloop + httptools); `direct` is that upstream alone, and every *added* latency is a target's "
        "minus direct's, at the same percentile, in the same round.",
        f"- Plain requests: wrk, 1 thread, {s['seconds']} s per run, at 8 and 64 connections (req/s) and at 1 "
        f"connection (latency). Streams: an aiohttp client, one stream at a time; each upstream answer has "
        f"{s['events']} chunks or deltas. Time to first event and events/s: {s['streams']} streams per target and "
        "round that the upstream sends at once; gaps between events: "
        f"{s.get('paced_streams', 0)} streams whose events the upstream paces at one per ms (the ideal gap is 1 ms).",
        f"- {s['rounds']} round(s), interleaved: every target runs every scenario within a round, the order of "
        "targets rotating between rounds. Cells give the median over rounds (min-max); `vs bare` is the median of "
        "the per-round ratios to the bare pass-through (`bench/baseline_proxy.py`, Starlette + aiohttp, no rules).",
        "- Client, targets and upstream share the machine's cores (and, on a shared machine, other work): "
        "compare ratios within this run, not absolute figures across machines.",
    ]
    if results.get("upstream_starlette_rps8"):
        out.append(
            f"- Why not `bench/upstream_app.py`: that Starlette upstream alone answers "
            f"{results['upstream_starlette_rps8']:,.0f} req/s at 8 connections here, the fast one "
            f"{_med(results['results']['chat'].get('direct', {}), 'rps8') or 0:,.0f}; "
            "the cheaper the upstream, the more of the cores go to the target measured."
        )
    out += ["", "## Targets", "", "| target | version | runs as |", "|---|---|---|"]
    out += [f"| {t['label']} | {t['version'] or '-'} | {HOW.get(t['name'], '')} |" for t in results["targets"]]
    out += ["", "## Machine", "", "| | |", "|---|---|"]
    keys = ["cores", "cpu", "kernel", "python", "node", "switchyard", "uvicorn", "aiohttp", "litellm", "portkey", "wrk"]
    names = {"litellm": "LiteLLM (proxy)", "portkey": "Portkey gateway", "switchyard": "Switchyard"}
    out += [f"| {names.get(k, k)} | {m[k]} |" for k in keys if k in m]
    if results["notes"]:
        out += ["", "## Notes", ""] + [f"- {n}" for n in results["notes"]]
    out += ["", "## Headline: the small chat request", "", *headline(results)]
    for scenario, title in results["scenarios"].items():
        out += ["", f"## {title}", "", *scenario_table(results, scenario)]
        if scenario in ("codex", "chat_over_responses"):
            out += floor_note(results, scenario)
            out += ["", "Streams (aiohttp client, 1 connection):", "", *stream_table(results, scenario)]
    cap = f"; a target still going after {s['memory_cap_s']} s stops there"
    out += [
        "",
        f"## 4. Memory after {s['memory_requests']:,} mixed requests",
        "",
        f"8 connections, {s.get('memory_mix_chat', 8)} small chat requests for each one of each streamed scenario "
        f"(those a target can do){cap}. "
        "RSS of the target's whole process tree (workers included), before and after.",
        "",
        *memory_table(results),
    ]
    if results.get("plot"):
        out += ["", f"![added latency and throughput per target]({results['plot']})"]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    path = Path(sys.argv[1])
    sys.stdout.write(render(json.loads(path.read_text())))
