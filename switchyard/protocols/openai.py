"""What the two OpenAI protocols share: the error object, and the one parser of the failures they report.

Chat Completions and Responses answer errors with the same body,
`{"error": {"message", "type", "param", "code"}}`; `render_error` writes it for errors the proxy
makes up itself and `upstream_error` reads every shape an OpenAI-style upstream reports a failure in.
`describe_error_body` turns a whole upstream error response (any status, any body, HTML included)
into the fields of one error, keeping the provider's own message.
"""

from __future__ import annotations

from typing import Any

import orjson

from switchyard.errors import ClientFacing, UpstreamError, UpstreamFailed
from switchyard.protocols.failures import failed


def error_body(
    message: str, type: str = "invalid_request_error", param: str | None = None, code: str | None = None
) -> dict:
    """The error object both OpenAI protocols use."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def render_error(error: ClientFacing) -> dict:
    """A client-facing error in the OpenAI shape."""
    return error_body(error.message, error.type, error.param, error.code)


def is_error_shape(body: Any) -> bool:
    """Whether a body already is an OpenAI error (and can go to an OpenAI client as the provider sent it)."""
    return (
        type(body) is dict
        and body.get("type") != "error"  # Anthropic's error body also has an `error` object
        and isinstance(body.get("error"), dict)
        and isinstance(body["error"].get("message"), str)
    )


def chunk_failure(event: Any) -> str | None:
    """The message of a Chat error chunk (`{"error": {...}}`), else None."""
    error = event.get("error") if type(event) is dict else None
    if not error:
        return None
    message = error.get("message") if isinstance(error, dict) else error
    return str(message) if message else "error"


def body_failed(body: Any) -> bool:
    """An error inside a 200 body (or one a pack step marked): never a success whose body says otherwise."""
    return type(body) is dict and isinstance(body.get("error"), dict | str) and bool(body["error"])


def upstream_error(event: dict) -> UpstreamFailed:
    """The error an upstream failure carries, in any of the shapes upstreams send: the one parser of them.

    Responses: `response.failed` nests it in `response.error`; the spec's `error` event has
    `code`/`message`/`param` at the top level; the ChatGPT backend sends
    `{"type": "error", "error": {type, code, message}}`. Chat: a chunk or a body `{"error": {...}}`, or
    `{"error": "text"}` from some servers.
    """
    if event.get("type") == "response.failed":
        response = event.get("response")
        error = response.get("error") if isinstance(response, dict) else None
    elif event.get("error"):
        error = event["error"]
    else:
        error = event
    if isinstance(error, str):
        error = {"message": error}
    elif not isinstance(error, dict):
        error = {}
    message = error.get("message")
    message = str(message) if message else "The upstream response failed."
    code = error.get("code")
    code = str(code) if code is not None and code != "" else "server_error"  # some servers send numbers
    # An `error` event's own `type` is the event name, not an error type.
    kind = error.get("type") if error is not event and isinstance(error.get("type"), str) else None
    param = error.get("param") if isinstance(error.get("param"), str) else None
    return failed(message, code, kind, param)


def describe_error_body(parsed: Any, data: bytes, status: int) -> ClientFacing:
    """An upstream error response as the fields of one error, the provider's message kept.

    Providers answer `{"error": {...}}`, `{"error": "text"}`, `{"detail": "..."}`, bare
    `{"code", "message"}` objects, or HTML pages from load balancers; all of them come out as
    one error carrying the provider's own words, so the client's SDK raises with them.
    """
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
        inner = parsed["error"]
        message = inner.get("message") if isinstance(inner.get("message"), str) else None
        code, kind, param = inner.get("code"), inner.get("type"), inner.get("param")
    elif isinstance(parsed, dict):
        inner = parsed.get("error") if isinstance(parsed.get("error"), str) else None
        message = inner or parsed.get("message") or parsed.get("detail") or parsed.get("msg")
        code, kind, param = parsed.get("code"), parsed.get("type"), None
    else:
        text = data.decode("utf-8", "replace").strip()[:500]
        return UpstreamError(f"upstream answered {status}: {text}", code=None, status=status)
    if not isinstance(message, str):
        message = orjson.dumps(parsed).decode()[:500]
    return UpstreamError(
        message,
        code=str(code) if code is not None else None,
        status=status,
        type=kind if isinstance(kind, str) else "upstream_error",
        param=param if isinstance(param, str) else None,
    )


__all__ = [
    "UpstreamFailed",
    "body_failed",
    "describe_error_body",
    "error_body",
    "is_error_shape",
    "render_error",
    "upstream_error",
]
