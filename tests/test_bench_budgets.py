"""bench/kit.py: a benchmark figure is judged against its budget, and a miss makes `make bench` exit 1."""

from __future__ import annotations

import subprocess
import sys

import golden_files

CHECK = """
from bench.kit import MISSED, judge, record
assert judge("a", 9.5, "budget <= 10 µs") == "ok"
assert judge("b", 12.0, "budget <= 10 µs") == "MISSED"
assert judge("c", 16000.0, "budget >= 15,000/s") == "ok"
assert judge("d", 88.0, "budget < 200 ms") == "ok"
assert judge("e", 1.0, "") == ""
record("f", True, ">= 80%")
record("g", False, ">= 80%")
assert MISSED == ["b: 12.00 against budget <= 10 µs", "g against >= 80%"], MISSED
"""


def test_budgets_are_judged_and_misses_remembered_for_the_exit_code() -> None:
    result = subprocess.run([sys.executable, "-c", CHECK], cwd=golden_files.ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
