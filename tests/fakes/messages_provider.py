"""A strict fake Anthropic Messages provider: an aiohttp app for end-to-end tests of the Messages protocol.

It is as strict as the Messages API is documented to be (anthropic.md A, B; the API reference), because
a lenient fake would let the proxy send bodies Anthropic refuses: a missing `x-api-key` (or bearer
token) is a 401, a missing `anthropic-version` a 400, and a body without `model`, `max_tokens` or
`messages`, with a top-level field Anthropic does not know, a role other than `user`/`assistant`, an
empty text block, a `tool_result` that does not answer a `tool_use` of the assistant turn right before
it, a `tool_use` left without its result, a thinking budget out of range, or `metadata` other than
`user_id` is a 400, all in Anthropic's error shape `{"type": "error", "error": {type, message}}`.

What it accepts it answers from a queue of scripted replies, or by default as the fake that answered
the Claude Code captures did (tests/fixtures/claude-code-2.1.197/README.md): a `tool_use` of `Bash`
(id `toolu_01ABCDEF`, input in two `input_json_delta` pieces) when the request offers `Bash` and its
last user turn holds no `tool_result`, else a text echo. Streams are `event: NAME` + `data: JSON`, with
a `ping` after `message_start`, each event split across several writes.

    provider = FakeMessagesProvider()
    provider.reply_stream(text_events("Hel", "lo"))
    server = await aiohttp_server(provider.app)
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from dataclasses import dataclass, field

import orjson
from aiohttp import web

# Documented top-level request fields (the API reference's "Create a Message"), plus the beta fields
# Claude Code sends (context_management, output_config) and the newer top-level ones of the 2026 SDK.
ALLOWED_FIELDS = {
    "model",
    "messages",
    "max_tokens",
    "system",
    "stream",
    "temperature",
    "top_p",
    "top_k",
    "stop_sequences",
    "tools",
    "tool_choice",
    "thinking",
    "metadata",
    "service_tier",
    "container",
    "mcp_servers",
    "context_management",
    "output_config",
    "cache_control",
    "inference_geo",
    "speed",
}
USER_BLOCKS = {"text", "image", "document", "tool_result", "search_result"}
ASSISTANT_BLOCKS = {"text", "tool_use", "thinking", "redacted_thinking", "server_tool_use", "web_search_tool_result"}
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")


@dataclass
class Received:
    path: str
    headers: dict
    body: dict
    query: dict = field(default_factory=dict)


@dataclass
class Reply:
    """One scripted answer; `kind` is `stream`, `json`, `error` or `cut`."""

    kind: str
    events: list = field(default_factory=list)
    body: dict | str | None = None
    status: int = 200


class Rejection(Exception):
    def __init__(self, message: str, status: int = 400, kind: str = "invalid_request_error"):
        super().__init__(message)
        self.message, self.status, self.kind = message, status, kind


class FakeMessagesProvider:
    def __init__(self, *, split: int = 3, pause: float = 0.0):
        self.split = split
        self.pause = pause
        self.received: list[Received] = []
        self.replies: deque[Reply] = deque()
        self.app = web.Application()
        self.app.router.add_post("/{path:.*}", self._handle)

    # --- scripting -----------------------------------------------------------------------------------

    def reply_stream(self, events: list[dict | bytes]) -> None:
        """Answer the next request with these events (a `bytes` item is written as it is)."""
        self.replies.append(Reply("stream", events=events))

    def reply_json(self, message: dict) -> None:
        self.replies.append(Reply("json", body=message))

    def reply_error(self, status: int, body: dict | str) -> None:
        self.replies.append(Reply("error", body=body, status=status))

    def reply_cut(self, events: list[dict]) -> None:
        """Stream these events, then drop the connection (no `message_stop`)."""
        self.replies.append(Reply("cut", events=events))

    # --- serving -------------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if not request.path.endswith("/v1/messages"):
            return error(404, f"Not found: {request.path}", "not_found_error")
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return error(400, "There was an error parsing the body of your request.")
        self.received.append(Received(request.path, dict(request.headers), body, dict(request.query)))
        try:
            check_headers(request.headers)
            validate(body)
        except Rejection as rejection:
            return error(rejection.status, rejection.message, rejection.kind)
        reply = self.replies.popleft() if self.replies else default_reply(body)
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
        for event in reply.events:
            data = event if isinstance(event, bytes) else frame(event)
            step = max(1, -(-len(data) // self.split))
            for start in range(0, len(data), step):
                await response.write(data[start : start + step])
                await asyncio.sleep(self.pause)
        if reply.kind == "cut":
            request.transport.close()
            return response
        await response.write_eof()
        return response


def frame(event: dict) -> bytes:
    return b"event: " + event["type"].encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"


def error(status: int, message: str, kind: str = "invalid_request_error") -> web.Response:
    body = {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_fake"}
    return web.json_response(body, status=status, dumps=_dumps)


def _dumps(value: object) -> str:
    return orjson.dumps(value).decode()


# --- validation ----------------------------------------------------------------------------------------


def check_headers(headers) -> None:
    if not headers.get("x-api-key") and not headers.get("authorization", "").startswith("Bearer "):
        raise Rejection("x-api-key header is required", 401, "authentication_error")
    if not headers.get("anthropic-version"):
        raise Rejection("anthropic-version: header is required")


def validate(body: object) -> None:
    """Raise `Rejection` for a body the Messages API would refuse."""
    if not isinstance(body, dict):
        raise Rejection("Request body must be a JSON object.")
    for key in body:
        if key not in ALLOWED_FIELDS:
            raise Rejection(f"{key}: Extra inputs are not permitted")
    for key in ("model", "max_tokens", "messages"):
        if key not in body:
            raise Rejection(f"{key}: Field required")
    if not isinstance(body["model"], str) or not body["model"]:
        raise Rejection("model: Input should be a valid string")
    max_tokens = body["max_tokens"]
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise Rejection("max_tokens: Input should be a valid integer greater than or equal to 1")
    if "stream" in body and not isinstance(body["stream"], bool):
        raise Rejection("stream: Input should be a valid boolean")
    temperature = body.get("temperature")
    if temperature is not None and not (isinstance(temperature, int | float) and 0 <= temperature <= 1):
        raise Rejection("temperature: Input should be less than or equal to 1")
    stops = body.get("stop_sequences")
    if stops is not None and (not isinstance(stops, list) or not all(isinstance(s, str) for s in stops)):
        raise Rejection("stop_sequences: Input should be a valid list of strings")
    metadata = body.get("metadata")
    if metadata is not None:
        if not isinstance(metadata, dict):
            raise Rejection("metadata: Input should be a valid dictionary")
        for key in metadata:
            if key != "user_id":
                raise Rejection(f"metadata.{key}: Extra inputs are not permitted")
    _validate_system(body.get("system"))
    tool_names = _validate_tools(body.get("tools"))
    _validate_tool_choice(body.get("tool_choice"), tool_names)
    _validate_thinking(body.get("thinking"), max_tokens)
    _validate_messages(body["messages"])


def _validate_system(system: object) -> None:
    if system is None or isinstance(system, str):
        return
    if not isinstance(system, list):
        raise Rejection("system: Input should be a valid string or list")
    for i, block in enumerate(system):
        if not isinstance(block, dict) or block.get("type") != "text" or not isinstance(block.get("text"), str):
            raise Rejection(f"system.{i}: Input should be a text block")
        if not block["text"]:
            raise Rejection(f"system.{i}: text content blocks must be non-empty")


def _validate_tools(tools: object) -> set[str]:
    if tools is None:
        return set()
    if not isinstance(tools, list):
        raise Rejection("tools: Input should be a valid list")
    names = set()
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise Rejection(f"tools.{i}: Input should be a valid dictionary")
        if tool.get("type") not in (None, "custom"):
            names.add(tool.get("name"))
            continue  # a server tool: its own fields
        for key in tool:
            if key not in ("name", "description", "input_schema", "cache_control", "type", "strict"):
                raise Rejection(f"tools.{i}.custom.{key}: Extra inputs are not permitted")
        if not isinstance(tool.get("name"), str) or not TOOL_NAME.match(tool["name"]):
            raise Rejection(f"tools.{i}.custom.name: String should match pattern '{TOOL_NAME.pattern}'")
        schema = tool.get("input_schema")
        if not isinstance(schema, dict) or schema.get("type") != "object":
            raise Rejection(f"tools.{i}.custom.input_schema: input_schema must be an object schema (type: object)")
        if tool["name"] in names:
            raise Rejection(f"tools: Tool names must be unique. Duplicate: {tool['name']}")
        names.add(tool["name"])
    return names


def _validate_tool_choice(choice: object, names: set[str]) -> None:
    if choice is None:
        return
    if not isinstance(choice, dict) or choice.get("type") not in ("auto", "any", "tool", "none"):
        raise Rejection("tool_choice: Input tag does not match any of the expected tags: 'auto', 'any', 'tool', 'none'")
    if choice["type"] == "tool" and choice.get("name") not in names:
        raise Rejection(f"tool_choice: Tool '{choice.get('name')}' not found in tools")


def _validate_thinking(thinking: object, max_tokens: int) -> None:
    if thinking is None:
        return
    if not isinstance(thinking, dict) or thinking.get("type") not in ("enabled", "disabled", "adaptive"):
        raise Rejection(
            "thinking: Input tag does not match any of the expected tags: 'enabled', 'disabled', 'adaptive'"
        )
    if thinking["type"] == "enabled":
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int) or budget < 1024:
            raise Rejection("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024")
        if budget >= max_tokens:
            raise Rejection("`max_tokens` must be greater than `thinking.budget_tokens`.")


def _validate_messages(messages: object) -> None:
    if not isinstance(messages, list) or not messages:
        raise Rejection("messages: at least one message is required")
    owed: list[str] = []  # tool_use ids of the previous assistant turn, still owed a tool_result
    for i, message in enumerate(messages):
        where = f"messages.{i}"
        if not isinstance(message, dict):
            raise Rejection(f"{where}: Input should be a valid dictionary")
        role = message.get("role")
        if role not in ("user", "assistant"):
            raise Rejection(f"{where}.role: Input should be 'user' or 'assistant'")
        for key in message:
            if key not in ("role", "content"):
                raise Rejection(f"{where}.{key}: Extra inputs are not permitted")
        content = message.get("content")
        if isinstance(content, str):
            blocks = [{"type": "text", "text": content}] if content else []
            if not content and not (role == "assistant" and i == len(messages) - 1):
                raise Rejection(
                    f"{where}: all messages must have non-empty content except for the optional final assistant message"
                )
        elif isinstance(content, list):
            blocks = content
        else:
            raise Rejection(f"{where}.content: Input should be a valid string or list")
        if not blocks and not (role == "assistant" and i == len(messages) - 1):
            raise Rejection(
                f"{where}: all messages must have non-empty content except for the optional final assistant message"
            )
        allowed = USER_BLOCKS if role == "user" else ASSISTANT_BLOCKS
        results: list[str] = []
        seen_other = False
        for j, block in enumerate(blocks):
            at = f"{where}.content.{j}"
            if not isinstance(block, dict) or block.get("type") not in allowed:
                kind = block.get("type") if isinstance(block, dict) else block
                raise Rejection(f"{at}: block type {kind!r} is not allowed in a {role} message")
            _validate_block(block, at)
            if block["type"] == "tool_result":
                if seen_other:
                    raise Rejection(f"{where}: tool_result blocks must come first in the content of a user message")
                results.append(block["tool_use_id"])
            else:
                seen_other = True
        if role == "user":
            stray = [r for r in results if r not in owed]
            if stray:
                raise Rejection(
                    f"{where}.content: unexpected `tool_use_id` found in `tool_result` blocks: {stray[0]}. Each "
                    "`tool_result` block must have a corresponding `tool_use` block in the previous message."
                )
            missing = [o for o in owed if o not in results]
            if missing:
                raise Rejection(_missing(i - 1, missing))
            owed = []
        else:
            if owed:
                raise Rejection(_missing(i - 1, owed))
            owed = [b["id"] for b in blocks if b.get("type") == "tool_use"]
    if owed:
        raise Rejection(_missing(len(messages) - 1, owed))


def _missing(i: int, ids: list[str]) -> str:
    return (
        f"messages.{i + 1}: `tool_use` ids were found without `tool_result` blocks immediately after: "
        f"{', '.join(ids)}. Each `tool_use` block must have a corresponding `tool_result` block in the next message."
    )


def _validate_block(block: dict, at: str) -> None:
    kind = block["type"]
    if kind == "text":
        if not isinstance(block.get("text"), str) or not block["text"]:
            raise Rejection(f"{at}: text content blocks must be non-empty")
    elif kind == "image":
        source = block.get("source")
        if not isinstance(source, dict) or source.get("type") not in ("base64", "url", "file"):
            raise Rejection(f"{at}.source: Input tag does not match any of the expected tags")
        if source["type"] == "base64" and source.get("media_type") not in (
            "image/jpeg",
            "image/png",
            "image/gif",
            "image/webp",
        ):
            raise Rejection(
                f"{at}.source.media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'"
            )
    elif kind == "tool_use":
        if not isinstance(block.get("id"), str) or not re.match(r"^[a-zA-Z0-9_-]+$", block["id"]):
            raise Rejection(f"{at}.id: String should match pattern '^[a-zA-Z0-9_-]+$'")
        if not isinstance(block.get("name"), str) or not isinstance(block.get("input"), dict):
            raise Rejection(f"{at}: a tool_use block needs a name and an input object")
    elif kind == "tool_result":
        if not isinstance(block.get("tool_use_id"), str):
            raise Rejection(f"{at}.tool_use_id: Field required")
        content = block.get("content")
        if content is not None and not isinstance(content, str | list):
            raise Rejection(f"{at}.content: Input should be a valid string or list")
    elif kind == "thinking" and not (
        isinstance(block.get("signature"), str) and isinstance(block.get("thinking"), str)
    ):
        raise Rejection(f"{at}.signature: Field required")


# --- replies ---------------------------------------------------------------------------------------------


def default_reply(body: dict) -> Reply:
    """As the capture fake: a Bash tool_use when offered and not just answered, else a text echo."""
    last = body["messages"][-1]
    content = last.get("content")
    answered = isinstance(content, list) and any(b.get("type") == "tool_result" for b in content)
    offers_bash = any(isinstance(t, dict) and t.get("name") == "Bash" for t in body.get("tools") or [])
    if offers_bash and not answered and last.get("role") == "user":
        events = tool_use_events("toolu_01ABCDEF", "Bash", ['{"command": "ls", ', '"description": "List files"}'])
    else:
        text = content if isinstance(content, str) else " ".join(
            b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text"
        )  # fmt: skip
        events = text_events(f"echo: {text}" if text else "done", model=body["model"])
    if body.get("stream"):
        return Reply("stream", events=events)
    return Reply("json", body=message_of(events))


def message_start(model: str = "claude-fake", input_tokens: int = 10) -> dict:
    message = {
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": 1, "cache_creation_input_tokens": 0,
                  "cache_read_input_tokens": 0},
    }  # fmt: skip
    return {"type": "message_start", "message": message}


def message_end(stop_reason: str = "end_turn", output_tokens: int = 5, stop_sequence: str | None = None) -> list[dict]:
    delta = {"stop_reason": stop_reason, "stop_sequence": stop_sequence}
    return [
        {"type": "message_delta", "delta": delta, "usage": {"output_tokens": output_tokens}},
        {"type": "message_stop"},
    ]


def text_events(*parts: str, thinking: tuple[str, ...] = (), model: str = "claude-fake") -> list[dict]:
    """A text answer streamed as `parts`, optionally after a thinking block."""
    events = [message_start(model), {"type": "ping"}]
    index = 0
    if thinking:
        events.append({"type": "content_block_start", "index": 0,
                       "content_block": {"type": "thinking", "thinking": "", "signature": ""}})  # fmt: skip
        events += [{"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": t}}
                   for t in thinking]  # fmt: skip
        events.append(
            {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "sig"}}
        )
        events.append({"type": "content_block_stop", "index": 0})
        index = 1
    events.append({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}})
    events += [
        {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": p}} for p in parts
    ]
    events.append({"type": "content_block_stop", "index": index})
    return events + message_end()


def tool_use_events(call_id: str, name: str, pieces: list[str], *, text: str | None = None) -> list[dict]:
    """A tool_use block whose input arrives in `pieces`, optionally after a text block."""
    events = [message_start(), {"type": "ping"}]
    index = 0
    if text:
        events += [
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}},
            {"type": "content_block_stop", "index": 0},
        ]
        index = 1
    events.append({"type": "content_block_start", "index": index,
                   "content_block": {"type": "tool_use", "id": call_id, "name": name, "input": {}}})  # fmt: skip
    events += [{"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": p}}
               for p in pieces]  # fmt: skip
    events.append({"type": "content_block_stop", "index": index})
    return events + message_end("tool_use")


def message_of(events: list[dict]) -> dict:
    """The non-streaming body the same answer would be."""
    message = dict(events[0]["message"])
    content: list[dict] = []
    json: dict[int, str] = {}
    for event in events:
        if event["type"] == "content_block_start":
            content.append(dict(event["content_block"]))
        elif event["type"] == "content_block_delta":
            block, delta = content[event["index"]], event["delta"]
            if delta["type"] == "text_delta":
                block["text"] += delta["text"]
            elif delta["type"] == "thinking_delta":
                block["thinking"] += delta["thinking"]
            elif delta["type"] == "signature_delta":
                block["signature"] = delta["signature"]
            elif delta["type"] == "input_json_delta":
                json[event["index"]] = json.get(event["index"], "") + delta["partial_json"]
        elif event["type"] == "message_delta":
            message.update(event["delta"])
            message["usage"] = {**message["usage"], **event["usage"]}
    for index, text in json.items():
        content[index]["input"] = orjson.loads(text)
    message["content"] = content
    return message
