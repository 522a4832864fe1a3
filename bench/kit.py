"""What the benchmarks share: timing (the best of a few runs) and compiling a pack from text.

Timing takes the best of a few runs, the figure least disturbed by the rest of the machine: on a
shared 2-core machine the slowest runs measure the neighbours; the fastest measures the code.
Budgets are compared with these figures, and ratios between two pieces of code are taken from
figures measured in the same run.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import orjson

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


# Budgets missed in this process, by label: `python -m bench` (`make bench-budgets`) exits 1 when any is.
MISSED: list[str] = []
_BUDGET = re.compile(r"(<=|>=|<|>)\s*([\d,.]+)")


def judge(label: str, value: float, budget: str) -> str:
    """`ok` or `MISSED` for a figure against a budget written as text (`<= 10 µs`, `>= 15,000/s`),
    in the unit the figure is printed in; a missed one is remembered for the exit code."""
    found = _BUDGET.search(budget)
    if not found:
        return ""
    op, limit = found.group(1), float(found.group(2).replace(",", ""))
    ok = {"<=": value <= limit, ">=": value >= limit, "<": value < limit, ">": value > limit}[op]
    if not ok:
        MISSED.append(f"{label.strip()}: {value:,.2f} against {budget.strip()}")
    return "ok" if ok else "MISSED"


def record(label: str, ok: bool, budget: str = "") -> None:
    """A budget judged by the benchmark itself (a ratio, a growth)."""
    if not ok:
        MISSED.append(f"{label.strip()} against {budget.strip()}")


def compile_text(text: str) -> Pack:
    """A pack from YAML text; a benchmark's own pack must load, so a problem stops it."""
    doc, problems = load_text(text, "bench.yaml")
    assert doc is not None and not problems, problems
    pack, problems = compile_pack(doc)
    assert pack is not None, [str(p) for p in problems]
    return pack


def chat_chunk(delta: dict, finish_reason: str | None = None) -> dict:
    return {
        "id": "chatcmpl-9d8c7b6a5f4e3d2c1b0a",
        "object": "chat.completion.chunk",
        "created": 1718000000,
        "model": "qwen3-coder-plus",
        "system_fingerprint": "fp_0123456789",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
    }


def chat_stream(tool: str) -> list[bytes]:
    """The `data` of each event of one Chat stream: reasoning, text, one call of `tool` in pieces, usage.

    The upstream stream of every bridge benchmark from Chat, so their figures compare the same input.
    """
    chunks = [chat_chunk({"role": "assistant", "content": ""})]
    chunks += [chat_chunk({"reasoning_content": f"step {i} of the plan, "}) for i in range(200)]
    chunks += [chat_chunk({"content": f" word{i}"}) for i in range(600)]
    head = {"index": 0, "id": "call_1", "type": "function", "function": {"name": tool, "arguments": ""}}
    chunks.append(chat_chunk({"tool_calls": [head]}))
    chunks += [chat_chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"ls -la" '}}]}) for _ in range(197)]
    chunks.append(chat_chunk({}, "tool_calls"))
    usage = {"prompt_tokens": 9000, "completion_tokens": 1000, "total_tokens": 10000}
    chunks.append(
        {"id": "chatcmpl-9d8c7b6a5f4e3d2c1b0a", "object": "chat.completion.chunk", "choices": [], "usage": usage}
    )
    return [orjson.dumps(c) for c in chunks]
