"""Cost of the Responses-over-Chat bridge against issue 4's budgets.

Run: `.venv/bin/python bench/bench_responses_over_chat.py`.

Figures, each printed next to its budget:

(a) translating Codex CLI's 40 KB turn-1 request for a Chat provider through the server's request path
    (`switchyard.pipeline`: `to_chat` and the request steps of the shipped `rules/qwen.yaml`, 13 steps,
    so more than the 10 the budget names), per request (budget: at most 2 ms). The body is parsed from
    its bytes each time, as the server does (the parse is shown on its own line and is not in the
    figure); the other shipped packs are shown for comparison.
(b) a bridged stream: Chat chunks in, Responses events out, through the server's response path
    (`switchyard.pipeline.Stream`) per upstream event: `orjson.loads` of the event's data, the pack's
    response steps, `ResponsesStream.feed`, and the encoding of every Responses event it gives, in
    upstream chunks per second through one worker (budget: at least 15,000/s). The stream mixes reasoning,
    text and a tool call split in many
    argument deltas; the client body is the Codex request, as in production. The shipped packs have no
    response steps, so the figure is also given with a synthetic three-step `response` list.

Timing is plain `time.perf_counter`, best of a few rounds (the round least disturbed by the rest of the
machine). Nothing is asserted: this is a report, the budgets are there to read it against.
"""

from __future__ import annotations

import sys
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent

from switchyard.language.pack import Pack  # noqa: E402
from switchyard.packs import load as load_rules  # noqa: E402
from switchyard.pipeline import Pipeline  # noqa: E402
from switchyard.protocols.sse import Event  # noqa: E402

try:
    from bench.kit import best_of, chat_stream, compile_text, judge
except ImportError:  # run as a script: bench/ itself is on sys.path
    from kit import best_of, chat_stream, compile_text, judge  # type: ignore[no-redef]


ROUNDS = 7
REQUESTS = 200  # translations per round for (a)
STREAMS = 10  # streams per round for (b)
CODEX_REQUEST = ROOT / "tests" / "fixtures" / "codex-cli-0.169.0" / "turn1-request.json"
PACKS = ("qwen", "deepseek", "kimi", "glm", "minimax", "openai-compatible")

SYNTHETIC_RESPONSE_STEPS = """\
pack: synthetic
match: "`true`"
upstream: {url: "https://api.example.com/v1", protocol: chat}
response:
  - rename: {"choices[].delta.reasoning": reasoning_content}
  - drop: [system_fingerprint, "choices[].logprobs"]
  - each: choices
    match: "finish_reason == 'sensitive'"
    do: [{set: {finish_reason: content_filter}}]
"""


def line(label: str, value: float, unit: str, budget: str = "") -> None:
    print(f"{label:<66} {value:>10.2f} {unit:<8} {budget} {judge(label, value, budget)}")


def shipped(name: str) -> Pack:
    return load_rules(str(ROOT / "rules" / f"{name}.yaml")).packs[0]


# -- (a) the request


def bench_request() -> None:
    raw = CODEX_REQUEST.read_bytes()
    parse = best_of(ROUNDS, lambda: [orjson.loads(raw) for _ in range(REQUESTS)]) / REQUESTS
    for name in PACKS:
        pack = shipped(name)
        bodies = [[orjson.loads(raw) for _ in range(REQUESTS)] for _ in range(ROUNDS)]
        it = iter(bodies)

        pipeline = Pipeline(pack, "responses")

        def translate(pipeline: Pipeline = pipeline, it=it) -> None:
            for body in next(it):
                pipeline.request(body)

        per_request = best_of(ROUNDS, translate) / REQUESTS
        label = f"(a) to_chat + {name} request steps ({len(pack.request)}) on Codex turn 1 ({len(raw) // 1024} KB)"
        line(
            label if name == "qwen" else f"    ... with {name} ({len(pack.request)} steps)",
            per_request * 1e3,
            "ms",
            "budget <= 2 ms" if name == "qwen" else "",
        )
    line("    orjson.loads of the request's bytes (not in the figures above)", parse * 1e3, "ms")


# -- (b) the stream


def bench_stream(pack: Pack, label: str, budget: str) -> None:
    client_body = orjson.loads(CODEX_REQUEST.read_bytes())
    events = chat_stream("exec_command")
    pipeline = Pipeline(pack, "responses")
    decoded = [Event(data.decode()) for data in events]

    def bridge() -> None:
        for _ in range(STREAMS):
            stream = pipeline.stream(client_body)
            out: list[bytes] = []
            for event in decoded:
                out.append(stream.encode(stream.feed([event])))
            out.append(stream.encode(stream.close()))

    seconds = best_of(ROUNDS, bridge)
    line(label.format(n=len(events)), STREAMS * len(events) / seconds, "chunks/s", budget)


def main() -> None:
    print(f"python {sys.version.split()[0]}; best of {ROUNDS} rounds")
    bench_request()
    bench_stream(shipped("qwen"), "(b) bridged stream, qwen pack ({n} chunks/stream)", "budget >= 15,000/s")
    synthetic = compile_text(SYNTHETIC_RESPONSE_STEPS)
    bench_stream(synthetic, "    ... with 3 synthetic response steps", "budget >= 15,000/s")


if __name__ == "__main__":
    main()
