"""The Chat-over-Responses bridge against issue 5's budgets: `.venv/bin/python bench/bench_chat_over_responses.py`.

Figures, each printed next to its budget:

(a) a Responses stream translated into Chat chunks, in upstream events per second through one worker
    (budget: at least 15,000/s):
    - the per-event work the server does, through its own response path (`switchyard.pipeline.Stream`):
      `orjson.loads` of the event's data, the pack's response steps, `ChatStream.feed`, and the encoding
      of every chunk it gives, on events already decoded;
    - the same from 1,400-byte reads of the upstream's bytes, as they arrive, which adds SSE decoding;
    - end to end: a real `switchyard serve` process with `rules/openai.yaml`, a fake upstream on loopback
      that sends the whole stream at once, and a streaming client reading every byte. Client, upstream
      and proxy share this machine's cores, so this is a floor, not the proxy's own ceiling.
(b) a 20-turn chat conversation with tools translated into a Responses request (`to_responses` and the
    openai pack's request steps), per request (budget: at most 1 ms); also with the JSON parse of the
    client's body, which the server does first.

Timing is plain `time.perf_counter`, best of a few rounds. Nothing is asserted: this is a report.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import aiohttp
import orjson
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the fakes build the event sequences a real upstream sends

from fakes.responses_provider import (  # noqa: E402
    function_call_item,
    message_item,
    reasoning_item,
    stream_events,
)

from switchyard.packs import load as load_rules  # noqa: E402
from switchyard.pipeline import Pipeline  # noqa: E402
from switchyard.protocols.sse import Event, SSEDecoder, encode_json  # noqa: E402

# How every client declares its bodies (the proxy answers 415 otherwise, server/origins.py).
JSON_BODY = {"Content-Type": "application/json"}

try:
    from bench.kit import best_of, judge
except ImportError:  # run as a script: bench/ itself is on sys.path
    from kit import best_of, judge  # type: ignore[no-redef]


ROUNDS = 7
STREAMS = 10  # streams per round for (a)
READ_SIZE = 1_400
REQUESTS = 500  # translations per round for (b)
E2E_REQUESTS = 5
EVENTS_BUDGET = 15_000
TRANSLATE_BUDGET_MS = 1.0
TWENTY_TURNS = ROOT / "tests/golden/bridge/chat_over_responses/requests/twenty_turn_conversation_with_tools.in.json"
WORDS = "The quick brown fox jumps over the lazy dog, caf\u00e9 \u65e5\u672c \U0001f600 and then some more words. "


def upstream_stream() -> tuple[list[bytes], bytes]:
    """A realistic answer: a reasoning summary, a long text and a tool call, word by word (about 1,000 events)."""
    items = [
        reasoning_item((WORDS * 6).strip()),
        message_item((WORDS * 40).strip()),
        function_call_item("get_weather", orjson.dumps({"city": "Paris", "notes": WORDS * 4}).decode()),
    ]
    events = stream_events(items)
    datas = [orjson.dumps(event) for event in events]
    body = b"".join(encode_json(event, event["type"]) for event in events)
    return datas, body


def client_body() -> dict:
    return {"model": "gpt-5.4", "stream": True, "messages": [{"role": "user", "content": "hi"}]}


def report(name: str, value: float, unit: str, budget: str) -> None:
    print(f"{name:58s} {value:>12,.0f} {unit:10s} budget {budget} {judge(name, value, budget)}")


# -- (a) stream translation


def bench_translator(pack, datas: list[bytes]) -> float:
    pipeline = Pipeline(pack, "chat")
    decoded = [Event(data.decode()) for data in datas]

    def run() -> None:
        for _ in range(STREAMS):
            stream = pipeline.stream(client_body())
            for event in decoded:
                stream.encode(stream.feed([event]))
            stream.encode(stream.close())

    return len(datas) * STREAMS / best_of(ROUNDS, run)


def bench_server_path(pack, datas: list[bytes], body: bytes) -> float:
    pipeline = Pipeline(pack, "chat")
    reads = [body[i : i + READ_SIZE] for i in range(0, len(body), READ_SIZE)]

    def run() -> None:
        for _ in range(STREAMS):
            stream = pipeline.stream(client_body())
            decoder = SSEDecoder()
            for read in reads:
                stream.encode(stream.feed(decoder.decode(read)))
            stream.encode(stream.feed(decoder.flush()) + stream.close())

    return len(datas) * STREAMS / best_of(ROUNDS, run)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def bench_end_to_end(events: int, body: bytes) -> tuple[float, float]:
    """(upstream events/s through the proxy, best seconds per stream) for a streaming Chat client."""

    async def answer(request: web.Request) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for i in range(0, len(body), 16_384):
            await response.write(body[i : i + 16_384])
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_post("/v1/responses", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    upstream_port = free_port()
    await web.TCPSite(runner, "127.0.0.1", upstream_port).start()

    folder = Path(tempfile.mkdtemp(prefix="bench-rules-"))
    shutil.copy(ROOT / "rules/openai.yaml", folder / "openai.yaml")
    port = free_port()
    env = {**os.environ, "OPENAI_BASE_URL": f"http://127.0.0.1:{upstream_port}/v1", "OPENAI_API_KEY": "bench"}
    cmd = [sys.executable, "-m", "switchyard", "serve", "--rules", str(folder), "--port", str(port)]
    cmd += ["--log-level", "warning"]
    proxy = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        await asyncio.to_thread(wait_healthy, f"http://127.0.0.1:{port}/healthz", proxy)
        best = float("inf")
        request = orjson.dumps(client_body())
        async with aiohttp.ClientSession(headers=JSON_BODY) as session:
            for _ in range(E2E_REQUESTS + 1):  # the first one warms the connection pools up
                start = time.perf_counter()
                async with session.post(f"http://127.0.0.1:{port}/v1/chat/completions", data=request) as resp:
                    received = await resp.read()
                elapsed = time.perf_counter() - start
                if resp.status != 200 or not received.endswith(b"data: [DONE]\n\n"):
                    raise RuntimeError(f"end-to-end stream failed: {resp.status} {received[-200:]!r}")
                best = min(best, elapsed)
    finally:
        proxy.terminate()
        proxy.wait(10)
        await runner.cleanup()
        shutil.rmtree(folder, ignore_errors=True)
    return events / best, best


def wait_healthy(url: str, proxy: subprocess.Popen, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proxy.poll() is not None:
            raise RuntimeError(f"proxy exited with {proxy.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("proxy did not become healthy")


# -- (b) request translation


def bench_request(pack) -> tuple[float, float]:
    raw = TWENTY_TURNS.read_bytes()
    bodies = [orjson.loads(raw) for _ in range(REQUESTS * ROUNDS)]  # parsed beforehand: bridge + steps only
    it = iter(bodies)

    pipeline = Pipeline(pack, "chat")

    def translate() -> None:
        for _ in range(REQUESTS):
            pipeline.request(next(it))

    def parse_and_translate() -> None:
        for _ in range(REQUESTS):
            pipeline.request(orjson.loads(raw))

    return best_of(ROUNDS, translate) / REQUESTS, best_of(ROUNDS, parse_and_translate) / REQUESTS


def main() -> None:
    packs = load_rules(str(ROOT / "rules/openai.yaml"), env={})
    [pack] = packs.packs
    datas, body = upstream_stream()
    print(f"stream: {len(datas):,} upstream events, {len(body):,} bytes; best of {ROUNDS} rounds\n")

    events = f">= {EVENTS_BUDGET:,}"
    report("(a) response path: loads, steps, ChatStream, encode", bench_translator(pack, datas), "events/s", events)
    rate = bench_server_path(pack, datas, body)
    report("(a) the same from 1,400-byte reads (with SSE decoding)", rate, "events/s", events)
    try:
        rate, seconds = asyncio.run(bench_end_to_end(len(datas), body))
        report(f"(a) end to end through a proxy process ({seconds * 1000:.1f} ms/stream)", rate, "events/s", events)
    except (OSError, RuntimeError) as exc:
        print(f"(a) end to end through a proxy process: not measured ({exc})")

    translate, with_parse = bench_request(pack)
    print()
    budget = f"<= {TRANSLATE_BUDGET_MS * 1000:,.0f} us"
    report("(b) 20-turn chat with tools -> Responses (bridge + steps)", translate * 1e6, "us", budget)
    report("(b) the same, with the JSON parse of the client body", with_parse * 1e6, "us", budget)


if __name__ == "__main__":
    main()
