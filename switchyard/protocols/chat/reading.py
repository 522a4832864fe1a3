"""Reading the text out of Chat Completions deltas and messages, as every bridge from Chat needs to.

Chat has one standard text field (`content`, a string or a list of parts) and a de-facto extension for
reasoning that servers spell differently (protocols.md B.6). Both bridges that read a Chat stream
(to Responses and to Messages) must agree on what counts as text and as reasoning, so the rule lives
here, with the protocol, once.
"""

from __future__ import annotations


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
