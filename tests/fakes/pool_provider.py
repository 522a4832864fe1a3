"""A Chat provider with several endpoints and keys, recording which endpoint and key each call used.

The rig of the pool and limit tests (`tests/server/test_pool.py`, `tests/server/test_limits.py`): each
endpoint is its own aiohttp app on its own port (`endpoint_app(name)`), all sharing one record. A
call is answered as a provider would: 401 for a key it does not know, the status scripted for that
key or endpoint (with its headers, say `Retry-After`), else a completion (or a stream, with
`stream_options.include_usage`) whose usage is `usage` tokens.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson
from aiohttp import web


@dataclass
class Call:
    endpoint: str
    key: str
    body: dict


@dataclass
class PoolProvider:
    keys: set[str]
    usage: tuple[int, int] = (7, 3)  # prompt and completion tokens of every answer
    calls: list[Call] = field(default_factory=list)
    key_status: dict[str, tuple[int, dict]] = field(default_factory=dict)  # key -> (status, headers), every call
    endpoint_status: dict[str, tuple[int, dict]] = field(default_factory=dict)

    def endpoint_app(self, name: str) -> web.Application:
        app = web.Application()

        async def handle(request: web.Request) -> web.StreamResponse:
            return await self._handle(name, request)

        app.router.add_post("/v1/chat/completions", handle)
        return app

    def used(self) -> list[tuple[str, str]]:
        return [(c.endpoint, c.key) for c in self.calls]

    async def _handle(self, endpoint: str, request: web.Request) -> web.StreamResponse:
        auth = request.headers.get("Authorization", "")
        key = auth[7:] if auth.startswith("Bearer ") else ""
        body = orjson.loads(await request.read())
        self.calls.append(Call(endpoint, key, body))
        if key not in self.keys:
            return _error(401, "Incorrect API key provided", "invalid_api_key", {})
        for scripted in (self.endpoint_status.get(endpoint), self.key_status.get(key)):
            if scripted is not None:
                status, headers = scripted
                code = "rate_limit_exceeded" if status == 429 else "server_error"
                return _error(status, f"scripted {status}", code, headers)
        prompt, completion = self.usage
        usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
        message = {"role": "assistant", "content": f"from {endpoint}"}
        if body.get("stream"):
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await response.prepare(request)
            chunks = [
                {"choices": [{"index": 0, "delta": message, "finish_reason": None}]},
                {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
            ]
            if (body.get("stream_options") or {}).get("include_usage"):
                chunks.append({"choices": [], "usage": usage})
            for chunk in chunks:
                chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": body["model"], **chunk}
                await response.write(b"data: " + orjson.dumps(chunk) + b"\n\n")
            await response.write(b"data: [DONE]\n\n")
            return response
        return web.json_response(
            {
                "id": "c1",
                "object": "chat.completion",
                "created": 0,
                "model": body["model"],
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                "usage": usage,
            }
        )


def _error(status: int, message: str, code: str, headers: dict) -> web.Response:
    kind = "invalid_request_error" if status < 429 else "rate_limit_error" if status == 429 else "server_error"
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return web.json_response(body, status=status, headers=headers)
