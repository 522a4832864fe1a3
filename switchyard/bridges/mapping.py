"""The tables the two protocols are mapped by, one of each, for both directions of the bridge.

Both bridges (Responses over Chat, Chat over Responses) translate the same few
concepts; each translation lives here once, so the two directions cannot drift apart:

- How an answer ended: Chat's `finish_reason` <-> Responses' `status` and `incomplete_details.reason`
  (protocols.md E.2, E.4). Only the values the OpenAI protocols define are mapped; a provider's own
  values (GLM's `sensitive`) are mapped to these by its pack's `response` steps.
- Token usage: Chat `usage` <-> Responses `usage` (protocols.md E.2, E.4).
- The request fields a Response object echoes (protocols.md A.3).
"""

from __future__ import annotations

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
    input_tokens = token_count(usage.get("input_tokens"))
    output_tokens = token_count(usage.get("output_tokens"))
    return {
        "prompt_tokens": input_tokens,
        "completion_tokens": output_tokens,
        "total_tokens": token_count(usage.get("total_tokens"), input_tokens + output_tokens),
        "prompt_tokens_details": {"cached_tokens": token_count(_field(usage, "input_tokens_details", "cached_tokens"))},
        "completion_tokens_details": {
            "reasoning_tokens": token_count(_field(usage, "output_tokens_details", "reasoning_tokens"))
        },
    }


def responses_usage(usage: dict | None) -> dict:
    """Chat `usage` -> Responses `usage`, every field Codex and the SDK require; zeros when none came."""
    usage = usage if isinstance(usage, dict) else {}
    input_tokens = token_count(usage.get("prompt_tokens"))
    output_tokens = token_count(usage.get("completion_tokens"))
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {
            "cached_tokens": token_count(_field(usage, "prompt_tokens_details", "cached_tokens")),
            "cache_write_tokens": token_count(_field(usage, "prompt_tokens_details", "cache_write_tokens")),  # 2026 SDK
        },
        "output_tokens": output_tokens,
        "output_tokens_details": {
            "reasoning_tokens": token_count(_field(usage, "completion_tokens_details", "reasoning_tokens"))
        },
        "total_tokens": token_count(usage.get("total_tokens")) or input_tokens + output_tokens,
    }


def _field(usage: dict, details: str, key: str):
    inner = usage.get(details)
    return inner.get(key) if isinstance(inner, dict) else None


def token_count(value, default: int = 0) -> int:
    """A token count: an integer, whatever number type the upstream used; `default` when it sent none."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return int(value)


# -- the Response object's echo of the request

# Request fields a Response object echoes, in order, with the value a Response carries when the client did
# not send one: the Open Responses spec (ResponseResource, 2026-04-24) requires every one of them, and its
# defaults are OpenAI's (the sampling parameters the spec documents, `background: false`, `service_tier:
# "default"`). These say what the request asked for; the upstream's answer never contradicts them.
_ECHO = (
    ("instructions", None),
    ("max_output_tokens", None),
    ("max_tool_calls", None),
    ("model", None),
    ("parallel_tool_calls", True),
    ("previous_response_id", None),
    ("reasoning", None),  # filled by `_reasoning`
    ("store", False),  # not OpenAI's default, but true here: nothing is stored
    ("temperature", 1.0),
    ("top_p", 1.0),
    ("presence_penalty", 0.0),
    ("frequency_penalty", 0.0),
    ("top_logprobs", 0),
    ("text", None),  # filled by `_text`
    ("tool_choice", "auto"),
    ("tools", None),  # filled by `_tools`
    ("truncation", "disabled"),
    ("background", False),
    ("service_tier", "default"),
    ("prompt_cache_key", None),
    ("safety_identifier", None),
    ("user", None),  # not in the spec; OpenAI still echoes it and the openai SDK reads it
    ("metadata", {}),
)


def echo(client_body: dict) -> dict:
    """The request fields a Response echoes, every one the spec requires: computed once per request."""
    always = {}
    for key, default in _ECHO:
        value = client_body.get(key)
        always[key] = default if value is None else value
    always["reasoning"] = _reasoning(client_body.get("reasoning"))
    always["text"] = _text(client_body.get("text"))
    always["tools"] = _tools(client_body.get("tools"))
    return always


def _reasoning(sent) -> dict:
    # Both keys are required (nullable): a client that set only `effort` still gets `summary: null`.
    return {"effort": None, "summary": None, **sent} if isinstance(sent, dict) else {"effort": None, "summary": None}


def _text(sent) -> dict:
    # `format` is required; a client that set only `verbosity` asked for plain text.
    if not isinstance(sent, dict):
        return {"format": {"type": "text"}}
    return sent if isinstance(sent.get("format"), dict) else {**sent, "format": {"type": "text"}}


def _tools(sent) -> list:
    """The client's tools as sent; a function tool gets the keys the spec requires (null when not sent).

    `strict` stays null rather than OpenAI's `true`: a Chat upstream enforces no schema it was not told to.
    Tools the spec has no type for (Codex's `custom`, `namespace`, `web_search`) are echoed as they came.
    """
    if not isinstance(sent, list):
        return []
    tools = []
    for tool in sent:
        if isinstance(tool, dict) and tool.get("type") == "function":
            missing = {key: None for key in ("description", "parameters", "strict") if key not in tool}
            tool = {**tool, **missing} if missing else tool
        tools.append(tool)
    return tools
