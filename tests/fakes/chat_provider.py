"""A strict fake Chat Completions provider: an aiohttp app for end-to-end tests of the bridges and packs.

It is as strict as DashScope (Qwen's OpenAI-compatible mode) is documented or reported to be
(protocols.md B.2, C.2), because a lenient fake would let the proxy send bodies a real provider
refuses: fields outside an allowlist, the `developer` role, tool-call histories without their tool
results, Responses-style (flat) tools and built-in tools are all answered with HTTP 400 in DashScope's
error shape. What it accepts it answers from a queue of scripted replies, or with a text echo.

Streams are written as SSE with `data: [DONE]`, each event split across several writes so that
clients' SSE decoders meet events cut at arbitrary places, as on a real network.

    provider = FakeChatProvider()
    provider.reply_stream(text_chunks("Hel", "lo"))
    server = await aiohttp_server(provider.app)
    ... the proxy under test calls f"{server.make_url('/v1/chat/completions')}" ...
    assert provider.received[0].body["messages"][0]["role"] == "system"
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from dataclasses import dataclass, field

import orjson
from aiohttp import web

# Documented OpenAI-compatible fields of DashScope's compatible mode (plus its thinking switches).
ALLOWED_FIELDS = {
    "model",
    "messages",
    "stream",
    "stream_options",
    "temperature",
    "top_p",
    "top_k",
    "presence_penalty",
    "frequency_penalty",
    "repetition_penalty",
    "max_tokens",
    "n",
    "seed",
    "stop",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "response_format",
    "logprobs",
    "top_logprobs",
    "enable_thinking",
    "thinking_budget",
    "enable_search",
}
ROLES = ["system", "assistant", "user", "tool", "function"]
MESSAGE_FIELDS = {"role", "content", "name", "tool_calls", "tool_call_id", "reasoning_content", "partial"}
NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


@dataclass
class Received:
    """One request as the provider saw it."""

    path: str
    headers: dict
    body: dict
    query: dict = field(default_factory=dict)


@dataclass
class Reply:
    """One scripted answer; `kind` is `stream`, `json`, `error` or `cut`."""

    kind: str
    chunks: list = field(default_factory=list)
    body: dict | str | None = None
    status: int = 200
    delay: float = 0.0
    hold: tuple[int, asyncio.Event] | None = None  # (n, event): after n chunks, wait for the event


class Rejection(Exception):
    def __init__(self, message: str, param: str | None = None):
        super().__init__(message)
        self.message, self.param = message, param


class FakeChatProvider:
    """The fake provider. `app` is the aiohttp application; `received` lists every request in order."""

    def __init__(self, *, allowed_fields: set[str] | None = None, split: int = 3, pause: float = 0.0):
        self.allowed_fields = set(ALLOWED_FIELDS if allowed_fields is None else allowed_fields)
        self.split = split  # writes per SSE event
        self.pause = pause  # seconds between writes, to keep the pieces apart on a busy machine
        self.received: list[Received] = []
        self.replies: deque[Reply] = deque()
        self.app = web.Application()
        self.app.router.add_post("/{path:.*}", self._handle)

    # --- scripting -----------------------------------------------------------------------------------

    def reply_stream(
        self, chunks: list[dict | bytes], *, delay: float = 0.0, hold: tuple[int, asyncio.Event] | None = None
    ) -> None:
        """Answer the next request with these chunks as SSE, then `data: [DONE]`.

        A `bytes` chunk is written as it is: a raw SSE frame (`b"event: ping\\ndata: hi\\n\\n"`), for
        streams with events that are not JSON. With `hold=(n, event)` the stream stops after `n`
        chunks until the test sets `event`, so a test can act while a stream is in flight.
        """
        self.replies.append(Reply("stream", chunks=chunks, delay=delay, hold=hold))

    def reply_json(self, completion: dict, *, delay: float = 0.0) -> None:
        """Answer the next request with this non-streaming body."""
        self.replies.append(Reply("json", body=completion, delay=delay))

    def reply_error(self, status: int, body: dict | str, *, delay: float = 0.0) -> None:
        """Answer the next request with an HTTP error; a `str` body is sent as an HTML page (a gateway's)."""
        self.replies.append(Reply("error", body=body, status=status, delay=delay))

    def reply_cut(self, chunks: list[dict], *, delay: float = 0.0) -> None:
        """Stream these chunks, then drop the connection without `[DONE]`."""
        self.replies.append(Reply("cut", chunks=chunks, delay=delay))

    # --- serving -------------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if not request.path.endswith("/chat/completions"):
            raise web.HTTPNotFound()
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return _error(400, "Request body is not valid JSON.")
        self.received.append(Received(request.path, dict(request.headers), body, dict(request.query)))
        try:
            validate(body, self.allowed_fields)
        except Rejection as rejection:
            return _error(400, rejection.message, rejection.param)

        reply = self.replies.popleft() if self.replies else _echo(body)
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.kind == "json":
            return web.json_response(reply.body, dumps=_dumps)
        if reply.kind == "error" and isinstance(reply.body, str):
            return web.Response(text=reply.body, status=reply.status, content_type="text/html")
        if reply.kind == "error":
            return web.json_response(reply.body, status=reply.status, dumps=_dumps)
        return await self._stream(request, reply)

    async def _stream(self, request: web.Request, reply: Reply) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        events = [c if isinstance(c, bytes) else b"data: " + orjson.dumps(c) + b"\n\n" for c in reply.chunks]
        if reply.kind == "stream":
            events.append(b"data: [DONE]\n\n")
        for n, event in enumerate(events):
            if reply.hold and n == reply.hold[0]:
                await reply.hold[1].wait()
            step = max(1, -(-len(event) // self.split))
            for start in range(0, len(event), step):
                await response.write(event[start : start + step])
                await asyncio.sleep(self.pause)  # give the transport a chance to send this piece on its own
        if reply.kind == "cut":
            # Closing the transport mid-body is what a crashed upstream looks like: no [DONE], no last chunk.
            request.transport.close()
            return response
        await response.write_eof()
        return response


def validate(body: object, allowed_fields: set[str] = ALLOWED_FIELDS) -> None:
    """Raise `Rejection` for a body DashScope would refuse."""
    if not isinstance(body, dict):
        raise Rejection("Request body must be a JSON object.")
    for key in body:
        if key not in allowed_fields:
            raise Rejection(f"Unrecognized request argument supplied: {key}", key)
    if not isinstance(body.get("model"), str):
        raise Rejection("Model not specified.", "model")
    if "stream" in body and not isinstance(body["stream"], bool):
        raise Rejection("'stream' must be a boolean.", "stream")
    if "stream_options" in body and not body.get("stream"):
        raise Rejection("The 'stream_options' parameter is only allowed when 'stream' is enabled.", "stream_options")
    _validate_messages(body.get("messages"))
    for i, tool in enumerate(body.get("tools") or []):
        _validate_tool(tool, f"tools.[{i}]")
    _validate_tool_choice(body.get("tool_choice"))


def _validate_messages(messages: object) -> None:
    if not isinstance(messages, list) or not messages:
        raise Rejection("'messages' must be a non-empty array.", "messages")
    waiting: list[str] = []  # tool_call ids still owed a tool message
    for i, message in enumerate(messages):
        where = f"messages.[{i}]"
        if not isinstance(message, dict):
            raise Rejection(f"{where} must be an object.", where)
        role = message.get("role")
        if role not in ROLES:
            raise Rejection(f"{role} is not one of {ROLES} - '{where}.role'", f"{where}.role")
        for key in message:
            if key not in MESSAGE_FIELDS:
                raise Rejection(f"Unrecognized field '{key}' in {where}.", f"{where}.{key}")
        if waiting and role != "tool":
            _missing_tool_results(waiting)
        if role == "tool":
            if message.get("tool_call_id") not in waiting:
                raise Rejection(
                    "Messages with role 'tool' must be a response to a preceding message with 'tool_calls'.", where
                )
            waiting.remove(message["tool_call_id"])
        elif role == "assistant" and message.get("tool_calls"):
            waiting = [
                _validate_tool_call(call, f"{where}.tool_calls.[{j}]") for j, call in enumerate(message["tool_calls"])
            ]
        elif message.get("content") is None:
            raise Rejection(f"{where}.content is required.", f"{where}.content")
        _validate_content(message.get("content"), role, where)
    if waiting:
        _missing_tool_results(waiting)


def _missing_tool_results(waiting: list[str]) -> None:
    raise Rejection(
        "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
        f"'tool_call_id'. The following tool_call_ids did not have response messages: {', '.join(waiting)}",
        "messages",
    )


def _validate_content(content: object, role: str, where: str) -> None:
    if content is None or isinstance(content, str):
        return
    if not isinstance(content, list):
        raise Rejection(f"{where}.content must be a string or an array.", f"{where}.content")
    allowed = {"text", "image_url"} if role == "user" else {"text"}
    for j, part in enumerate(content):
        if not isinstance(part, dict) or part.get("type") not in allowed:
            raise Rejection(f"Unsupported content part at {where}.content.[{j}].", f"{where}.content.[{j}]")


def _validate_tool_call(call: object, where: str) -> str:
    if not isinstance(call, dict) or not isinstance(call.get("id"), str) or call.get("type") != "function":
        raise Rejection(f"{where} must be a function tool call with an id.", where)
    function = call.get("function") or {}
    if not isinstance(function.get("name"), str) or not NAME.match(function["name"]):
        raise Rejection(f"{where}.function.name must match {NAME.pattern}.", f"{where}.function.name")
    if not isinstance(function.get("arguments"), str):
        raise Rejection(f"{where}.function.arguments must be a string.", f"{where}.function.arguments")
    return call["id"]


def _validate_tool(tool: object, where: str) -> None:
    # Responses-style flat tools and built-in tools (web_search, ...) both fail here, as upstream.
    if not isinstance(tool, dict) or tool.get("type") != "function" or not isinstance(tool.get("function"), dict):
        raise Rejection(f"{where} must be {{'type': 'function', 'function': {{...}}}}.", where)
    name = tool["function"].get("name")
    if not isinstance(name, str) or not NAME.match(name):
        raise Rejection(f"{where}.function.name must match {NAME.pattern}.", f"{where}.function.name")
    if "parameters" in tool["function"] and not isinstance(tool["function"]["parameters"], dict):
        raise Rejection(f"{where}.function.parameters must be an object.", f"{where}.function.parameters")


def _validate_tool_choice(choice: object) -> None:
    if choice is None or choice in ("auto", "none", "required"):
        return
    if isinstance(choice, dict) and choice.get("type") == "function" and isinstance(choice.get("function"), dict):
        return
    raise Rejection("tool_choice must be 'auto', 'none', 'required' or a named function.", "tool_choice")


def _error(status: int, message: str, param: str | None = None) -> web.Response:
    body = {
        "error": {
            "code": "invalid_parameter_error",
            "param": param,
            "message": message,
            "type": "invalid_request_error",
        }
    }
    return web.json_response(body, status=status, dumps=_dumps)


def _dumps(value: object) -> str:
    return orjson.dumps(value).decode()


def _echo(body: dict) -> Reply:
    """The reply when nothing is queued: the last user text, echoed."""
    last = next((m for m in reversed(body["messages"]) if m.get("role") == "user"), {})
    content = last.get("content")
    text = content if isinstance(content, str) else " ".join(p.get("text", "") for p in content or [])
    if body.get("stream"):
        return Reply("stream", chunks=text_chunks(f"echo: {text}"))
    return Reply("json", body=completion(f"echo: {text}"))


# --- building replies ---------------------------------------------------------------------------------


def chunk(delta: dict, finish_reason: str | None = None, *, model: str = "fake-model") -> dict:
    """One streaming chunk with one choice."""
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": model,
        "choices": [choice],
    }


def usage_chunk(prompt_tokens: int = 10, completion_tokens: int = 5, **extra) -> dict:
    """The usage-only chunk a provider sends last when `stream_options.include_usage` is set."""
    usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens}
    usage["total_tokens"] = prompt_tokens + completion_tokens
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "choices": [],
        "usage": usage | extra,
    }


def text_chunks(
    *parts: str, reasoning: tuple[str, ...] = (), finish_reason: str = "stop", usage: bool = True
) -> list[dict]:
    """A text answer streamed as `parts`, optionally preceded by `reasoning_content` deltas."""
    chunks = [chunk({"role": "assistant", "content": ""})]
    chunks += [chunk({"reasoning_content": text}) for text in reasoning]
    chunks += [chunk({"content": text}) for text in parts]
    chunks.append(chunk({}, finish_reason))
    return chunks + ([usage_chunk()] if usage else [])


def tool_call_chunks(*calls: tuple[str, str], pieces: int = 3, usage: bool = True) -> list[dict]:
    """Tool calls `(name, arguments)` streamed as OpenAI does: id and name first, then argument pieces."""
    chunks = [chunk({"role": "assistant", "content": None})]
    for index, (name, arguments) in enumerate(calls):
        head = {
            "index": index,
            "id": f"call_{index + 1}",
            "type": "function",
            "function": {"name": name, "arguments": ""},
        }
        chunks.append(chunk({"tool_calls": [head]}))
        step = max(1, -(-len(arguments) // pieces))
        for start in range(0, len(arguments), step):
            fragment = {"index": index, "function": {"arguments": arguments[start : start + step]}}
            chunks.append(chunk({"tool_calls": [fragment]}))
    chunks.append(chunk({}, "tool_calls"))
    return chunks + ([usage_chunk()] if usage else [])


def completion(
    content: str | None = None, *, tool_calls: list[dict] | None = None, reasoning: str | None = None
) -> dict:
    """A non-streaming completion."""
    message: dict = {"role": "assistant", "content": content}
    if reasoning is not None:
        message["reasoning_content"] = reasoning
    if tool_calls:
        message["tool_calls"] = tool_calls
    choice = {"index": 0, "message": message, "finish_reason": "tool_calls" if tool_calls else "stop"}
    usage = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "fake-model",
        "choices": [choice],
        "usage": usage,
    }
