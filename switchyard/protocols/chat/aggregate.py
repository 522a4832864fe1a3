"""Folding a Chat Completions stream into the one `chat.completion` a non-streaming client expects.

Used when a pack sets `force_stream: true` and the client did not ask for a stream: the upstream
streams, the client wants one body. A stream that failed (an error chunk) or that ended without a
`finish_reason` is never turned into a body: that would be a truncated success. It raises
`UpstreamFailed`, which the server renders in the client's error shape.
"""

from __future__ import annotations

from switchyard.protocols.failures import failed
from switchyard.protocols.openai import upstream_error


def chat_completion(chunks: list[dict]) -> dict:
    """Fold `chat.completion.chunk`s into one `chat.completion`; raises `UpstreamFailed` on an error chunk.

    A stream without any `finish_reason` was cut short and raises too: a client asking for one body
    must never get the first half of an answer as if it were the whole.
    """
    first: dict | None = None
    choices: dict[int, dict] = {}
    usage = None
    for chunk in chunks:
        if chunk.get("error"):
            raise upstream_error(chunk)
        first = first or chunk
        usage = chunk.get("usage") or usage
        for choice in chunk.get("choices") or []:
            _fold_choice(choices.setdefault(choice.get("index", 0), _empty_choice(choice.get("index", 0))), choice)

    if first is None or not choices or any(c["finish_reason"] is None for c in choices.values()):
        raise failed("The upstream stream ended before the response completed.")
    completion = {
        "id": first.get("id"),
        "object": "chat.completion",
        "created": first.get("created"),
        "model": first.get("model"),
        "choices": [_finish_choice(choices[index]) for index in sorted(choices)],
    }
    if first.get("system_fingerprint") is not None:
        completion["system_fingerprint"] = first["system_fingerprint"]
    if usage is not None:
        completion["usage"] = usage
    return completion


def _empty_choice(index: int) -> dict:
    return {"index": index, "content": [], "reasoning": [], "refusal": [], "tool_calls": {}, "finish_reason": None}


def _fold_choice(state: dict, choice: dict) -> None:
    delta = choice.get("delta") or {}
    # Text fields arrive as fragments; joining once at the end keeps this linear in the stream's size.
    for key, field in (("content", "content"), ("reasoning", "reasoning_content"), ("refusal", "refusal")):
        if isinstance(delta.get(field), str):
            state[key].append(delta[field])
    for fragment in delta.get("tool_calls") or []:
        call = state["tool_calls"].setdefault(fragment.get("index", 0), {"id": None, "type": None, "parts": {}})
        call["id"] = fragment.get("id") or call["id"]
        call["type"] = fragment.get("type") or call["type"]
        # Function calls carry `function: {name, arguments}`, custom tool calls `custom: {name, input}`.
        for container, streamed in (("function", "arguments"), ("custom", "input")):
            if isinstance(fragment.get(container), dict):
                parts = call["parts"].setdefault(container, {"name": None, streamed: []})
                parts["name"] = fragment[container].get("name") or parts["name"]
                if isinstance(fragment[container].get(streamed), str):
                    parts[streamed].append(fragment[container][streamed])
    if choice.get("finish_reason"):
        state["finish_reason"] = choice["finish_reason"]


def _finish_choice(state: dict) -> dict:
    message: dict = {"role": "assistant", "content": "".join(state["content"]) or None}
    message["refusal"] = "".join(state["refusal"]) or None
    if state["reasoning"]:
        message["reasoning_content"] = "".join(state["reasoning"])
    if state["tool_calls"]:
        message["tool_calls"] = [_finish_call(state["tool_calls"][i]) for i in sorted(state["tool_calls"])]
    return {"index": state["index"], "message": message, "logprobs": None, "finish_reason": state["finish_reason"]}


def _finish_call(call: dict) -> dict:
    result: dict = {"id": call["id"], "type": call["type"] or "function"}
    for container, parts in call["parts"].items():
        streamed = "arguments" if container == "function" else "input"
        result[container] = {"name": parts["name"], streamed: "".join(parts[streamed])}
    return result
