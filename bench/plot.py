"""The side-by-side benchmark's picture: added latency percentiles and throughput per target.

    .bench/plot/bin/python bench/plot.py bench/results/latest.json bench/results/latest.png

Runs under a Python that has matplotlib (the Makefile makes one in .bench/plot, a throw-away folder),
not the project's: matplotlib is no dependency of Switchyard. It reads only the results JSON.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def median(row: dict, key: str) -> float:
    return row[key]["median"] if key in row else 0.0


def main(source: str, target: str) -> None:
    results = json.loads(Path(source).read_text())
    names = [t["name"] for t in results["targets"]]
    labels = [t["label"].replace(" (", "\n(").replace(", ", "\n") for t in results["targets"]]
    chat = results["results"]["chat"]
    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(18, 6.2))

    proxies = [i for i, n in enumerate(names) if n != "direct" and "na" not in chat.get(n, {})]
    width = 0.27
    for k, p in enumerate(("p50", "p90", "p99")):
        values = [max(median(chat[names[i]], f"added_{p}"), 0.001) for i in proxies]
        left.bar([x + (k - 1) * width for x in range(len(proxies))], values, width, label=p)
    left.set_xticks(range(len(proxies)), [labels[i] for i in proxies], fontsize=8)
    left.set_yscale("log")
    left.set_ylabel("ms added to direct (log scale)")
    left.set_title("Small chat request: added latency, 1 connection")
    left.legend()

    present = [i for i, n in enumerate(names) if "na" not in chat.get(n, {})]
    for k, c in enumerate((8, 64)):
        values = [max(median(chat[names[i]], f"rps{c}"), 1) for i in present]
        middle.bar([x + (k - 0.5) * 0.4 for x in range(len(present))], values, 0.4, label=f"{c} connections")
    middle.set_xticks(range(len(present)), [labels[i] for i in present], fontsize=7)
    middle.set_yscale("log")
    middle.set_ylabel("requests/s (log scale)")
    middle.set_title("Small chat request: throughput")
    middle.legend()

    scenarios = list(results["scenarios"])
    width = 0.8 / max(len(names), 1)
    for k, name in enumerate(names):
        values = [median(results["results"][s].get(name, {}), "rps8") for s in scenarios]
        xs = [x + (k - (len(names) - 1) / 2) * width for x in range(len(scenarios))]
        shown = [(x, v) for x, v in zip(xs, values, strict=True) if v > 0]  # n/a: no bar
        label = labels[k].replace("\n", " ")
        right.bar([x for x, _ in shown], [v for _, v in shown], width, label=label, color=f"C{k}")
    ticks = ["1. small chat", "2. Codex turn 1,\nResponses -> Chat", "3. chat client,\nResponses upstream"]
    right.set_xticks(range(len(scenarios)), ticks)
    right.set_yscale("log")
    right.set_ylabel("requests/s at 8 connections (log scale)")
    right.set_title("Throughput per scenario (no bar: n/a, or no answer in time)")
    right.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=3)

    quick = " (quick mode: a smoke run)" if results.get("quick") else ""
    fig.suptitle(f"{results['command']}, {results['generated']}, {results['machine']['cores']} cores{quick}")
    fig.tight_layout()
    fig.savefig(target, dpi=90)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
