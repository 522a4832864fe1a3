"""Every metric the server exports is in docs/server.md's metrics table, with its labels: the page
on-call engineers read is the list of what they can graph and alert on."""

from __future__ import annotations

import re

import golden_files
from prometheus_client import Counter, Gauge, Histogram

from switchyard.server.metrics import Metrics


def documented() -> dict[str, set[str]]:
    """Metric name -> the label names its row of the table lists."""
    text = (golden_files.ROOT / "docs" / "server.md").read_text(encoding="utf-8")
    section = text.split("\n## Metrics\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        if line.startswith("| `"):
            names_cell, labels_cell = line.strip("|").split("|")[:2]
            labels = {word for word in re.sub(r"\(.*?\)", "", labels_cell).replace(",", " ").split()}
            for name in re.findall(r"`(switchyard_\w+)`", names_cell):
                rows[name] = labels
    return rows


def exported() -> dict[str, set[str]]:
    metrics = [m for m in vars(Metrics()).values() if isinstance(m, Counter | Gauge | Histogram)]
    assert len(metrics) >= 15
    return {m._name + ("_total" if isinstance(m, Counter) else ""): set(m._labelnames) for m in metrics}


def test_every_exported_metric_is_in_the_table_with_its_labels_and_nothing_else_is() -> None:
    assert documented() == exported()
