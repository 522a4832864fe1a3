"""A fast fake Chat Completions upstream for benchmarks: fixed answers, no validation.

Run as `python -m uvicorn bench.upstream_app:app`. A streaming request gets `X-Events` chunks
(default 10) as fast as the socket takes them; `X-Stamp: 1` makes each chunk carry the
monotonic clock at the moment it is written, so a client on the same machine can measure how
long an event took to cross the proxy. Under `/refuses/v1` it answers every request 400, naming a
field, as a strict provider does (the failed requests of the trace benchmark).
"""

from __future__ import annotations

import time

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

COMPLETION = orjson.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "bench-model",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "pong"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
    }
)


FINISH = (
    b"data: "
    + orjson.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        }
    )
    + b"\n\n"
)


def chunk(i: int, stamp: bool) -> bytes:
    body = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "bench-model",
        "choices": [{"index": 0, "delta": {"content": f"tok{i} ", "reasoning": None}, "finish_reason": None}],
    }
    if stamp:
        body["t"] = time.monotonic_ns()
    return b"data: " + orjson.dumps(body) + b"\n\n"


async def chat(request: Request) -> Response:
    body = orjson.loads(await request.body())
    if not body.get("stream"):
        return Response(COMPLETION, media_type="application/json")
    count = int(request.headers.get("x-events", "10"))
    stamp = request.headers.get("x-stamp") == "1"
    pause = float(request.headers.get("x-pause", "0"))

    async def events():
        import asyncio

        for i in range(count):
            yield chunk(i, stamp)
            if pause:
                await asyncio.sleep(pause)
        yield FINISH
        yield b"data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")


REFUSAL = orjson.dumps(
    {
        "error": {
            "message": "Unrecognized request argument supplied: temperature",
            "type": "invalid_request_error",
            "param": "temperature",
            "code": "invalid_parameter_error",
        }
    }
)


async def refuse(request: Request) -> Response:
    await request.body()
    return Response(REFUSAL, status_code=400, media_type="application/json")


app = Starlette(
    routes=[
        Route("/v1/chat/completions", chat, methods=["POST"]),
        Route("/refuses/v1/chat/completions", refuse, methods=["POST"]),
    ]
)
