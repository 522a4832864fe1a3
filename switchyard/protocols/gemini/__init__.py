"""The Gemini API (`POST /v1beta/models/{model}:generateContent`): what Gemini CLI and the google-genai SDKs speak.

Unlike the other protocols, Gemini says in the URL what the others say in the body: the model
(`/models/{model}:...`), whether the answer streams (`:streamGenerateContent` or `:generateContent`)
and how a stream is framed (`?alt=sse`: Server-Sent Events; without it one JSON array written as it
grows). Inside Switchyard a Gemini body carries those facts as top-level fields, like every other
protocol's body: `model`, `stream` and, for an SSE stream, `alt: "sse"` (`routes.py` reads them off
the client's path; `upstream_route` puts them back into the upstream's path and out of the body). So
a pack's `match: model == 'x'`, its `models:` list and `force_stream` work for Gemini requests as
for any other, and the server stays protocol-agnostic.

A stream is `data: JSON` chunks, each a whole `GenerateContentResponse` with only the new parts,
with no end marker and no terminal event: it is over when it closes (gemini.md 3). `finishReason`
tells a finished answer from a cut one (`passthrough.py`). Errors are Google's
`{"error": {"code", "message", "status"}}` (`errors.py`), also as a stream's last chunk. Status policy
(`errors.client_status`): a pack's bug is a 400, overload is 503, other 4xx the SDKs have no use for
are 400.
"""

from __future__ import annotations

from urllib.parse import quote

import orjson

from switchyard.protocols import Framing, Protocol, sse
from switchyard.protocols.gemini.aggregate import final_response
from switchyard.protocols.gemini.errors import (
    body_failed,
    client_status,
    describe_error_body,
    is_error_shape,
    render_error,
    upstream_error,
)
from switchyard.protocols.gemini.passthrough import GeminiPassthrough
from switchyard.protocols.gemini.routes import PREFIXES, ROUTE, list_models, read_route

# The fields a Gemini body carries inside Switchyard that the wire carries in the URL.
ENVELOPE = ("model", "stream", "alt")


def failure(event) -> str | None:
    """The message of an error chunk (`{"error": {...}}`), else None."""
    error = event.get("error") if type(event) is dict else None
    if not error:
        return None
    message = error.get("message") if isinstance(error, dict) else error
    return str(message) if message else "error"


class JsonArray:
    """The JSON-array stream (`:streamGenerateContent` without `alt=sse`): `[` chunk `,` chunk ... `]`.

    Per stream, since the first chunk opens the array. A Gemini stream always has a chunk before its
    end (a translator that closes without one sends an error chunk), so the `]` never stands alone.
    """

    __slots__ = ("first",)

    def __init__(self) -> None:
        self.first = True

    def frame(self, event) -> bytes:
        if self.first:
            self.first = False
            return b"[" + orjson.dumps(event)
        return b",\r\n" + orjson.dumps(event)


_SSE = Framing(sse.encode_json)


def framing(client_body: dict) -> Framing:
    """SSE for `alt=sse` (what both SDKs and Gemini CLI ask for), else the JSON array."""
    if type(client_body) is dict and client_body.get("alt") == "sse":
        return _SSE
    return Framing(JsonArray().frame, b"]", b"application/json; charset=utf-8")


def upstream_route(body: dict) -> str:
    """The path (and query) to append to a Gemini upstream's URL for this body; the envelope leaves the body.

    `/models/{model}:streamGenerateContent?alt=sse` for a stream (the proxy reads SSE), else
    `/models/{model}:generateContent`. A model already named `models/...` or `tunedModels/...` keeps its
    collection, as the SDKs do.
    """
    model = body.pop("model", None)
    stream = body.pop("stream", None) is True
    body.pop("alt", None)
    name = str(model or "")
    if not name.startswith(("models/", "tunedModels/")):
        name = f"models/{name}"
    path = "/" + quote(name, safe="/")
    return f"{path}:streamGenerateContent?alt=sse" if stream else f"{path}:generateContent"


def usage_of(event) -> tuple[int, int] | None:
    """(input tokens, output tokens) of a chunk's or a body's `usageMetadata`, thoughts counted as output."""
    usage = event.get("usageMetadata") if type(event) is dict else None
    if type(usage) is not dict:
        return None
    prompt = usage.get("promptTokenCount") or 0
    output = (usage.get("candidatesTokenCount") or 0) + (usage.get("thoughtsTokenCount") or 0)
    return int(prompt) + int(usage.get("toolUsePromptTokenCount") or 0), int(output)


def _chunk(parts: list, finish: str | None = None, **extra) -> dict:
    candidate: dict = {"content": {"role": "model", "parts": parts}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    return {"candidates": [candidate], "modelVersion": "m", "responseId": "r1", **extra}


# What Gemini upstreams stream (gemini.md 3): thought parts first, text split anywhere, a function call
# whole with its signature, the last chunk with finishReason and usage, maybe an empty signed part after.
STREAM_SHAPES = (
    ("a thought chunk", _chunk([{"text": "**Planning**", "thought": True}])),
    ("a text chunk", _chunk([{"text": "Hello"}])),
    (
        "a function call chunk",
        _chunk([{"functionCall": {"name": "f", "args": {"a": 1}}, "thoughtSignature": "c2ln"}]),
    ),
    (
        "a finish chunk with usage",
        _chunk([{"text": ""}], "STOP",
               usageMetadata={"promptTokenCount": 5, "candidatesTokenCount": 2, "totalTokenCount": 7}),
    ),
    ("an empty signed part", _chunk([{"text": "", "thoughtSignature": "c2ln"}])),
    ("a blocked prompt", {"promptFeedback": {"blockReason": "SAFETY"}, "modelVersion": "m"}),
    ("an error chunk", {"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}),
)  # fmt: skip

PROTOCOL = Protocol(
    name="gemini",
    route=ROUTE,
    upstream_path="",  # the path depends on the body: `upstream_route`
    passthrough=lambda client_body: GeminiPassthrough(),
    aggregate=final_response,
    frame=sse.encode_json,
    terminal=lambda event: False,  # no terminal event: a Gemini stream ends when it closes
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
        "alt": "sse",
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "tools": [
            {"functionDeclarations": [{"name": "f", "description": "d", "parametersJsonSchema": {"type": "object"}}]}
        ],
        "generationConfig": {"maxOutputTokens": 100, "thinkingConfig": {"includeThoughts": True}},
    },
    auth_header=lambda key: {"x-goog-api-key": key},
    route_prefixes=PREFIXES,
    read_route=read_route,
    framing=framing,
    upstream_route=upstream_route,
    model_lists=(("/v1beta/models", list_models),),
)
