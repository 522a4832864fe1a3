"""Google's error shape, its status <-> HTTP code table, and the one parser of the failures Gemini upstreams report.

Errors are `{"error": {"code": HTTP, "message": TEXT, "status": "INVALID_ARGUMENT", "details": [...]}}`,
in a 4xx/5xx body, as a `data:` event of an `alt=sse` stream, or array-wrapped (`[{"error": ...}]`) in
the JSON-array stream (gemini.md 5). `code` is the HTTP status the answer carries; `status` is the
google.rpc code name the SDKs and Gemini CLI read: the CLI retries 429, 499 and 5xx, never a 400, and
treats a `RESOURCE_EXHAUSTED` whose quota id says `PerDay` as terminal.

- `render_error` writes any `ClientFacing` error for a Gemini client; the failure's own code (ours, or
  the provider's) goes along as a `google.rpc.ErrorInfo` reason, which the SDKs keep in `details`.
- `upstream_error` reads a Gemini failure into the project's `UpstreamFailed`, classified by the shared
  table (`switchyard.protocols.failures`), so `RESOURCE_EXHAUSTED` is a rate limit to a Codex or a
  Chat client as well, and a daily quota is `insufficient_quota` (Codex stops on it).
- `client_status` is the status policy for Gemini clients.
"""

from __future__ import annotations

from typing import Any

import orjson

from switchyard.errors import ClientFacing, UpstreamError, UpstreamFailed
from switchyard.protocols.failures import failed

# google.rpc.Code names by HTTP status, as Google APIs map them (the Gemini troubleshooting page lists
# 400, 403, 404, 429, 500, 503, 504; the rest are the standard mapping of the same codes).
STATUS_OF_CODE: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
CODE_OF_STATUS: dict[str, int] = {name: code for code, name in STATUS_OF_CODE.items()} | {
    "FAILED_PRECONDITION": 400,
    "OUT_OF_RANGE": 400,
    "ALREADY_EXISTS": 409,
    "UNKNOWN": 500,
    "DATA_LOSS": 500,
}

# A Google status -> the code the shared failure table (`failures.py`) classifies by: what a Codex or a
# Chat client behind a bridge is told. Statuses not listed are classified by their message.
_FAILURE_CODE = {
    "INVALID_ARGUMENT": "invalid_request_error",
    "FAILED_PRECONDITION": "invalid_request_error",
    "OUT_OF_RANGE": "invalid_request_error",
    "NOT_FOUND": "invalid_request_error",
    "RESOURCE_EXHAUSTED": "rate_limit_exceeded",
    "UNAVAILABLE": "server_is_overloaded",
    "INTERNAL": "server_error",
    "UNKNOWN": "server_error",
    "DEADLINE_EXCEEDED": "server_error",
}
# The failure table's codes that have a Google status of their own (the rest go by HTTP status).
_STATUS_OF_FAILURE = {
    "rate_limit_exceeded": "RESOURCE_EXHAUSTED",
    "insufficient_quota": "RESOURCE_EXHAUSTED",
    "server_is_overloaded": "UNAVAILABLE",
    "slow_down": "UNAVAILABLE",
    "context_length_exceeded": "INVALID_ARGUMENT",
    "invalid_prompt": "INVALID_ARGUMENT",
    "step_failed": "FAILED_PRECONDITION",  # the pack in front of the model is broken: not the request's fault
}
_ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"


def google_status(code: int, failure: str | None = None) -> str:
    """The google.rpc status name for an HTTP status (and, where it says more, the failure's code)."""
    if failure in _STATUS_OF_FAILURE:
        return _STATUS_OF_FAILURE[failure]
    if code in STATUS_OF_CODE:
        return STATUS_OF_CODE[code]
    if 400 <= code < 500:
        return "FAILED_PRECONDITION" if code == 402 else "INVALID_ARGUMENT"
    return "UNAVAILABLE" if code == 529 else "INTERNAL"


def error_body(message: str, code: int = 400, failure: str | None = None) -> dict:
    """A Gemini error body (and the data of an error event) for this message, HTTP status and failure code."""
    error: dict = {"code": code, "message": message, "status": google_status(code, failure)}
    if failure:
        error["details"] = [{"@type": _ERROR_INFO, "reason": failure, "domain": "switchyard"}]
    return {"error": error}


def render_error(error: ClientFacing) -> dict:
    """A client-facing error in Google's shape; `code` is the status the answer carries."""
    return error_body(error.message, error.status, error.code)


def error_event(failure: ClientFacing) -> dict:
    """The event a Gemini stream ends with for this failure (the SDKs raise on a chunk with `error`)."""
    return render_error(failure)


def is_error_shape(body: Any) -> bool:
    """Whether a body already is a Google error (and can go to a Gemini client as the provider sent it)."""
    if type(body) is not dict:
        return False
    error = body.get("error")
    return (
        isinstance(error, dict)
        and isinstance(error.get("code"), int)
        and isinstance(error.get("message"), str)
        and isinstance(error.get("status"), str)
    )


def body_failed(body: Any) -> bool:
    """A 200 body that is an error (Google's shape, or an `error` object a pack step put there)."""
    return type(body) is dict and bool(body.get("error"))


def _unwrap(body: Any) -> Any:
    # The JSON-array stream wraps its error too: `[{"error": {...}}]`.
    if type(body) is list and len(body) == 1:
        return body[0]
    return body


def upstream_error(event: Any) -> UpstreamFailed:
    """A Gemini failure (an error body, an error event, an array-wrapped error) as `UpstreamFailed`.

    Classified by the shared table from the code its status stands for; a `RESOURCE_EXHAUSTED` whose
    `QuotaFailure` names a daily quota is `insufficient_quota`, which waiting a minute will not fix (Gemini
    CLI makes the same call). The exception's `type` keeps Google's status.
    """
    event = _unwrap(event)
    error = event.get("error") if type(event) is dict else None
    if isinstance(error, str):
        error = {"message": error}
    elif not isinstance(error, dict):
        error = {}
    message = error.get("message")
    message = str(message) if message else "The upstream response failed."
    status = error.get("status") if isinstance(error.get("status"), str) else None
    return failed(message, _failure_code(status, error), status)


def _failure_code(status: str | None, error: dict) -> str | None:
    code = _FAILURE_CODE.get(status) if status else None
    if code == "rate_limit_exceeded" and _daily_quota(error):
        return "insufficient_quota"
    return code


def _daily_quota(error: dict) -> bool:
    for detail in error.get("details") or ():
        if not isinstance(detail, dict):
            continue
        for violation in detail.get("violations") or ():
            quota = violation.get("quotaId") if isinstance(violation, dict) else None
            if isinstance(quota, str) and ("PerDay" in quota or "Daily" in quota):
                return True
    return False


def describe_error_body(parsed: Any, data: bytes, status: int) -> ClientFacing:
    """An upstream error response (any status, any body) as one error, the provider's message kept."""
    parsed = _unwrap(parsed)
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
        inner = parsed["error"]
        message = inner.get("message") if isinstance(inner.get("message"), str) else None
        kind = inner.get("status") if isinstance(inner.get("status"), str) else None
        code = inner.get("code") if isinstance(inner.get("code"), str) else _failure_code(kind, inner)
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


# Statuses a Gemini client acts on as they are: the SDKs raise ClientError for 4xx and ServerError for
# 5xx; Gemini CLI retries 429, 499 and 5xx and shows the rest. 408 and 413 are the proxy's own answers.
_CLIENT_KEEPS = frozenset({400, 401, 403, 404, 408, 409, 413, 429, 499})


def client_status(status: int, code: str | None = None) -> int:
    """The status a Gemini client must see for an upstream's or the proxy's failure.

    A pack's own bug (`step_failed`) is a 400 (`FAILED_PRECONDITION`): deterministic, so the retries
    Gemini CLI makes on 5xx help nobody. An overloaded upstream (Anthropic's 529) is Google's 503
    `UNAVAILABLE`. Other 4xx (a provider's 422) are 400s, as Google answers any malformed request.
    """
    if code == "step_failed":
        return 400
    if code in ("server_is_overloaded", "slow_down") or status == 529:
        return 503
    if 400 <= status < 500 and status not in _CLIENT_KEEPS:
        return 400
    return status
