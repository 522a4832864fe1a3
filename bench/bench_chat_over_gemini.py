"""Cost of the Chat-over-Gemini bridge (Gemini upstreams) against issue 24's stream budget.

Run: `.venv/bin/python bench/bench_chat_over_gemini.py`.

Figures, each printed next to its budget:

(a) a bridged stream, Gemini chunks in, Chat chunks out, through the server's response path
    (`switchyard.pipeline.Stream`) with the shipped `rules/gemini.yaml`: `orjson.loads` of each upstream
    event, the pack's response steps, `ChatStream.feed` and the encoding of every chunk it gives, in
    upstream events per second through one worker (budget: at least 15,000/s). The stream is what a
    Gemini 3 answer to an agent looks like: thought summaries, text word by word, two whole function
    calls (the first signed) and usage on every chunk.
(b) the same stream read by a Responses client (Codex), composed through Chat, and (c) by a Messages
    client (Claude Code): the two composed directions, for comparison.
(d) the Codex turn-2 request (Responses) translated for Gemini, bridge and pack steps, per request.

Best of a few rounds (`bench.kit.best_of`). Nothing is asserted: this is a report.
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
    from bench.kit import best_of, judge
except ImportError:  # run as a script: bench/ itself is on sys.path
    from kit import best_of, judge  # type: ignore[no-redef]

ROUNDS = 7
STREAMS = 10
REQUESTS = 200
MODEL = "gemini-3.1-pro-preview"
CODEX_TURN2 = ROOT / "tests" / "fixtures" / "codex-cli-0.169.0" / "turn2-request.json"


def line(label: str, value: float, unit: str, budget: str = "") -> None:
    print(f"{label:<70} {value:>12,.1f} {unit:<9} {budget} {judge(label, value, budget)}")


def shipped(name: str) -> Pack:
    return load_rules(str(ROOT / "rules" / f"{name}.yaml"), placeholders=True).packs[0]


def gemini_stream() -> list[bytes]:
    """About 1,000 chunks: 200 thought pieces, 800 words of text, two calls (the first signed), usage on each."""

    def chunk(parts: list[dict], n: int, finish: str | None = None) -> bytes:
        candidate: dict = {"content": {"role": "model", "parts": parts}, "index": 0}
        if finish:
            candidate["finishReason"] = finish
        usage = {"promptTokenCount": 9000, "candidatesTokenCount": n, "thoughtsTokenCount": 200,
                 "totalTokenCount": 9200 + n}  # fmt: skip
        return orjson.dumps({"candidates": [candidate], "usageMetadata": usage, "modelVersion": MODEL,
                             "responseId": "resp-bench"})  # fmt: skip

    chunks = [chunk([{"text": f"**Step {i}** thinking ", "thought": True}], 0) for i in range(200)]
    chunks += [chunk([{"text": f" word{i}"}], i) for i in range(800)]
    calls = [{"functionCall": {"name": "exec_command", "args": {"cmd": "ls -la", "workdir": "/tmp"}},
              "thoughtSignature": "CiQBcsjafH" * 20},
             {"functionCall": {"name": "exec_command", "args": {"cmd": "pwd"}}}]  # fmt: skip
    chunks.append(chunk(calls, 800, "STOP"))
    return chunks


def bench_stream(pipeline: Pipeline, client_body: dict, decoded: list[Event], label: str, budget: str = "") -> None:
    out_events = 0

    def run() -> None:
        nonlocal out_events
        for _ in range(STREAMS):
            stream = pipeline.stream(client_body)
            for event in decoded:
                stream.encode(stream.feed([event]))
            stream.encode(stream.close())
            out_events = stream.events_out

    seconds = best_of(ROUNDS, run)
    line(label.format(n=len(decoded)), STREAMS * len(decoded) / seconds, "events/s", budget)
    line(f"    ... client events written ({out_events}/stream)", STREAMS * out_events / seconds, "events/s")


def bench_request(pack: Pack) -> None:
    body = orjson.loads(CODEX_TURN2.read_bytes())
    body["model"] = MODEL
    raw = orjson.dumps(body)
    pipeline = Pipeline(pack, "responses")
    bodies = [[orjson.loads(raw) for _ in range(REQUESTS)] for _ in range(ROUNDS)]
    it = iter(bodies)
    seconds = best_of(ROUNDS, lambda: [pipeline.request(b) for b in next(it)]) / REQUESTS
    line(f"(d) Codex turn 2 ({len(raw) // 1024} KB) -> Gemini request, bridges and steps", seconds * 1e3, "ms")


def main() -> None:
    print(f"python {sys.version.split()[0]}; best of {ROUNDS} rounds")
    pack = shipped("gemini")
    decoded = [Event(data.decode()) for data in gemini_stream()]
    chat_client = {"model": MODEL, "stream": True, "stream_options": {"include_usage": True}, "messages": []}
    bench_stream(Pipeline(pack, "chat"), chat_client, decoded,
                 "(a) Gemini -> Chat stream, gemini pack ({n} chunks in)", "budget >= 15,000/s")  # fmt: skip
    responses_client = {"model": MODEL, "stream": True, "input": "hi"}
    bench_stream(Pipeline(pack, "responses"), responses_client, decoded,
                 "(b) Gemini -> Chat -> Responses stream ({n} chunks in)")  # fmt: skip
    messages_client = {
        "model": MODEL,
        "stream": True,
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "hi"}],
    }
    bench_stream(Pipeline(pack, "messages"), messages_client, decoded,
                 "(c) Gemini -> Chat -> Messages stream ({n} chunks in)")  # fmt: skip
    bench_request(pack)


if __name__ == "__main__":
    main()
