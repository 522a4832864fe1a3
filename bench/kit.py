"""What the benchmarks share: timing (the best of a few runs) and compiling a pack from text.

Timing takes the best of a few runs, the figure least disturbed by the rest of the machine: on a
shared 2-core machine the slowest runs measure the neighbours; the fastest measures the code.
Budgets are compared with these figures, and ratios between two pieces of code are taken from
figures measured in the same run.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from switchyard.language.loader import load_text
from switchyard.language.pack import Pack, compile_pack


def best_of(rounds: int, run: Callable[[], object]) -> float:
    """Seconds taken by the fastest of `rounds` calls of `run`."""
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def compile_text(text: str) -> Pack:
    """A pack from YAML text; a benchmark's own pack must load, so a problem stops it."""
    doc, problems = load_text(text, "bench.yaml")
    assert doc is not None and not problems, problems
    pack, problems = compile_pack(doc)
    assert pack is not None, [str(p) for p in problems]
    return pack
