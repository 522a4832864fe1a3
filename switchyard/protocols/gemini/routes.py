"""Where a Gemini client calls: the model and the method in the path, the key perhaps in the query.

    POST {/v1beta|/v1}/models/{model}:generateContent         one answer
    POST {/v1beta|/v1}/models/{model}:streamGenerateContent   a stream: `?alt=sse` SSE, else a JSON array
    POST {/v1beta|/v1}/models/{model}:countTokens             answered here (`count_tokens`)
    GET  /v1beta/models                                        the packs' models (`list_models`)

Both SDKs default to `v1beta` and can be told `v1` (gemini.md 1); `GET /v1/models` stays the OpenAI
listing, so only `v1beta` lists in Gemini's shape. The model may hold slashes (`Qwen/Qwen3-Coder`): it
is everything between `/models/` and the last `:`. A key in the query (`?key=`, the REST form) is
handed over as the `x-goog-api-key` header it stands for, so client tokens and key forwarding treat it
like any other credential, and the query string itself is never logged, traced or sent upstream.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

import orjson

from switchyard.errors import RequestError
from switchyard.protocols import Routed

PREFIXES = ("/v1beta/models/", "/v1/models/")
# The route as logs and traces name it (never the real path, which names a model, or its query).
ROUTE = "/v1beta/models/{model}:generateContent"

# `:method` -> the body facts it stands for (a None value removes the field).
_METHODS = {
    "generateContent": {"stream": False, "alt": None},
    "streamGenerateContent": {"stream": True},
}


def read_route(path: str, query: str) -> Routed | None:
    """The facts of a Gemini client's POST, or None when the path is not one of Gemini's routes."""
    prefix = next((p for p in PREFIXES if path.startswith(p)), None)
    if prefix is None:
        return None
    model, colon, method = path[len(prefix) :].rpartition(":")
    if not colon or not model or (method not in _METHODS and method != "countTokens"):
        return None
    params = dict(parse_qsl(query)) if query else {}
    key = params.get("key")
    headers = {"x-goog-api-key": key} if key else {}
    if method == "countTokens":
        return Routed({"model": model}, headers, count_tokens)
    facts = {"model": model, **_METHODS[method]}
    if method == "streamGenerateContent":
        facts["alt"] = "sse" if params.get("alt") == "sse" else None
    return Routed(facts, headers)


def count_tokens(body: dict) -> dict:
    """`:countTokens`, answered here: an estimate, since Chat upstreams cannot count.

    The body is `{"contents": [...]}` or `{"generateContentRequest": {...}}` (gemini.md 1). The estimate
    is the length of the request's content (contents, system instruction, tools, as compact JSON) divided
    by 4, rounded up: the rule of thumb for BPE tokenizers, a little high on the safe side for a client
    deciding when to compress its history.
    """
    if not isinstance(body, dict):
        raise RequestError("The request body must be a JSON object.")
    inner = body.get("generateContentRequest")
    if inner is not None:
        if body.get("contents") is not None:
            raise RequestError(
                "Give either 'contents' or 'generateContentRequest', not both.", param="generateContentRequest"
            )
        if not isinstance(inner, dict):
            raise RequestError("'generateContentRequest' must be an object.", param="generateContentRequest")
        body = inner
    contents = body.get("contents")
    if contents is not None and not isinstance(contents, list):
        raise RequestError("'contents' must be an array.", param="contents")
    counted = {k: body[k] for k in ("contents", "systemInstruction", "tools") if body.get(k)}
    return {"totalTokens": max(1, -(-len(orjson.dumps(counted)) // 4)) if counted else 0}


def list_models(models: list[tuple[str, str]]) -> dict:
    """`GET /v1beta/models`: every pack's models as Gemini `Model`s (no page token: the list is short)."""
    return {
        "models": [
            {
                "name": f"models/{model}",
                "baseModelId": model,
                "version": "switchyard",
                "displayName": model,
                "description": f"served by the pack {pack}",
                "supportedGenerationMethods": ["generateContent", "streamGenerateContent", "countTokens"],
            }
            for model, pack in models
        ]
    }
