"""Cost of the Gemini bridge against issue 24's budgets.

Run: `.venv/bin/python bench/bench_gemini.py`.

Figures, each printed next to its budget:

(a) translating Gemini CLI 0.61.0's turn-1 request (53 KB: 15 tools, its system instruction) for a
    Chat provider: `to_chat` alone (budget: at most 1 ms), and the server's whole request path
    (`switchyard.pipeline`: the bridge and the shipped `rules/qwen.yaml` request steps). The body is
    parsed from its bytes each time, with the facts of its path set, as the server does; the parse is
    shown on its own line and is not in the figures.
(b) a bridged stream, Chat chunks in, Gemini chunks out, through the server's response path
    (`switchyard.pipeline.Stream`): `orjson.loads` of each upstream event, the pack's response steps,
    `GeminiStream.feed`, and the SSE framing of every chunk it gives, in upstream chunks per second
    through one worker (budget: at least 15,000/s). The stream is the one every bridge benchmark reads
    (`kit.chat_stream`: reasoning, text, a tool call in many argument pieces); the client body is
    Gemini CLI's, which asks for thoughts.
(c) the same stream written as the JSON array (`:streamGenerateContent` without `alt=sse`), and (d) a
    same-protocol Gemini stream (the identity translator), for comparison.

Best of a few rounds (`bench.kit.best_of`). Nothing is asserted: this is a report.
"""

from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import urlencode

import orjson

ROOT = Path(__file__).resolve().parent.parent

from switchyard.bridges.gemini_over_chat.request import to_chat  # noqa: E402
from switchyard.language.pack import Pack  # noqa: E402
from switchyard.packs import load as load_rules  # noqa: E402
from switchyard.pipeline import Pipeline  # noqa: E402
from switchyard.protocols.gemini.routes import read_route  # noqa: E402
from switchyard.protocols.sse import Event  # noqa: E402

try:
    from bench.kit import best_of, chat_stream, compile_text, judge
except ImportError:  # run as a script: bench/ itself is on sys.path
    from kit import best_of, chat_stream, compile_text, judge  # type: ignore[no-redef]

ROUNDS = 7
REQUESTS = 200
STREAMS = 10
GEMINI_CLI_REQUEST = ROOT / "tests" / "fixtures" / "gemini-cli-0.61.0" / "turn1-request.json"
GEMINI_PACK = """\
pack: gemini
match: "`true`"
upstream: {url: "https://generativelanguage.googleapis.com/v1beta", protocol: gemini}
"""


def line(label: str, value: float, unit: str, budget: str = "") -> None:
    print(f"{label:<70} {value:>10.3f} {unit:<9} {budget} {judge(label, value, budget)}")


def shipped(name: str) -> Pack:
    return load_rules(str(ROOT / "rules" / f"{name}.yaml")).packs[0]


def gemini_cli_request() -> tuple[bytes, dict]:
    """The captured body's bytes, and the facts its path stands for (the model set to one the qwen pack serves)."""
    capture = orjson.loads(GEMINI_CLI_REQUEST.read_bytes())
    facts = read_route(capture["path"], urlencode(capture["query"])).facts
    return orjson.dumps(capture["body"]), {**facts, "model": "qwen3-coder-plus"}


def parsed(raw: bytes, facts: dict) -> dict:
    body = orjson.loads(raw)
    body.update({k: v for k, v in facts.items() if v is not None})
    return body


# -- (a) the request


def bench_request() -> None:
    raw, facts = gemini_cli_request()
    parse = best_of(ROUNDS, lambda: [parsed(raw, facts) for _ in range(REQUESTS)]) / REQUESTS
    bodies = [[parsed(raw, facts) for _ in range(REQUESTS)] for _ in range(ROUNDS)]
    it = iter(bodies)
    alone = best_of(ROUNDS, lambda: [to_chat(body) for body in next(it)]) / REQUESTS
    line(f"(a) to_chat on Gemini CLI turn 1 ({len(raw) // 1024} KB)", alone * 1e3, "ms", "budget <= 1 ms")
    pack = shipped("qwen")
    pipeline = Pipeline(pack, "gemini")
    bodies = [[parsed(raw, facts) for _ in range(REQUESTS)] for _ in range(ROUNDS)]
    it = iter(bodies)
    whole = best_of(ROUNDS, lambda: [pipeline.request(body) for body in next(it)]) / REQUESTS
    line(f"    ... the whole request path, with the qwen pack ({len(pack.request)} steps)", whole * 1e3, "ms")
    line("    orjson.loads of the request's bytes (not in the figures above)", parse * 1e3, "ms")


# -- (b) to (d): streams


def gemini_stream() -> list[bytes]:
    """A Gemini stream of the same size as `kit.chat_stream`: thoughts, text, a call, the last chunk."""

    def chunk(parts: list, **extra) -> bytes:
        candidate = {"content": {"role": "model", "parts": parts}, "index": 0, **extra}
        return orjson.dumps({"candidates": [candidate], "modelVersion": "gemini-2.5-pro", "responseId": "r1"})

    chunks = [chunk([{"text": f"step {i} of the plan, ", "thought": True}]) for i in range(200)]
    chunks += [chunk([{"text": f" word{i}"}]) for i in range(798)]
    chunks.append(chunk([{"functionCall": {"name": "run_shell_command", "args": {"command": "ls -la"}},
                          "thoughtSignature": "c2ln"}]))  # fmt: skip
    candidate = {"content": {"role": "model", "parts": [{"text": ""}]}, "finishReason": "STOP", "index": 0}
    usage = {"promptTokenCount": 9000, "candidatesTokenCount": 1000, "totalTokenCount": 10000}
    last = {"candidates": [candidate], "usageMetadata": usage}
    return [*chunks, orjson.dumps(last)]


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


def main() -> None:
    print(f"python {sys.version.split()[0]}; best of {ROUNDS} rounds")
    bench_request()
    raw, facts = gemini_cli_request()
    client = parsed(raw, facts)
    chat = [Event(data.decode()) for data in chat_stream("run_shell_command")]
    qwen = Pipeline(shipped("qwen"), "gemini")
    bench_stream(qwen, client, chat, "(b) Chat -> Gemini stream, SSE, qwen pack ({n} chunks in)", "budget >= 15,000/s")
    array_client = {k: v for k, v in client.items() if k != "alt"}
    bench_stream(qwen, array_client, chat, "(c) Chat -> Gemini stream, JSON array, qwen pack ({n} chunks in)",
                 "budget >= 15,000/s")  # fmt: skip
    gemini = [Event(data.decode()) for data in gemini_stream()]
    bench_stream(Pipeline(compile_text(GEMINI_PACK), "gemini"), client, gemini,
                 "(d) Gemini -> Gemini, identity ({n} chunks in)")  # fmt: skip


if __name__ == "__main__":
    main()
