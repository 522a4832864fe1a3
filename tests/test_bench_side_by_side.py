"""bench/side_by_side.py runs end to end in quick mode and writes a well-formed report (no figure is judged).

It starts real processes (the fake upstream, the bare pass-through, `switchyard serve`) and drives them
with wrk for about a minute, so it is marked `bench`: `make bench` runs it before the benchmark itself,
and `make test` leaves it out (`pytest -m bench` runs it alone).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import golden_files
import pytest

pytestmark = [
    pytest.mark.bench,
    pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (make bench installs it)"),
]

TARGETS = ("direct", "bare", "switchyard")


def tables(markdown: str, heading: str) -> list[list[list[str]]]:
    """The tables under `heading` (up to the next heading), each as the cells of its rows."""
    section = markdown.split(f"## {heading}", 1)[1].split("\n## ", 1)[0]
    found: list[list[list[str]]] = []
    previous = ""
    for line in section.splitlines():
        if line.startswith("|"):
            if not previous.startswith("|"):
                found.append([])
            found[-1].append([cell.strip() for cell in line.strip("|").split("|")])
        previous = line
    return found


def test_a_quick_run_against_direct_bare_and_switchyard_writes_every_table(tmp_path) -> None:
    env = {**os.environ, "BENCH_QUICK": "1"}
    cmd = [sys.executable, "-m", "bench.side_by_side", "--targets", ",".join(TARGETS), "--out", str(tmp_path)]
    run = subprocess.run(cmd, cwd=golden_files.ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr

    results = json.loads((tmp_path / "latest.json").read_text())
    assert results["quick"] is True
    names = [t["name"] for t in results["targets"]]
    # naming `switchyard` also runs its N-worker variant (`switchyard-2`), as this build has `--workers`
    assert names == [*TARGETS, "switchyard-2"]
    assert not [n for n in results["notes"] if "failed its check" in n], results["notes"]
    for scenario in ("chat", "codex", "chat_over_responses"):
        for name in TARGETS:
            row = results["results"][scenario][name]
            assert row["rps8"]["median"] > 0 and row["rps64"]["median"] > 0, (scenario, name, row)
            assert row["p50"]["median"] > 0, (scenario, name, row)
            assert row.get("errors", 0) == 0, (scenario, name, row)
        assert results["results"][scenario]["switchyard"]["ratio8"]["median"] > 0
    for scenario in ("codex", "chat_over_responses"):
        for name in TARGETS:
            assert results["results"][scenario][name]["events"]["median"] >= 200, (scenario, name)
    for scenario in ("chat", "codex", "chat_over_responses"):
        for name in ("bare", "switchyard"):  # CPU per request, the target's own (direct has no process of its own)
            assert results["results"][scenario][name]["cpu8"]["median"] > 0, (scenario, name)
    for scenario in ("codex", "chat_over_responses"):
        assert results["floor"][scenario] > 0  # the JSON floor of a bridged scenario, in µs
    for name in ("bare", "switchyard"):
        assert results["memory"][name]["requests"] >= 300 and results["memory"][name]["rss_after_mb"] > 10

    report = (tmp_path / "latest.md").read_text()
    assert "quick mode" in report
    headings = ["Machine", "Headline: the small chat request", *results["scenarios"].values(), "4. Memory"]
    for heading in headings:
        found = tables(report, heading)
        expected = 2 if heading in [results["scenarios"][k] for k in ("codex", "chat_over_responses")] else 1
        assert len(found) == expected, heading  # the streamed scenarios have a second table, of stream figures
        for rows in found:
            assert len(rows) >= 3, heading  # the header, the rule, at least one target
            assert len({len(r) for r in rows}) == 1, f"{heading}: rows of unequal width {rows}"
    [headline] = tables(report, "Headline: the small chat request")
    assert [r[0] for r in headline[2:]] == [
        "bare pass-through (Starlette + aiohttp)",
        "Switchyard, 1 worker",
        "Switchyard, 2 workers",
    ]
    assert headline[2][2] == "100%"  # bare against itself
    assert report.count("can reach at best") == 2  # the floor, under each bridged scenario
