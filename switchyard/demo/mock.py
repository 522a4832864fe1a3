"""A mock Chat Completions model for `switchyard demo`: strict like a real provider, answering from a script.

Strict the way DashScope-style providers are (docs/reference/protocols.md C.2): the body must be a
JSON object, only documented top-level fields are accepted, roles are `system`, `user`,
`assistant` and `tool`, and every refusal is a 400 in the provider's error shape, naming the field.
That is what makes the demo worth watching: without the pack's steps, Codex's request is refused.
Accepted requests are answered with a short streamed text that says what the model received.
"""

from __future__ import annotations

import asyncio

import orjson
from aiohttp import web

FIELDS = {
    "model", "messages", "stream", "stream_options", "temperature", "top_p", "top_k", "presence_penalty",
    "frequency_penalty", "max_tokens", "n", "seed", "stop", "tools", "tool_choice", "parallel_tool_calls",
    "response_format", "enable_thinking", "thinking_budget",
}  # fmt: skip
ROLES = {"system", "user", "assistant", "tool"}


class MockModel:
    """The aiohttp app of the mock; `received` keeps every body it accepted, for the demo to show."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.url = ""  # set once it listens
        self.app = web.Application()
        self.app.router.add_post("/v1/chat/completions", self.handle)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return refuse("The request body is not valid JSON.", None)
        if not isinstance(body, dict):
            return refuse("The request body must be a JSON object.", None)
        unknown = sorted(set(body) - FIELDS)
        if unknown:
            return refuse(f"Unrecognized request argument supplied: {unknown[0]}", unknown[0])
        for i, message in enumerate(body.get("messages") or []):
            if not isinstance(message, dict) or message.get("role") not in ROLES:
                role = message.get("role") if isinstance(message, dict) else None
                return refuse(f"Role must be in {sorted(ROLES)}, got {role!r}.", f"messages[{i}].role")
        self.received.append(body)
        answer = (
            f"Hello from the demo model. I received {len(body.get('messages') or [])} messages and "
            f"{len(body.get('tools') or [])} tools, and nothing I would have refused."
        )
        if not body.get("stream"):
            return web.json_response(completion(body, answer))
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        words = answer.split(" ")
        pieces = [{"role": "assistant", "content": ""}] + [{"content": w + " "} for w in words[:-1]]
        pieces.append({"content": words[-1]})
        for delta in pieces:
            await response.write(event(body, delta))
            await asyncio.sleep(0)  # a real model streams; the client sees the pieces arrive
        await response.write(event(body, {}, "stop"))
        usage = {"prompt_tokens": 1200, "completion_tokens": len(words), "total_tokens": 1200 + len(words)}
        await response.write(b"data: " + orjson.dumps({**envelope(body), "choices": [], "usage": usage}) + b"\n\n")
        await response.write(b"data: [DONE]\n\n")
        return response


def refuse(message: str, param: str | None) -> web.Response:
    error = {"code": "invalid_parameter_error", "param": param, "message": message, "type": "invalid_request_error"}
    return web.json_response({"error": error}, status=400)


def envelope(body: dict) -> dict:
    return {"id": "chatcmpl-demo", "object": "chat.completion.chunk", "created": 0, "model": body.get("model")}


def event(body: dict, delta: dict, finish: str | None = None) -> bytes:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return b"data: " + orjson.dumps({**envelope(body), "choices": [choice]}) + b"\n\n"


def completion(body: dict, text: str) -> dict:
    message = {"role": "assistant", "content": text}
    choice = {"index": 0, "message": message, "finish_reason": "stop"}
    return {
        "id": "chatcmpl-demo",
        "object": "chat.completion",
        "created": 0,
        "model": body.get("model"),
        "choices": [choice],
    }
