"""Anthropic Messages (`POST /v1/messages`): what Claude Code and the anthropic SDKs speak.

A stream is named events (`event: content_block_delta` + `data: JSON` whose `type` is the same name;
the SDKs ignore an event without its `event:` line) and is over for the client at `message_stop` or
an `error` event; there is no end marker. `ping` events may come anywhere (`MessagesPassthrough.keepalive`
makes one for the relay). Every stream carries usage, so the proxy asks for nothing when it makes a
request a stream (`force_stream`).

Errors are `{"type": "error", "error": {"type", "message"}}` with one status per type
(`errors.py`). Status policy (`errors.client_status`): a pack's bug is a 400, overload is 529, other 4xx
the SDK has no class for are 400.
"""

from __future__ import annotations

from switchyard.protocols import Protocol, sse
from switchyard.protocols.messages.aggregate import final_message
from switchyard.protocols.messages.errors import (
    body_failed,
    client_status,
    describe_error_body,
    is_error_shape,
    render_error,
    upstream_error,
)
from switchyard.protocols.messages.passthrough import MessagesPassthrough
from switchyard.protocols.messages.usage import MessagesMeter, body_usage

TERMINAL_EVENTS = frozenset({"message_stop", "error"})


def count_tokens(body: dict) -> dict:
    """`POST /v1/messages/count_tokens`, answered here: an estimate, since Chat upstreams cannot count.

    The estimate is the length of the request's text (system, messages, tools, as compact JSON)
    divided by 4, rounded up: the usual rule of thumb for English text and code with BPE tokenizers.
    Claude Code uses the figure to decide when to compact; erring a little high is the safe side.
    """
    import orjson

    if not isinstance(body, dict):
        from switchyard.errors import RequestError

        raise RequestError("The request body must be a JSON object.")
    counted = {key: body.get(key) for key in ("system", "messages", "tools") if body.get(key) is not None}
    return {"input_tokens": max(1, -(-len(orjson.dumps(counted)) // 4))}


def terminal(event) -> bool:
    return type(event) is dict and event.get("type") in TERMINAL_EVENTS


def failure(event) -> str | None:
    """The message of an `error` event, else None."""
    if type(event) is not dict or event.get("type") != "error":
        return None
    error = event.get("error")
    message = error.get("message") if isinstance(error, dict) else None
    return str(message) if message else "error"


_MESSAGE = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "m",
    "content": [],
    "stop_reason": None,
    "stop_sequence": None,
    "usage": {"input_tokens": 1, "output_tokens": 1},
}
# What Anthropic upstreams stream (anthropic.md B), for `switchyard test` to run a pack's response steps on.
STREAM_SHAPES = (
    ("message_start", {"type": "message_start", "message": _MESSAGE}),
    ("a text block start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    ("a ping", {"type": "ping"}),
    ("a text delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}}),
    (
        "a thinking delta",
        {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Hm"}},
    ),
    (
        "a tool_use block start",
        {"type": "content_block_start", "index": 1,
         "content_block": {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}},
    ),
    (
        "a tool input delta",
        {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"a\":"}},
    ),
    ("a block stop", {"type": "content_block_stop", "index": 0}),
    (
        "message_delta",
        {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
         "usage": {"output_tokens": 5}},
    ),
    ("message_stop", {"type": "message_stop"}),
    ("an error event", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
)  # fmt: skip

PROTOCOL = Protocol(
    name="messages",
    route="/v1/messages",
    upstream_path="/messages",
    passthrough=lambda client_body: MessagesPassthrough(),
    aggregate=final_message,
    frame=sse.encode_typed,  # `event: NAME` + `data: JSON`, the name the event's own `type`
    terminal=terminal,
    failure=failure,
    render_error=render_error,
    is_error_shape=is_error_shape,
    body_failed=body_failed,
    upstream_error=upstream_error,
    describe_error_body=describe_error_body,
    client_status=client_status,
    stream_shapes=STREAM_SHAPES,
    sample_request={
        "model": "m",
        "stream": True,
        "max_tokens": 100,
        "system": [{"type": "text", "text": "Be brief."}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        "tools": [{"name": "f", "description": "d", "input_schema": {"type": "object", "properties": {}}}],
    },
    auth_header=lambda key: {"x-api-key": key},
    required_headers={"anthropic-version": "2023-06-01"},
    local_routes=(("/v1/messages/count_tokens", count_tokens),),
    usage=body_usage,
    meter=MessagesMeter,
)
