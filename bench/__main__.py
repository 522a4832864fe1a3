"""`python -m bench` (or `make bench-budgets`): every benchmark, each printing its figures next to its budget.

Each module is also runnable on its own; the server benchmark starts processes and takes longest.
Pass --quick for shorter runs. Exits 1, listing them, when any budget was missed.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = [
    "bench_engine",
    "bench_sse",
    "bench_responses_over_chat",
    "bench_chat_over_responses",
    "bench_messages",
    "bench_gemini",
    "bench_chat_over_gemini",
    "bench_server",
    "bench_traces",
    "bench_otel",
    "bench_pool",
]

for name in ORDER:
    if not (HERE / f"{name}.py").exists():
        continue
    print(f"\n== {name}", flush=True)
    saved = sys.argv[:]
    try:
        runpy.run_module(f"bench.{name}", run_name="__main__")
    finally:
        sys.argv = saved

from bench.kit import MISSED  # noqa: E402 - the list the benchmarks above filled

if MISSED:
    print("\nbudgets missed:\n  " + "\n  ".join(MISSED), file=sys.stderr)
    sys.exit(1)
print("\nevery budget met")
