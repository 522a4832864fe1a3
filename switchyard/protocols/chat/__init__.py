"""Chat Completions (`POST /v1/chat/completions`): the protocol most providers and SDKs speak.

A stream is `data: JSON` chunks (no `event:` names) closed by `data: [DONE]`; it is over for the
client once a `finish_reason` or an error chunk was seen (`passthrough`). Errors use the OpenAI
error shape (`switchyard.protocols.openai`). Asked for a stream by the proxy (a pack's
`force_stream`), a Chat upstream is also asked for usage, so the body folded from the stream
carries it as a non-streaming answer would (a step may still drop it).
"""

from __future__ import annotations

from switchyard.protocols import Protocol, openai, sse
from switchyard.protocols.chat.aggregate import chat_completion
from switchyard.protocols.chat.passthrough import ChatPassthrough
from switchyard.protocols.chat.usage import ChatMeter, body_usage


def _ask_stream(body: dict) -> None:
    options = body.get("stream_options")
    if not isinstance(options, dict):
        options = body["stream_options"] = {}
    options.setdefault("include_usage", True)


def _chunk(delta: dict, finish_reason: str | None = None, **extra) -> dict:
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "m",
        "choices": [choice],
        **extra,
    }


# What Chat upstreams stream (protocols.md B.3): the first chunk carries only the role (content null
# on some servers), later ones text, reasoning or tool-call pieces, an empty delta with the finish
# reason, and with include_usage a last chunk whose `choices` is empty.
STREAM_SHAPES = (
    ("a role-only first chunk", _chunk({"role": "assistant", "content": None})),
    ("a text chunk", _chunk({"content": "Hello"})),
    ("a reasoning chunk", _chunk({"reasoning_content": "Thinking"})),
    (
        "a tool-call chunk",
        _chunk({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                                "function": {"name": "f", "arguments": ""}}]}),
    ),
    ("an empty delta", _chunk({})),
    ("a finish chunk", _chunk({}, "stop")),
    (
        "a usage-only chunk",
        {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0, "model": "m", "choices": [],
         "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}},
    ),
    ("an error chunk", {"error": {"message": "overloaded", "type": "server_error", "code": None}}),
)  # fmt: skip

PROTOCOL = Protocol(
    name="chat",
    route="/v1/chat/completions",
    upstream_path="/chat/completions",
    passthrough=lambda client_body: ChatPassthrough(),
    aggregate=chat_completion,
    frame=sse.encode_json,
    terminal=lambda event: False,  # a Chat stream ends with [DONE], written after close
    failure=openai.chunk_failure,
    render_error=openai.render_error,
    is_error_shape=openai.is_error_shape,
    body_failed=openai.body_failed,
    upstream_error=openai.upstream_error,
    describe_error_body=openai.describe_error_body,
    end=sse.DONE,
    ask_stream=_ask_stream,
    stream_shapes=STREAM_SHAPES,
    sample_request={
        "model": "m",
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        "max_tokens": 100,
    },
    usage=body_usage,
    meter=ChatMeter,
)
