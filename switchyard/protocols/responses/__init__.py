"""OpenAI Responses (`POST /v1/responses`): what Codex CLI speaks.

A stream is named events (`event: response.output_text.delta` + `data: JSON`) and is over for the
client at a terminal event (`response.completed`, `response.incomplete`, `response.failed`); there
is no end marker. Errors use the OpenAI error shape. Status policy: Codex shows a 400 to the user
but retries other 4xx and 5xx blindly (protocols.md D.4), so a provider's 404 or 422 for a bad
request is a 400 to a Responses client, and so is a pack's own bug (`step_failed`): retrying a
deterministic failure five times helps nobody. Auth (401, 403) and rate limiting (429) stay as
they are.
"""

from __future__ import annotations

from switchyard.protocols import Protocol, openai, sse
from switchyard.protocols.responses.aggregate import final_response
from switchyard.protocols.responses.passthrough import TERMINAL_EVENTS, ResponsesPassthrough
from switchyard.protocols.responses.usage import ResponsesMeter, body_usage

_CLIENT_KEEPS = frozenset({401, 403, 429})


def _client_status(status: int, code: str | None = None) -> int:
    if code == "step_failed":
        return 400
    return 400 if 400 < status < 500 and status not in _CLIENT_KEEPS else status


def _terminal(event) -> bool:
    return type(event) is dict and event.get("type") in TERMINAL_EVENTS


def _failure(event) -> str | None:
    if type(event) is not dict or event.get("type") != "response.failed":
        return None
    response = event.get("response")
    error = response.get("error") if isinstance(response, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return str(message) if message else "response.failed"


_RESPONSE = {"id": "resp_1", "object": "response", "status": "in_progress", "model": "m", "output": []}
_TEXT_ITEM = {"id": "msg_1", "type": "message", "role": "assistant", "status": "completed",
              "content": [{"type": "output_text", "text": "Hello", "annotations": []}]}  # fmt: skip
# What Responses upstreams stream (protocols.md A.4): lifecycle events around item and delta events.
STREAM_SHAPES = (
    ("response.created", {"type": "response.created", "sequence_number": 0, "response": _RESPONSE}),
    (
        "an empty message item added",
        {"type": "response.output_item.added", "sequence_number": 1, "output_index": 0,
         "item": {"id": "msg_1", "type": "message", "role": "assistant", "status": "in_progress", "content": []}},
    ),
    (
        "a text delta",
        {"type": "response.output_text.delta", "sequence_number": 2, "item_id": "msg_1", "output_index": 0,
         "content_index": 0, "delta": "Hello"},
    ),
    (
        "an item done",
        {"type": "response.output_item.done", "sequence_number": 3, "output_index": 0, "item": _TEXT_ITEM},
    ),
    (
        "response.completed",
        {"type": "response.completed", "sequence_number": 4,
         "response": {**_RESPONSE, "status": "completed", "output": [_TEXT_ITEM],
                      "usage": {"input_tokens": 1, "output_tokens": 1, "total_tokens": 2}}},
    ),
    ("an error event", {"type": "error", "sequence_number": 5, "code": "server_error", "message": "overloaded"}),
)  # fmt: skip

PROTOCOL = Protocol(
    name="responses",
    route="/v1/responses",
    upstream_path="/responses",
    passthrough=lambda client_body: ResponsesPassthrough(),
    aggregate=final_response,
    frame=sse.encode_typed,
    terminal=_terminal,
    failure=_failure,
    render_error=openai.render_error,
    is_error_shape=openai.is_error_shape,
    body_failed=openai.body_failed,
    upstream_error=openai.upstream_error,
    describe_error_body=openai.describe_error_body,
    client_status=_client_status,
    stream_shapes=STREAM_SHAPES,
    sample_request={
        "model": "m",
        "stream": True,
        "instructions": "Be brief.",
        "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}],
        "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}],
        "max_output_tokens": 100,
    },
    usage=body_usage,
    meter=ResponsesMeter,
)
