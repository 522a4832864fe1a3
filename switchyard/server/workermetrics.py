"""Metrics across the worker processes of `serve --workers N`: prometheus-client's multiprocess mode.

Each process writes its values to memory-mapped files of its own (named by pid) in a private folder
that the supervisor creates before any metric exists and removes on exit. A scrape reaches one
worker, which reads every process's files and combines them: counters and histograms are summed
(a worker that died keeps its counts, so totals never go back), `switchyard_active_streams` is
the sum over live workers, and the gauges that describe the rule set take the most recent value
(every process sets the same one). When a worker dies the supervisor marks it dead, which drops its
live gauges.

The design choice: the library's own mode rather than an exchange between processes, because the
files are written on the hot path without a lock shared between processes or a system call, and
a scrape needs no other process to answer. The same `Metrics` class serves both modes; only the
value class (chosen by `PROMETHEUS_MULTIPROC_DIR`) and `render` differ.
"""

from __future__ import annotations

import os

from prometheus_client import generate_latest, values
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from switchyard.server.metrics import Metrics

ENVIRONMENT = "PROMETHEUS_MULTIPROC_DIR"


def use_folder(folder: str) -> None:
    """Keep every metric created from now on (in this process and the ones it forks) in `folder`.

    prometheus-client picks its value class when first imported, from the environment; the choice
    is made again here so that it holds even if something imported the library earlier.
    """
    os.environ[ENVIRONMENT] = folder
    values.ValueClass = values.get_value_class()


def mark_dead(pid: int) -> None:
    """A worker exited: its live gauges (streams in flight) stop counting; its counters stay."""
    mark_process_dead(pid)


class SharedMetrics(Metrics):
    """`Metrics` whose `/metrics` answer is every worker's values combined, not this process's alone."""

    def render(self) -> bytes:
        combined = {family.name: family for family in MultiProcessCollector(None).collect()}
        # A metric no process has a sample of yet is still listed (its HELP and TYPE lines), as with
        # one process: every documented metric appears from the first scrape.
        return generate_latest(_Families([combined.get(f.name, f) for f in self.registry.collect()]))


class _Families:
    """What `generate_latest` asks of a registry: the metric families to write."""

    def __init__(self, families: list) -> None:
        self.families = families

    def collect(self) -> list:
        return self.families
