"""Upstream failures: what a provider's error means, whatever protocol it arrived in.

One table gives, for an error code, the HTTP status the proxy answers a non-streaming client with
and the code a `response.failed` carries for Codex (protocols.md D.4). Upstreams rarely use
OpenAI's codes, so when the code says nothing specific the words of the message decide, from
wording many servers share ("rate limit", "context length", "quota"); one provider's own wording is
mapped to a code by its pack. Every protocol's error parser ends in `failed()`, so a failure is
classified the same way whether it came as a body, a Chat error chunk, a Responses event or an
Anthropic `error` event.
"""

from __future__ import annotations

import re

from switchyard.errors import UpstreamFailed

# code -> (HTTP status for a non-streaming client, `response.error.code` for Codex). The openai SDK retries
# 429 and 5xx by itself, so the status decides whether a client retries; Codex stops on
# context_length_exceeded, insufficient_quota, invalid_prompt and the overload codes and retries the rest
# (protocols.md D.4), which is what `server_error` asks of it.
_ERRORS: dict[str, tuple[int, str]] = {
    "rate_limit_exceeded": (429, "rate_limit_exceeded"),
    "insufficient_quota": (429, "insufficient_quota"),
    "context_length_exceeded": (400, "context_length_exceeded"),
    "invalid_prompt": (400, "invalid_prompt"),
    "server_is_overloaded": (503, "server_is_overloaded"),
    "slow_down": (503, "slow_down"),
    # Codes that fix the status but not what Codex should do: the message may still say more.
    "invalid_request_error": (400, "server_error"),
    "invalid_image": (400, "server_error"),
    "server_error": (502, "server_error"),
    # A pack's step failed: deterministic, so Codex is told to stop and show it (invalid_prompt is not retried).
    "step_failed": (500, "invalid_prompt"),
}
# 502: the proxy is a gateway and its upstream failed.
_DEFAULT = (502, "server_error")
# Wording shared by many servers, for upstreams that do not use OpenAI's codes. Order matters: quota
# errors often say "429".
_HINTS = (
    (
        "context_length_exceeded",
        re.compile(r"context.length|context window|maximum context|input length|too long"),
    ),
    ("insufficient_quota", re.compile(r"quota|billing")),
    ("rate_limit_exceeded", re.compile(r"rate.limit|too many requests|\b429\b|throttl")),
)


def classify(message: str, code: str | None = None, kind: str | None = None) -> tuple[int, str]:
    """(HTTP status, Responses error code) for an upstream failure with this message, code and type."""
    known = _ERRORS.get(code) if isinstance(code, str) else None
    if known is not None and known[1] != "server_error":
        return known
    text = " ".join(str(part) for part in (code, kind, message) if part).lower()
    for hinted, pattern in _HINTS:
        if pattern.search(text):
            return _ERRORS[hinted]
    return known or _DEFAULT


def error_code(message: str, code: str | None = "server_error") -> str:
    """The Responses error code for an upstream failure: one Codex acts on (stop and tell the user, or retry)."""
    return classify(message, code)[1]


def failed(message: str, code: str | None = "server_error", type: str | None = None, param=None) -> UpstreamFailed:
    """The exception for an upstream failure, classified: its status and the code Codex acts on."""
    status, responses_code = classify(message, code, type)
    # Without an upstream type, the status decides: a refused request is the client's error, not the server's.
    kind = type or ("invalid_request_error" if status == 400 else "server_error")
    return UpstreamFailed(message, code=code, status=status, type=kind, param=param, responses_code=responses_code)
