"""The baseline the proxy's throughput is compared with: a bare Starlette + aiohttp pass-through.

No rules, no parsing: the body goes upstream as bytes and the answer comes back as bytes (streamed
when the upstream streams). Run as `python -m uvicorn bench.baseline_proxy:app`, with the upstream
base URL in the BASELINE_UPSTREAM environment variable. It relays `/v1/chat/completions` and
`/v1/responses` alike, so it is the bare hop for a client of either protocol.
"""

from __future__ import annotations

import contextlib
import os

import aiohttp
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

UPSTREAM = os.environ.get("BASELINE_UPSTREAM", "http://127.0.0.1:9000/v1")
state: dict = {}


@contextlib.asynccontextmanager
async def lifespan(app):
    state["session"] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    yield
    await state["session"].close()


async def relay(request: Request) -> Response:
    body = await request.body()
    headers = {"Content-Type": "application/json", **{k: v for k, v in request.headers.items() if k.startswith("x-")}}
    path = request.url.path.removeprefix("/v1")
    resp = await state["session"].post(UPSTREAM + path, data=body, headers=headers)
    if "text/event-stream" in resp.headers.get("Content-Type", ""):

        async def chunks():
            try:
                async for chunk in resp.content.iter_any():
                    yield chunk
            finally:
                resp.release()

        return StreamingResponse(chunks(), media_type="text/event-stream")
    data = await resp.read()
    resp.release()
    return Response(data, status_code=resp.status, media_type="application/json")


routes = [Route(path, relay, methods=["POST"]) for path in ("/v1/chat/completions", "/v1/responses")]
app = Starlette(routes=routes, lifespan=lifespan)
