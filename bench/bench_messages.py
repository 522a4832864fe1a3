"""Cost of the Anthropic Messages bridges against issue 10's budgets.

Run: `.venv/bin/python bench/bench_messages.py`.

Figures, each printed next to its budget:

(a) translating Claude Code 2.1.197's turn-1 request (115 KB: 24 tools, a 26 KB system prompt) for a
    Chat provider: `to_chat` alone (budget: at most 1 ms), and the server's whole request path
    (`switchyard.pipeline`: the bridge and the shipped `rules/qwen.yaml` request steps). The body is
    parsed from its bytes each time, as the server does; the parse is shown on its own line and is not
    in the figures.
(b) a bridged stream, Chat chunks in, Anthropic events out, through the server's response path
    (`switchyard.pipeline.Stream`): `orjson.loads` of each upstream event, the pack's response steps,
    `MessagesStream.feed`, and the framing of every event it gives (`event:` + `data:`), in upstream
    chunks per second through one worker (budget: at least 15,000/s). The stream mixes reasoning, text
    and a tool call in many argument pieces; the client body is the Claude Code request.
(c) the other direction, Anthropic events in, Chat chunks out (`chat_over_messages`), and (d) the
    same-protocol Messages stream (the identity translator), for comparison.

Best of a few rounds (`bench.kit.best_of`). Nothing is asserted: this is a report.
"""

from __future__ import annotations

import sys
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent

from switchyard.bridges.messages_over_chat.request import to_chat  # noqa: E402
from switchyard.language.pack import Pack  # noqa: E402
from switchyard.packs import load as load_rules  # noqa: E402
from switchyard.pipeline import Pipeline  # noqa: E402
from switchyard.protocols.sse import Event  # noqa: E402

try:
    from bench.kit import best_of, chat_stream, compile_text, judge
except ImportError:  # run as a script: bench/ itself is on sys.path
    from kit import best_of, chat_stream, compile_text, judge  # type: ignore[no-redef]

ROUNDS = 7
REQUESTS = 200
STREAMS = 10
CLAUDE_CODE_REQUEST = ROOT / "tests" / "fixtures" / "claude-code-2.1.197" / "turn1-request.json"
MESSAGES_PACK = """\
pack: anthropic
match: "`true`"
upstream: {url: "https://api.anthropic.com/v1", protocol: messages}
"""


def line(label: str, value: float, unit: str, budget: str = "") -> None:
    print(f"{label:<70} {value:>10.3f} {unit:<9} {budget} {judge(label, value, budget)}")


def shipped(name: str) -> Pack:
    return load_rules(str(ROOT / "rules" / f"{name}.yaml")).packs[0]


def claude_code_body() -> bytes:
    body = orjson.loads(CLAUDE_CODE_REQUEST.read_bytes())
    body["model"] = "qwen3-coder-plus"  # so that the qwen pack serves it, as with ANTHROPIC_MODEL
    return orjson.dumps(body)


# -- (a) the request


def bench_request() -> None:
    raw = claude_code_body()
    parse = best_of(ROUNDS, lambda: [orjson.loads(raw) for _ in range(REQUESTS)]) / REQUESTS
    bodies = [[orjson.loads(raw) for _ in range(REQUESTS)] for _ in range(ROUNDS)]
    it = iter(bodies)
    alone = best_of(ROUNDS, lambda: [to_chat(body) for body in next(it)]) / REQUESTS
    line(f"(a) to_chat on Claude Code turn 1 ({len(raw) // 1024} KB)", alone * 1e3, "ms", "budget <= 1 ms")
    pack = shipped("qwen")
    pipeline = Pipeline(pack, "messages")
    bodies = [[orjson.loads(raw) for _ in range(REQUESTS)] for _ in range(ROUNDS)]
    it = iter(bodies)
    whole = best_of(ROUNDS, lambda: [pipeline.request(body) for body in next(it)]) / REQUESTS
    line(f"    ... the whole request path, with the qwen pack ({len(pack.request)} steps)", whole * 1e3, "ms")
    line("    orjson.loads of the request's bytes (not in the figures above)", parse * 1e3, "ms")


# -- (b) to (d): streams (the Chat input is `kit.chat_stream`, shared with the Responses bench)


def anthropic_stream() -> list[tuple[str, bytes]]:
    events = [{"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant",
                                                    "model": "claude-x", "content": [], "stop_reason": None,
                                                    "stop_sequence": None,
                                                    "usage": {"input_tokens": 9000, "output_tokens": 1}}}]  # fmt: skip
    events.append({"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}})
    events += [{"type": "content_block_delta", "index": 0,
                "delta": {"type": "thinking_delta", "thinking": f"step {i} "}} for i in range(200)]  # fmt: skip
    events.append({"type": "content_block_stop", "index": 0})
    events.append({"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}})
    events += [{"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": f" word{i}"}}
               for i in range(600)]  # fmt: skip
    events.append({"type": "content_block_stop", "index": 1})
    events.append({"type": "content_block_start", "index": 2,
                   "content_block": {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {}}})  # fmt: skip
    events += [{"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": "ab "}}
               for _ in range(192)]  # fmt: skip
    events.append({"type": "content_block_stop", "index": 2})
    events.append({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                   "usage": {"output_tokens": 1000}})  # fmt: skip
    events.append({"type": "message_stop"})
    return [(e["type"], orjson.dumps(e)) for e in events]


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
    client = orjson.loads(claude_code_body())
    chat = [Event(data.decode()) for data in chat_stream("Bash")]
    bench_stream(Pipeline(shipped("qwen"), "messages"), client, chat,
                 "(b) Chat -> Messages stream, qwen pack ({n} chunks in)", "budget >= 15,000/s")  # fmt: skip
    anthropic = [Event(data.decode(), name) for name, data in anthropic_stream()]
    chat_client = {"model": "claude-x", "stream": True, "stream_options": {"include_usage": True}, "messages": []}
    bench_stream(Pipeline(compile_text(MESSAGES_PACK), "chat"), chat_client, anthropic,
                 "(c) Messages -> Chat stream ({n} events in)", "budget >= 15,000/s")  # fmt: skip
    bench_stream(Pipeline(compile_text(MESSAGES_PACK), "messages"), client, anthropic,
                 "(d) Messages -> Messages, identity ({n} events in)")  # fmt: skip


if __name__ == "__main__":
    main()
