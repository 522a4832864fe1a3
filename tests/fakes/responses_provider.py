"""Strict fake Responses upstreams: an OpenAI-like one and a ChatGPT-backend-like one, as aiohttp apps.

A bridge bug usually shows up as a 400 from the real upstream, so these fakes reject what the real
ones reject, with their error bodies and messages (checked against reported errors; see each check).
A test reads `provider.requests` to see exactly what the proxy sent and scripts the answers:

    provider = FakeResponsesProvider()
    provider.enqueue(stream_reply(stream_events([function_call_item("get_weather", '{"city":"Paris"}')])))
    server = await aiohttp_server(provider.app)

Replies are plain dicts made by `stream_reply`, `json_reply`, `error_reply` and `cut_reply`; when the
queue is empty the fake answers the last user text with a derived text reply, streamed if asked to.
Streams are written as `event: <type>\\ndata: <json>\\n\\n` with every event split across several writes
(splitting UTF-8 sequences too), so a decoder that assumes one event per read fails here.

`stream_events(items)` builds the full event sequence a real upstream sends for finished output items
(`message_item`, `function_call_item`, `reasoning_item`): `sequence_number`s from 0, ids, deltas,
`.done` events, usage. `response_object(items)` is the matching non-streaming body.

ChatGPT-backend assumptions (`chatgpt_backend=True`), from third-party reports (protocols.md A.4.4, D,
and public issue threads): it answers 400 `{"detail": "..."}` unless `stream` is true ("Stream must be
set to true"), `store` is explicitly false ("Store must be set to false"), `input` is a list and
`instructions` is present ("Instructions are required"); it rejects `max_output_tokens`; and its streams
end with a `response.completed` whose `output` is EMPTY (items arrive only in `output_item.done`).
"""

from __future__ import annotations

import json
import re
from collections import deque

from aiohttp import web

MODEL = "gpt-5.4"
CREATED_AT = 1760000000

# Top-level fields of `POST /v1/responses` (openai-python `response_create_params.py`), plus Codex's
# `client_metadata`, which OpenAI accepts from Codex.
KNOWN_FIELDS = frozenset(
    {
        "background",
        "client_metadata",
        "context_management",
        "conversation",
        "include",
        "input",
        "instructions",
        "max_output_tokens",
        "max_tool_calls",
        "metadata",
        "model",
        "parallel_tool_calls",
        "previous_response_id",
        "prompt",
        "prompt_cache_key",
        "prompt_cache_retention",
        "reasoning",
        "safety_identifier",
        "service_tier",
        "store",
        "stream",
        "stream_options",
        "temperature",
        "text",
        "tool_choice",
        "tools",
        "top_logprobs",
        "top_p",
        "truncation",
        "user",
    }
)
_ASSISTANT_PARTS = ("output_text", "refusal")
_INPUT_PARTS = ("input_text", "input_image", "input_file")


# -- output items, response bodies and event sequences


def message_item(text: str, *, id: str = "msg_1") -> dict:
    part = {"type": "output_text", "text": text, "annotations": []}
    return {"id": id, "type": "message", "status": "completed", "role": "assistant", "content": [part]}


def function_call_item(name: str, arguments: str, *, call_id: str = "call_1", id: str = "fc_1") -> dict:
    return {
        "id": id,
        "type": "function_call",
        "status": "completed",
        "arguments": arguments,
        "call_id": call_id,
        "name": name,
    }


def reasoning_item(summary: list[str] | str, *, id: str = "rs_1") -> dict:
    parts = [summary] if isinstance(summary, str) else summary
    return {"id": id, "type": "reasoning", "summary": [{"type": "summary_text", "text": text} for text in parts]}


def usage_for(items: list[dict], input_tokens: int = 12, cached_tokens: int = 0) -> dict:
    """A plausible usage: one output token per word, reasoning summaries counted as reasoning tokens."""
    reasoning = sum(len(p["text"].split()) for i in items if i["type"] == "reasoning" for p in i["summary"])
    output = reasoning + sum(len(_item_text(i).split()) for i in items if i["type"] != "reasoning")
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": cached_tokens},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": input_tokens + output,
    }


def response_object(
    items: list[dict],
    *,
    model: str = MODEL,
    id: str = "resp_1",
    status: str = "completed",
    incomplete_reason: str | None = None,
    error: dict | None = None,
    usage: dict | None = None,
) -> dict:
    """A non-streaming Responses body (protocols.md A.3), trimmed to the fields a bridge reads."""
    return {
        "id": id,
        "object": "response",
        "created_at": CREATED_AT,
        "status": status,
        "error": error,
        "incomplete_details": {"reason": incomplete_reason} if incomplete_reason else None,
        "model": model,
        "output": items,
        "usage": None if status == "failed" else (usage or usage_for(items)),
    }


def stream_events(items: list[dict], **response_fields) -> list[dict]:
    """The whole event sequence an upstream streams to produce `items`, ending in the terminal event."""
    final = response_object(items, **response_fields)
    snapshot = {**final, "status": "in_progress", "output": [], "usage": None, "incomplete_details": None}
    events = [
        {"type": "response.created", "response": snapshot},
        {"type": "response.in_progress", "response": snapshot},
    ]
    for index, item in enumerate(items):
        events += _item_events(index, item)
    terminal = {"completed": "response.completed", "incomplete": "response.incomplete", "failed": "response.failed"}
    events.append({"type": terminal[final["status"]], "response": final})
    return [{**event, "sequence_number": n} for n, event in enumerate(events)]


def _item_events(index: int, item: dict) -> list[dict]:
    at = {"item_id": item["id"], "output_index": index}
    kind = item["type"]
    if kind == "message":
        added = {**item, "status": "in_progress", "content": []}
        events = [{"type": "response.output_item.added", "output_index": index, "item": added}]
        for c, part in enumerate(item["content"]):
            empty = {**part, "text": ""}
            events.append({"type": "response.content_part.added", **at, "content_index": c, "part": empty})
            for piece in pieces(part["text"]):
                events.append(
                    {"type": "response.output_text.delta", **at, "content_index": c, "delta": piece, "logprobs": []}
                )
            events.append(
                {"type": "response.output_text.done", **at, "content_index": c, "text": part["text"], "logprobs": []}
            )
            events.append({"type": "response.content_part.done", **at, "content_index": c, "part": part})
    elif kind == "function_call":
        added = {**item, "status": "in_progress", "arguments": ""}
        events = [{"type": "response.output_item.added", "output_index": index, "item": added}]
        for piece in pieces(item["arguments"]):
            events.append({"type": "response.function_call_arguments.delta", **at, "delta": piece})
        events.append(
            {
                "type": "response.function_call_arguments.done",
                **at,
                "name": item["name"],
                "arguments": item["arguments"],
            }
        )
    elif kind == "reasoning":
        events = [{"type": "response.output_item.added", "output_index": index, "item": {**item, "summary": []}}]
        for s, part in enumerate(item["summary"]):
            empty = {"type": "summary_text", "text": ""}
            events.append({"type": "response.reasoning_summary_part.added", **at, "summary_index": s, "part": empty})
            for piece in pieces(part["text"]):
                events.append(
                    {"type": "response.reasoning_summary_text.delta", **at, "summary_index": s, "delta": piece}
                )
            events.append(
                {"type": "response.reasoning_summary_text.done", **at, "summary_index": s, "text": part["text"]}
            )
            events.append({"type": "response.reasoning_summary_part.done", **at, "summary_index": s, "part": part})
    else:
        raise ValueError(f"no event builder for {kind!r} items")
    return [*events, {"type": "response.output_item.done", "output_index": index, "item": item}]


def pieces(text: str) -> list[str]:
    """Split text the way models stream it: word by word, whitespace kept with the word before it."""
    return re.findall(r"\S+\s*|\s+", text) or [text]


def _item_text(item: dict) -> str:
    if item["type"] == "message":
        return "".join(part.get("text", "") for part in item["content"])
    return item.get("arguments", "")


# -- scripted replies


def stream_reply(events: list[dict]) -> dict:
    return {"kind": "stream", "events": events}


def json_reply(body: dict, status: int = 200) -> dict:
    return {"kind": "json", "status": status, "body": body}


def error_reply(status: int, body: dict) -> dict:
    return {"kind": "json", "status": status, "body": body}


def cut_reply(events: list[dict]) -> dict:
    """Stream `events`, then drop the connection without a terminal event or a clean end of the body."""
    return {"kind": "cut", "events": events}


def sse_pieces(event: dict) -> list[bytes]:
    """One SSE frame in three writes, cut at byte offsets that may fall inside a UTF-8 sequence."""
    frame = f"event: {event.get('type')}\ndata: {json.dumps(event, ensure_ascii=False)}\n\n".encode()
    third = max(1, len(frame) // 3)
    return [frame[:third], frame[third : 2 * third], frame[2 * third :]]


# -- validation


def openai_error(message: str, param: str | None = None, code: str | None = None) -> dict:
    return {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}


def check_openai(body: dict) -> dict | None:
    """The error body OpenAI answers this request body with (status 400), or None if it is accepted."""
    for key in body:
        if key not in KNOWN_FIELDS:
            return openai_error(f"Unknown parameter: '{key}'.", key, "unknown_parameter")
    if "model" not in body:
        return openai_error("Missing required parameter: 'model'.", "model", "missing_required_parameter")
    metadata = body.get("metadata") or {}
    if len(metadata) > 16:
        message = (
            "Invalid 'metadata': too many properties. Expected an object with at most 16 properties, "
            f"but got an object with {len(metadata)} properties instead."
        )
        return openai_error(message, "metadata", "object_above_max_properties")
    limit = body.get("max_output_tokens")
    if isinstance(limit, int) and limit < 16:
        message = (
            "Invalid 'max_output_tokens': integer below minimum value. "
            f"Expected a value >= 16, but got {limit} instead."
        )
        return openai_error(message, "max_output_tokens", "integer_below_min_value")
    for key in body.get("stream_options") or {}:
        if key != "include_obfuscation":
            return openai_error(
                f"Unknown parameter: 'stream_options.{key}'.", f"stream_options.{key}", "unknown_parameter"
            )
    for i, tool in enumerate(body.get("tools") or []):
        if tool.get("type") == "function" and "name" not in tool:
            # What a Chat-shaped tool (`{type, function: {...}}`) gets from the Responses API.
            return openai_error(
                f"Missing required parameter: 'tools[{i}].name'.", f"tools[{i}].name", "missing_required_parameter"
            )
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and "function" in choice:
        return openai_error("Unknown parameter: 'tool_choice.function'.", "tool_choice.function", "unknown_parameter")
    fmt = (body.get("text") or {}).get("format") or {}
    if fmt.get("type") == "json_schema" and "name" not in fmt:
        return openai_error(
            "Missing required parameter: 'text.format.name'.", "text.format.name", "missing_required_parameter"
        )
    return _check_input(body)


def _check_input(body: dict) -> dict | None:
    items = body.get("input")
    if isinstance(items, str) or items is None:
        return None
    if not isinstance(items, list):
        message = (
            "Invalid type for 'input': expected one of a string or array of input items, "
            f"but got {type(items).__name__} instead."
        )
        return openai_error(message, "input", "invalid_type")
    calls = set()
    for i, item in enumerate(items):
        kind = item.get("type", "message")
        if kind == "message":
            content = item.get("content")
            allowed = _ASSISTANT_PARTS if item.get("role") == "assistant" else _INPUT_PARTS
            for j, part in enumerate(content if isinstance(content, list) else []):
                if part.get("type") not in allowed:
                    quoted = [f"'{a}'" for a in allowed]
                    supported = (
                        " and ".join(quoted) if len(quoted) == 2 else ", ".join(quoted[:-1]) + ", and " + quoted[-1]
                    )
                    message = f"Invalid value: '{part.get('type')}'. Supported values are: {supported}."
                    return openai_error(message, f"input[{i}].content[{j}]", "invalid_value")
        elif kind in ("function_call", "custom_tool_call"):
            calls.add((kind, item.get("call_id")))
        elif kind in ("function_call_output", "custom_tool_call_output"):
            call = kind.removesuffix("_output")
            if (call, item.get("call_id")) not in calls and not body.get("previous_response_id"):
                label = "function call" if call == "function_call" else "custom tool call"
                message = f"No tool call found for {label} output with call_id {item.get('call_id')}."
                return openai_error(message, "input", None)
    return None


def check_chatgpt_backend(body: dict) -> str | None:
    """The `detail` the ChatGPT backend answers with (status 400), or None; see the module docstring."""
    if body.get("stream") is not True:
        return "Stream must be set to true"
    if body.get("store") is not False:
        return "Store must be set to false"
    if not isinstance(body.get("input"), list):
        return "Input must be a list"
    if "instructions" not in body:
        return "Instructions are required"
    if "max_output_tokens" in body:
        return "Unsupported parameter: max_output_tokens"
    return None


# -- the server


class FakeResponsesProvider:
    """An aiohttp app answering `POST .../responses` from a queue of scripted replies, after strict checks."""

    def __init__(self, *, chatgpt_backend: bool = False):
        self.chatgpt_backend = chatgpt_backend
        self.requests: list[dict] = []  # {"path", "headers", "body"} of every request received
        self.replies: deque[dict] = deque()
        self.app = web.Application()
        self.app.router.add_post("/{path:.*}", self._handle)

    def enqueue(self, *replies: dict) -> None:
        self.replies.extend(replies)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if not request.path.endswith("/responses"):
            return web.json_response(openai_error(f"Invalid URL (POST {request.path})"), status=404)
        try:
            body = json.loads(await request.read())
        except ValueError:
            return web.json_response(openai_error("We could not parse the JSON body of your request."), status=400)
        self.requests.append({"path": request.path, "headers": dict(request.headers), "body": body})

        # A real upstream refuses a bad request whatever it would have answered, so a scripted reply
        # stays queued for the next, valid, request.
        if self.chatgpt_backend and (detail := check_chatgpt_backend(body)):
            return web.json_response({"detail": detail}, status=400)
        if error := check_openai(body):
            return web.json_response(error, status=400)

        reply = self.replies.popleft() if self.replies else self.default_reply(body)
        if reply["kind"] == "json":
            return web.json_response(reply["body"], status=reply["status"])
        return await self._stream(request, reply)

    def default_reply(self, body: dict) -> dict:
        """Echo the last user text, streamed if the request asked for a stream."""
        items = [message_item(f"You said: {_last_user_text(body.get('input'))}")]
        model = body.get("model", MODEL)
        return (
            stream_reply(stream_events(items, model=model))
            if body.get("stream")
            else json_reply(response_object(items, model=model))
        )

    async def _stream(self, request: web.Request, reply: dict) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        for event in reply["events"]:
            if self.chatgpt_backend and event.get("type") == "response.completed":
                event = {**event, "response": {**event["response"], "output": []}}
            for piece in sse_pieces(event):
                await response.write(piece)
        if reply["kind"] == "cut":
            # Closing the socket mid-body: the chunked encoding never ends, as when an upstream dies.
            request.transport.close()
            return response
        await response.write_eof()
        return response


def _last_user_text(items) -> str:
    if isinstance(items, str):
        return items
    for item in reversed(items or []):
        if item.get("role") == "user":
            content = item.get("content")
            if isinstance(content, str):
                return content
            return " ".join(part.get("text", "") for part in content or [] if part.get("type") == "input_text")
    return "nothing"
