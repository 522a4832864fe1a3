"""The tables the two protocols are mapped by, one of each, for both directions of the bridge.

Both bridges (Responses over Chat, Chat over Responses) and `switchyard.protocols.aggregate` translate the same few
concepts; each translation lives here once, so the two directions cannot drift apart:

- How an answer ended: Chat's `finish_reason` <-> Responses' `status` and `incomplete_details.reason`
  (protocols.md E.2, E.4). Only the values the OpenAI protocols define are mapped; a provider's own
  values (GLM's `sensitive`) are mapped to these by its pack's `response` steps.
- Token usage: Chat `usage` <-> Responses `usage` (protocols.md E.2, E.4).
- Upstream failures: one table gives, for an error code, the HTTP status the proxy answers a
  non-streaming client with and the code a `response.failed` carries for Codex (protocols.md D.4).
  Upstreams rarely use OpenAI's codes, so when the code says nothing specific the words of the
  message decide, from wording many servers share ("rate limit", "context length", "quota"); one
  provider's own wording is mapped to a code by its pack.
- The request fields a Response object echoes (protocols.md A.3).
"""

from __future__ import annotations

import re

# -- how an answer ended

# Chat `finish_reason` -> Responses `incomplete_details.reason`; any other finish_reason is a completed answer.
# The events after which a Responses stream is over for its client. An `error` event is not one:
# Codex ignores it (protocols.md D.3), so a `response.failed` must follow it.
TERMINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})

_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}
_FINISH = {reason: finish for finish, reason in _INCOMPLETE.items()}


def incomplete_reason(finish_reason: str | None) -> str | None:
    """The Responses `incomplete_details.reason` for a Chat `finish_reason`; None for a completed answer."""
    return _INCOMPLETE.get(finish_reason) if isinstance(finish_reason, str) else None


def finish_reason(response: dict, *, has_calls: bool) -> str:
    """Chat's `finish_reason` for a finished Responses body (`has_calls`: it asked for tool calls)."""
    if response.get("status") == "incomplete":
        details = response.get("incomplete_details")
        reason = details.get("reason") if isinstance(details, dict) else None
        # Any other reason still means the answer was cut short, which is what `length` tells a client.
        return _FINISH.get(reason, "length") if isinstance(reason, str) else "length"
    return "tool_calls" if has_calls else "stop"


# -- usage


def chat_usage(usage: dict | None) -> dict | None:
    """Responses `usage` -> Chat `usage`; None when the upstream reported none (nothing is made up)."""
    if not usage or not isinstance(usage, dict):
        return None
    input_tokens = _count(usage.get("input_tokens"))
    output_tokens = _count(usage.get("output_tokens"))
    return {
        "prompt_tokens": input_tokens,
        "completion_tokens": output_tokens,
        "total_tokens": _count(usage.get("total_tokens"), input_tokens + output_tokens),
        "prompt_tokens_details": {"cached_tokens": _count(_field(usage, "input_tokens_details", "cached_tokens"))},
        "completion_tokens_details": {
            "reasoning_tokens": _count(_field(usage, "output_tokens_details", "reasoning_tokens"))
        },
    }


def responses_usage(usage: dict | None) -> dict:
    """Chat `usage` -> Responses `usage`, every field Codex and the SDK require; zeros when none came."""
    usage = usage if isinstance(usage, dict) else {}
    input_tokens = _count(usage.get("prompt_tokens"))
    output_tokens = _count(usage.get("completion_tokens"))
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {
            "cached_tokens": _count(_field(usage, "prompt_tokens_details", "cached_tokens")),
            "cache_write_tokens": _count(_field(usage, "prompt_tokens_details", "cache_write_tokens")),  # 2026 SDK
        },
        "output_tokens": output_tokens,
        "output_tokens_details": {
            "reasoning_tokens": _count(_field(usage, "completion_tokens_details", "reasoning_tokens"))
        },
        "total_tokens": _count(usage.get("total_tokens")) or input_tokens + output_tokens,
    }


def _field(usage: dict, details: str, key: str):
    inner = usage.get(details)
    return inner.get(key) if isinstance(inner, dict) else None


def _count(value, default: int = 0) -> int:
    """A token count: an integer, whatever number type the upstream used; `default` when it sent none."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return int(value)


# -- upstream failures

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


# -- the Response object's echo of the request

# Request fields a Response object echoes, with OpenAI's value when the client did not send them.
_ECHO = (
    ("instructions", None),
    ("max_output_tokens", None),
    ("model", None),
    ("parallel_tool_calls", True),
    ("previous_response_id", None),
    ("reasoning", {"effort": None, "summary": None}),
    ("store", False),  # not OpenAI's default, but true here: nothing is stored
    ("temperature", None),
    ("text", {"format": {"type": "text"}}),
    ("tool_choice", "auto"),
    ("tools", []),
    ("top_p", None),
    ("truncation", "disabled"),
    ("user", None),
    ("metadata", {}),
)
# Echoed only when the client sent them.
_ECHO_IF_SENT = (
    "service_tier",
    "prompt_cache_key",
    "safety_identifier",
    "top_logprobs",
    "max_tool_calls",
    "background",
)


def echo(client_body: dict) -> tuple[dict, dict]:
    """The request fields a Response echoes: (those always present, in order; those only when sent)."""
    always = {}
    for key, default in _ECHO:
        value = client_body.get(key)
        always[key] = default if value is None else value
    return always, {key: client_body[key] for key in _ECHO_IF_SENT if key in client_body}
