"""Cost of the rule engine against the budgets of the rule-engine issue: `.venv/bin/python bench/bench_engine.py`.

Five figures, each printed next to its budget:

- response steps (rename, drop, match-guarded set) applied to one streamed chat chunk, per chunk;
- the ten request steps of a pack applied to the 40 KB Codex request, per request, with the cost of
  the deep copy a caller would make measured separately (the steps run on copies made beforehand);
- loading and compiling a folder of 20 packs;
- a simple dotted expression (`reasoning.effort`), which the engine compiles to dict lookups, against
  the same expression evaluated by jmespath;
- a filter on the Codex request (`input[?role == 'developer']`), which the engine compiles to closures
  (`switchyard.language.compiler`), against the same expression evaluated by jmespath's interpreter.

Timing is plain `time.perf_counter`, best of a few rounds (the round least disturbed by the rest of the
machine). Nothing is asserted: this is a report, the budgets are there to read it against.
"""

from __future__ import annotations

import copy
import json
import os
import tempfile
from pathlib import Path

import jmespath

from switchyard.language import functions
from switchyard.language.expressions import compile_expression
from switchyard.packs import load as load_rules

try:
    from bench.kit import best_of, compile_text, judge
except ImportError:  # run as a script: bench/ itself is on sys.path
    from kit import best_of, compile_text, judge  # type: ignore[no-redef]


ROUNDS = 7
CHUNKS = 20_000
REQUESTS = 300
FOLDER_LOADS = 5
LOOKUPS = 200_000
FILTERS = 50_000

CODEX_REQUEST = Path(__file__).resolve().parents[1] / "tests/fixtures/codex-cli-0.169.0/turn1-request.json"

HEADER = """\
pack: {name}
match: "starts_with(model, '{name}')"
upstream: {{url: "${{BENCH_URL:-https://api.example.com/v1}}", protocol: chat, api_key: "${{BENCH_KEY:-}}"}}
"""

RESPONSE_STEPS = """\
response:
  - rename: {"choices[].delta.reasoning": reasoning_content}
  - drop: [system_fingerprint, "choices[].logprobs"]
  - match: "usage"
    set: {usage.source: upstream}
  - match: "choices[0].finish_reason == 'length'"
    set: {truncated: true}
"""

REQUEST_STEPS = """\
request:
  - drop: [client_metadata, prompt_cache_key, include, store]
  - rename: {max_output_tokens: max_tokens}
  - match: "reasoning.effort && reasoning.effort != 'none'"
    set: {enable_thinking: true}
  - drop: reasoning
  - match: "!stream"
    drop: stream_options
  - drop: "tools[?type != 'function']"
  - each: tools
    do: [{flatten: function}, {default: {strict: false}}]
  - each: input
    match: "role == 'developer'"
    do: [{set: {role: system}}]
  - compute: {model: "replace(model, 'chatgpt/', '')"}
  - match: "n > `1`"
    reject: "this model returns one choice only (n must be 1)"
"""

TESTS = """\
tests:
  - name: drops what the upstream rejects
    input: {model: m, prompt_cache_key: abc, stream: false, stream_options: {include_usage: true}}
    excludes: [prompt_cache_key, stream_options]
"""


def chat_chunk(i: int) -> dict:
    delta = {"reasoning": "Let me think"} if i % 3 == 0 else {"content": " the answer"}
    return {
        "id": "chatcmpl-9d8c7b6a5f4e3d2c1b0a",
        "object": "chat.completion.chunk",
        "created": 1718000000,
        "model": "qwen3-max",
        "system_fingerprint": "fp_0123456789",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}],
    }


def line(label: str, value: float, unit: str, budget: str = "") -> None:
    print(f"{label:<58} {value:>10.2f} {unit:<3} {budget} {judge(label, value, budget)}")


def bench_response_chunk() -> None:
    pack = compile_text(HEADER.format(name="chunk") + RESPONSE_STEPS)
    run = pack.run_response
    batches = [[chat_chunk(i) for i in range(CHUNKS)] for _ in range(ROUNDS)]
    it = iter(batches)

    def apply() -> None:
        for chunk in next(it):
            run(chunk)

    per_chunk = best_of(ROUNDS, apply) / CHUNKS
    line(f"(a) {len(pack.response)} response steps on one chat chunk", per_chunk * 1e6, "µs", "budget <= 10 µs")


def bench_codex_request() -> None:
    pack = compile_text(HEADER.format(name="qwen") + REQUEST_STEPS)
    with open(CODEX_REQUEST, encoding="utf-8") as f:
        original = json.load(f)
    size = os.path.getsize(CODEX_REQUEST)
    copies = [[copy.deepcopy(original) for _ in range(REQUESTS)] for _ in range(ROUNDS)]
    it = iter(copies)

    def apply() -> None:
        for body in next(it):
            pack.run_request(body)

    def deepcopy() -> None:
        for _ in range(REQUESTS):
            copy.deepcopy(original)

    per_request = best_of(ROUNDS, apply) / REQUESTS
    per_copy = best_of(ROUNDS, deepcopy) / REQUESTS
    label = f"(b) {len(pack.request)} request steps on the Codex request ({size // 1024} KB)"
    line(label, per_request * 1e3, "ms", "budget <= 1 ms")
    line("    the same request's copy.deepcopy (not in the figure above)", per_copy * 1e3, "ms")


def bench_folder_load() -> None:
    with tempfile.TemporaryDirectory() as folder:
        for i in range(20):
            steps = REQUEST_STEPS if i % 2 else RESPONSE_STEPS
            text = HEADER.format(name=f"pack-{i:02d}") + f"priority: {i % 3}\n" + steps + TESTS
            Path(folder, f"pack-{i:02d}.yaml").write_text(text, encoding="utf-8")
        load_rules(folder)  # warm: imports and first-use caches are not what the budget is about
        seconds = best_of(FOLDER_LOADS, lambda: load_rules(folder))
    line("(c) loading and compiling a folder of 20 packs", seconds * 1e3, "ms", "budget < 200 ms")


def bench_lookup() -> None:
    body = {"model": "gpt-5", "reasoning": {"effort": "high", "summary": "auto"}}
    fast = compile_expression("reasoning.effort").evaluate
    parsed = jmespath.compile("reasoning.effort")
    assert fast(body) == parsed.search(body) == "high"

    def dotted() -> None:
        for _ in range(LOOKUPS):
            fast(body)

    def search() -> None:
        for _ in range(LOOKUPS):
            parsed.search(body)

    def engine_search() -> None:  # what a non-simple expression costs in the engine: one reused interpreter
        for _ in range(LOOKUPS):
            functions.search(parsed, body)

    a = best_of(ROUNDS, dotted) / LOOKUPS
    b = best_of(ROUNDS, search) / LOOKUPS
    c = best_of(ROUNDS, engine_search) / LOOKUPS
    line("(d) dotted lookup `reasoning.effort`", a * 1e9, "ns")
    line("    jmespath `compiled.search` of the same expression", b * 1e9, "ns", f"ratio {b / a:.0f}x")
    line("    switchyard.language.functions.search (reused interpreter)", c * 1e9, "ns", f"ratio {c / a:.0f}x")


def bench_filter() -> None:
    with open(CODEX_REQUEST, encoding="utf-8") as f:
        body = json.load(f)
    source = "input[?role == 'developer']"
    compiled = compile_expression(source).evaluate
    parsed = functions.compile(source)
    assert compiled(body) == functions.search(parsed, body) and len(compiled(body)) == 2

    def closures() -> None:
        for _ in range(FILTERS):
            compiled(body)

    def interpreter() -> None:
        for _ in range(FILTERS):
            functions.search(parsed, body)

    a = best_of(ROUNDS, closures) / FILTERS
    b = best_of(ROUNDS, interpreter) / FILTERS
    items = len(body["input"])
    line(f"(e) compiled filter `{source}` ({items} items)", a * 1e9, "ns")
    line("    the same filter in jmespath's interpreter (functions.search)", b * 1e9, "ns", f"ratio {b / a:.1f}x")


def main() -> None:
    bench_response_chunk()
    bench_codex_request()
    bench_folder_load()
    bench_lookup()
    bench_filter()


if __name__ == "__main__":
    main()
