"""Strict checks of Gemini objects against the google-genai SDK's own types.

Every object the proxy builds for a Gemini client (a response, a stream chunk, an error, a model
listing, a token count) must be one the SDK reads without loss: its pydantic models forbid unknown
fields (`extra="forbid"`), and `strict=True` refuses a string where a number belongs. A field name we
misspell or invent fails here, not in a user's client.
"""

from __future__ import annotations

from typing import Any

import conformance
import orjson
from google.genai import types


def response(obj: Any) -> types.GenerateContentResponse:
    """A `GenerateContentResponse` (a body, or one stream chunk), read strictly (and counted by conformance)."""
    conformance.gemini_response(obj)
    return types.GenerateContentResponse.model_validate_json(orjson.dumps(obj), strict=True)


def request(obj: Any) -> None:
    """A `generateContent` request body as a client may send it (minus the envelope fields Switchyard keeps in
    it), read strictly: the SDK folds its fields into `GenerateContentConfig`, which admits what clients
    send beside the REST types (a string `systemInstruction`). What we send upstream is checked by field, by
    tests/conformance.py's `gemini_request`."""
    body = {k: v for k, v in orjson.loads(orjson.dumps(obj)).items() if k not in ("model", "stream", "alt")}
    for content in body.pop("contents", []):
        types.Content.model_validate_json(orjson.dumps(content), strict=True)
    config = body.pop("generationConfig", {})
    for key in ("systemInstruction", "tools", "toolConfig", "safetySettings", "cachedContent"):
        if key in body:
            config[key] = body.pop(key)
    types.GenerateContentConfig.model_validate_json(orjson.dumps(config), strict=True)
    assert not body, f"fields no Gemini request has: {sorted(body)}"


def error(obj: Any, status: int) -> dict:
    """A Google error body: `code` is the HTTP status, `status` the google.rpc name, `message` text."""
    assert set(obj) == {"error"}, obj
    inner = obj["error"]
    assert inner["code"] == status and isinstance(inner["message"], str) and inner["status"].isupper(), obj
    assert set(inner) <= {"code", "message", "status", "details"}, inner
    return inner


# The REST `Model` (gemini.md 1); the SDK renames some on the way in (`supportedGenerationMethods` is its
# `supported_actions`), so the wire names are checked here and the SDK's reading of them in the server's tests.
MODEL_FIELDS = frozenset(
    {"name", "baseModelId", "version", "displayName", "description", "inputTokenLimit", "outputTokenLimit",
     "supportedGenerationMethods", "temperature", "maxTemperature", "topP", "topK", "thinking"}
)  # fmt: skip


def models(obj: Any) -> list[dict]:
    """A `GET /v1beta/models` answer: every model has only REST `Model` fields (the SDK's `models.list()`
    reading it is tested against the server)."""
    assert set(obj) <= {"models", "nextPageToken"}, obj
    for model in obj["models"]:
        assert set(model) <= MODEL_FIELDS, set(model) - MODEL_FIELDS
        assert model["name"].startswith("models/")
    return obj["models"]


def count(obj: Any) -> types.CountTokensResponse:
    return types.CountTokensResponse.model_validate_json(orjson.dumps(obj), strict=True)
