"""Where a Gemini upstream is called: the model and the kind of call are in the URL, not the body.

Every protocol's body here carries `model` and `stream`, so packs select and rewrite by them the same way
for every upstream. Gemini's `GenerateContentRequest` has neither (and refuses both as unknown fields):
the model is a path segment and streaming is a different method. `upstream_call` takes them out of the
body the steps made and makes the path appended to the pack's `upstream.url` (which ends in the API
version, `.../v1beta`):

    {model: gemini-2.5-pro, stream: true, contents: ...} -> /models/gemini-2.5-pro:streamGenerateContent?alt=sse
    {model: gemini-2.5-pro, contents: ...}               -> /models/gemini-2.5-pro:generateContent

Streams are always asked for as SSE (`alt=sse`): without it Gemini writes one JSON array a piece at a
time, which no SSE reader takes. A `models/` prefix on the model (the SDKs' resource name) is not doubled.
"""

from __future__ import annotations

from urllib.parse import quote

from switchyard.errors import RequestError


def upstream_call(body: dict) -> tuple[str, dict]:
    """(the path of this call, the body Gemini receives) for a request body with `model` and `stream`."""
    model = body.pop("model", None)
    stream = body.pop("stream", None) is True
    if not isinstance(model, str) or not model.strip("/"):
        raise RequestError("'model' must be a string naming a Gemini model", param="model", code="invalid_model")
    name = model.removeprefix("models/")
    method = ":streamGenerateContent?alt=sse" if stream else ":generateContent"
    return "/models/" + quote(name, safe="-._~") + method, body
