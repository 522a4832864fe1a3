"""Reading Chat Completions as every bridge from Chat needs to: the text of deltas and messages, and a
whole completion as the one chunk that replays it.

Chat has one standard text field (`content`, a string or a list of parts) and a de-facto extension for
reasoning that servers spell differently (protocols.md B.6). Both bridges that read a Chat stream
(to Responses and to Messages) must agree on what counts as text and as reasoning, so the rule lives
here, with the protocol, once.
"""

from __future__ import annotations

from switchyard.protocols.failures import failed
from switchyard.protocols.openai import upstream_error

_NOT_A_COMPLETION = "The upstream answered with a body that is not a chat completion."


def reasoning_of(delta: dict) -> str:
    """The reasoning text of a delta (or message), from the de-facto Chat extension (protocols.md B.6).

    `reasoning_content` (DeepSeek, Qwen, Kimi, GLM, llama.cpp) first, else `reasoning` as a string (vLLM,
    Ollama, OpenRouter) or an object with `text` or `content` (as Codex's own Chat reader accepted). One
    source only: some servers send the same text under both names.
    """
    value = delta.get("reasoning_content")
    if isinstance(value, str) and value:
        return value
    value = delta.get("reasoning")
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        text = value.get("text") or value.get("content")
        return text if isinstance(text, str) else ""
    return ""


def text_of(content: object) -> str:
    """The text of a `content` (or `refusal`) value: a string as is, a list of parts joined, else nothing."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(part.get("text") or "") for part in content if isinstance(part, dict))
    return ""


def as_one_chunk(completion: object) -> dict:
    """A whole chat completion as the one chunk that carries all of it: the message as the delta, its tool
    calls whole and indexed by their position, the finish reason and the usage. A bridge from Chat answers a
    non-streaming body by replaying this through its own stream translator, so a body and a stream are
    translated by one piece of code.

    An error body (`{"error": ...}` with HTTP 200), or a body that is not a chat completion, raises
    `UpstreamFailed`, so the client gets an error status rather than a 200 that says nothing.
    """
    if not isinstance(completion, dict):
        raise failed(_NOT_A_COMPLETION)
    if completion.get("error"):
        raise upstream_error(completion)
    choices = completion.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
    message = choice.get("message")
    if not isinstance(message, dict):
        raise failed(_NOT_A_COMPLETION)
    message = dict(message)
    calls = message.get("tool_calls")
    message["tool_calls"] = [
        {**c, "index": i} for i, c in enumerate(calls if isinstance(calls, list) else []) if isinstance(c, dict)
    ]
    finish = choice.get("finish_reason") or "stop"
    return {
        "choices": [{**choice, "index": 0, "delta": message, "finish_reason": finish}],
        "usage": completion.get("usage") or {},
    }
