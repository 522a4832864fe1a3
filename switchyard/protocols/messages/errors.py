"""Anthropic's error shape, its status <-> type table, and the one parser of the failures Anthropic upstreams report.

Errors are `{"type": "error", "error": {"type": TYPE, "message": TEXT}}`, in a 4xx/5xx body or as an
`error` event in a stream that already answered 200 (anthropic.md B; the "Errors" page of the API
reference). Each type goes with one HTTP status; the SDKs pick their exception class by the status, and
Claude Code retries 408, 409, 429 and 5xx and shows the rest to the user.

- `error_body(message, status)` renders an error for a Messages client; `render_error` does it for any
  `ClientFacing` error, its type taken from its status.
- `upstream_error(body_or_event)` reads an Anthropic failure into the project's `UpstreamFailed`, classified
  by the same table as every other protocol's failures (`switchyard.protocols.failures`), so an
  `overloaded_error` is "overloaded" to a Codex or a Chat client as well.
- `client_status` is the status policy for Messages clients.
"""

from __future__ import annotations

from typing import Any

import orjson

from switchyard.errors import ClientFacing, UpstreamError, UpstreamFailed
from switchyard.protocols.failures import failed

# The documented table (docs.claude.com/en/api/errors), plus the types the 2026 SDK knows beyond it
# (billing_error 402, timeout_error 504).
STATUS_OF_TYPE: dict[str, int] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}
TYPE_OF_STATUS: dict[int, str] = {status: kind for kind, status in STATUS_OF_TYPE.items()}

# Anthropic's error type -> the code the shared failure table (`failures.py`) classifies by: what a Codex
# or Chat client behind a bridge is told. Types not listed are classified by their message.
_CODE_OF_TYPE = {
    "invalid_request_error": "invalid_request_error",
    "request_too_large": "invalid_request_error",
    "rate_limit_error": "rate_limit_exceeded",
    "overloaded_error": "server_is_overloaded",
    "api_error": "server_error",
    "timeout_error": "server_error",
}
# The failure table's codes that have an Anthropic type of their own (the rest go by status).
_TYPE_OF_CODE = {
    "rate_limit_exceeded": "rate_limit_error",
    "insufficient_quota": "rate_limit_error",
    "server_is_overloaded": "overloaded_error",
    "slow_down": "overloaded_error",
    "context_length_exceeded": "invalid_request_error",
    "invalid_prompt": "invalid_request_error",
}


def error_type(status: int, code: str | None = None) -> str:
    """The Anthropic error type for an HTTP status (and, where it says more, the failure's code)."""
    if code in _TYPE_OF_CODE:
        return _TYPE_OF_CODE[code]
    if status in TYPE_OF_STATUS:
        return TYPE_OF_STATUS[status]
    if status == 503:
        return "overloaded_error"
    # "We may also use this error type for other 4XX status codes" (the Errors page).
    return "invalid_request_error" if 400 <= status < 500 else "api_error"


def error_body(message: str, status: int = 400, code: str | None = None) -> dict:
    """An Anthropic error body (and the data of an `error` event) for this message and status."""
    return {"type": "error", "error": {"type": error_type(status, code), "message": message}}


def error_event(failure: ClientFacing) -> dict:
    """The `error` event a Messages stream ends with for this failure."""
    return error_body(failure.message, failure.status, failure.code)


def render_error(error: ClientFacing) -> dict:
    """A client-facing error in Anthropic's shape: its type from its status (or an Anthropic type it already has)."""
    kind = error.type if error.type in STATUS_OF_TYPE else error_type(error.status, error.code)
    return {"type": "error", "error": {"type": kind, "message": error.message}}


def is_error_shape(body: Any) -> bool:
    """Whether a body already is an Anthropic error (and can go to a Messages client as the provider sent it)."""
    if type(body) is not dict or body.get("type") != "error":
        return False
    error = body.get("error")
    return isinstance(error, dict) and isinstance(error.get("type"), str) and isinstance(error.get("message"), str)


def body_failed(body: Any) -> bool:
    """A 200 body that is an error (`type: error`, or an `error` object a pack step put there)."""
    return type(body) is dict and (body.get("type") == "error" or bool(body.get("error")))


def upstream_error(event: Any) -> UpstreamFailed:
    """An Anthropic failure (an error body, or an `error` stream event) as `UpstreamFailed`.

    Classified by the shared table (`failures.failed`) from the code its type stands for
    (`overloaded_error` -> `server_is_overloaded`, `rate_limit_error` -> `rate_limit_exceeded`) and its
    message ("prompt is too long" is a context-length error), so every client protocol hears the same news.
    The exception's `type` keeps Anthropic's type.
    """
    error = event.get("error") if type(event) is dict else None
    if isinstance(error, str):
        error = {"message": error}
    elif not isinstance(error, dict):
        error = {}
    message = error.get("message")
    message = str(message) if message else "The upstream response failed."
    kind = error.get("type") if isinstance(error.get("type"), str) else None
    return failed(message, _CODE_OF_TYPE.get(kind, kind), kind)


def describe_error_body(parsed: Any, data: bytes, status: int) -> ClientFacing:
    """An upstream error response (any status, any body) as one error, the provider's message kept."""
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
        inner = parsed["error"]
        message = inner.get("message") if isinstance(inner.get("message"), str) else None
        kind = inner.get("type") if isinstance(inner.get("type"), str) else None
        code = inner.get("code") if isinstance(inner.get("code"), str) else _CODE_OF_TYPE.get(kind)
    elif isinstance(parsed, dict):
        message = parsed.get("message") or parsed.get("detail")
        message = message if isinstance(message, str) else None
        kind, code = None, None
    else:
        text = data.decode("utf-8", "replace").strip()[:500]
        return UpstreamError(f"upstream answered {status}: {text}", code=None, status=status)
    if message is None:
        message = orjson.dumps(parsed).decode()[:500]
    return UpstreamError(message, code=code, status=status, type=kind or "upstream_error")


# Statuses a Messages client acts on as they are: the SDK raises a class per status, Claude Code retries
# 408, 409, 429 and 5xx and shows the rest (anthropic.md B).
_CLIENT_KEEPS = frozenset({400, 401, 402, 403, 404, 408, 409, 413, 429})


def client_status(status: int, code: str | None = None) -> int:
    """The status a Messages client must see for an upstream's or the proxy's failure.

    A pack's own bug (`step_failed`) is a 400: deterministic, so retrying it (Claude Code retries 5xx
    several times) helps nobody. An overloaded upstream is Anthropic's 529, which Claude Code reports as
    overload. Other 4xx (422 from a provider's validator) are 400s, as Anthropic uses invalid_request_error
    for any other 4xx.
    """
    if code == "step_failed":
        return 400
    if code in ("server_is_overloaded", "slow_down") or status == 529:
        return 529
    if 400 <= status < 500 and status not in _CLIENT_KEEPS:
        return 400
    return status
