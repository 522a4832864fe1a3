"""Timing for the benchmarks: the best of a few runs, the figure least disturbed by the rest of the machine.

On a shared 2-core machine the slowest runs measure the neighbours; the fastest measures the code.
Budgets are compared with these figures, and ratios between two pieces of code are taken from
figures measured in the same run.
"""

from __future__ import annotations

import time
from collections.abc import Callable


def best_of(rounds: int, run: Callable[[], object]) -> float:
    """Seconds taken by the fastest of `rounds` calls of `run`."""
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best
