"""Write `make soak`'s measured figures into docs/reliability.md, between its two markers.

    python -m bench.soak_figures FIGURES.json DOC.md

The soak tests (tests/soak/) record what they measured into FIGURES.json (`load_kit.record`); this
renders it as the doc's figures section, so the doc states what a run on the machine measured, not
what someone remembered. A section a run did not produce is left out, and the run's date and
machine (cores) are stated.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

START = "<!-- soak-figures:start (written by `make soak`: bench/soak_figures.py) -->"
END = "<!-- soak-figures:end -->"


def render(figures: dict, when: str, cores: int) -> str:
    lines = [
        f"Measured by `make soak` on {when}, {cores} cores (shared), proxy and test client on the same machine.",
        "",
    ]
    if load := figures.get("load"):
        lines.append(
            f"- **Load:** {load['concurrency']} concurrent bridged streams (Responses client, Chat upstream) of "
            f"{load['chunks_per_stream']} deltas each, one after another for {load['seconds']} s: "
            f"{load['streams']:,} streams, every text checked end to end, {load['failures']} failed; "
            f"{load['events_per_second']:,} deltas/s. Proxy memory {load['rss_after_warmup_mb']} MB after a warm-up, "
            f"{load['rss_after_run_mb']} MB after the run (peak {load['rss_peak_mb']} MB); open files "
            f"{load['fds_after_warmup']} -> {load['fds_after_run']}."
        )
    if storm := figures.get("reload_storm"):
        lines.append(
            f"- **Reload storm:** {storm['signals']} SIGHUPs over {storm['signal_seconds']} s under {storm['streams']} "
            f"live streams (all ended {storm['seconds']} s after the first signal), valid and broken files "
            f"alternating: {storm['reloads_succeeded']} reloads succeeded, "
            f"{storm['reloads_failed']} refused; every stream kept one version end to end "
            f"({storm['versions_seen_by_streams']} versions among them); the last valid set runs afterwards; "
            f"open files {storm['fds_before']} -> {storm['fds_after']}, memory {storm['rss_before_mb']} -> "
            f"{storm['rss_after_mb']} MB."
        )
    if matrix := figures.get("fault_matrix"):
        lines.append(
            f"- **Fault matrix:** {matrix['faults']} faults x {matrix['directions']} directions, "
            f"{matrix['rounds']} rounds (a direction's faults at once): {matrix['calls']:,} calls, "
            f"{matrix['wrong']} with another outcome than the table's, in {matrix['seconds']} s; no traceback."
        )
    if body := figures.get("jmespath_body"):
        lines.append(
            f"- **Costly steps on a huge body:** three JMESPath filters and a sort over a {body['body_mb']} MB "
            f"body took {body['request_seconds']} s; meanwhile `/healthz` answered {body['healthz_probes']} times, "
            f"in {body['healthz_median_ms']} ms (median) and {body['healthz_max_ms']} ms at most."
        )
    return "\n".join(lines)


def rewrite(doc: str, section: str) -> str:
    if START not in doc or END not in doc:
        raise SystemExit(f"the doc has no markers ({START} ... {END})")
    head, rest = doc.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{section}\n{END}{tail}"


def main(argv: list[str]) -> int:
    figures_path, doc_path = Path(argv[0]), Path(argv[1])
    if not figures_path.exists():
        print(f"soak_figures: {figures_path} not found (did the soak tests run?)", file=sys.stderr)
        return 1
    figures = json.loads(figures_path.read_text())
    when = time.strftime("%Y-%m-%d", time.gmtime(figures_path.stat().st_mtime))
    doc_path.write_text(rewrite(doc_path.read_text(), render(figures, when, os.cpu_count() or 0)))
    print(f"soak_figures: {', '.join(sorted(figures))} written into {doc_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
