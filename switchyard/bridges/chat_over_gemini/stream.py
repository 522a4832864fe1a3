"""Gemini `GenerateContentResponse` chunks -> Chat Completions chunks, and one body -> a `chat.completion`.

The Chat half of the bridge for Chat clients in front of a Gemini upstream. `ChatStream` is fed one
upstream chunk at a time (each a whole `GenerateContentResponse` holding only the new parts) and answers
with the chunks the client should see, possibly none:

| upstream part or field | chunk `delta` |
|---|---|
| the first chunk | `{role: assistant, content: ""}`; `model` from `modelVersion` |
| `{text}` | `{content}` |
| `{text, thought: true}` | `{reasoning_content}` (the de-facto Chat field) |
| `{functionCall: {id?, name, args}, thoughtSignature?}` | one whole `tool_calls` entry, its id carrying both |
| `finishReason` | `{}` with `finish_reason` (`tool_calls` when calls were made; Gemini says `STOP`) |
| `usageMetadata` | remembered (cumulative, the last wins); the usage chunk after the finish |
| `promptFeedback.blockReason` without candidates | `{}` with `finish_reason: content_filter` |
| `{"error": {code, message, status}}` | `{"error": {...}}`; the openai SDK raises `APIError` on it |

- A `functionCall` arrives whole (the Gemini API streams no partial arguments), so each becomes one
  `tool_calls` delta with the complete arguments; calls are numbered 0, 1, ... in arrival order.
- Signatures: a call's `thoughtSignature` goes into its Chat id (`signatures.py`), the one field every
  client returns unchanged. A signature on a text or thought part (Gemini 3 signs the last part of a
  turn without calls; Gemini does not check those) has no Chat field and is not passed on.
- Gemini's stream has no end marker: it ends when the connection closes. A stream that closes after a
  `finishReason` has ended; one that closes before was cut, and the client gets the error chunk, never
  a `finish_reason`. The finish chunk waits for the close (usage may still come after it).
- Usage: `prompt_tokens` is `promptTokenCount` plus `toolUsePromptTokenCount`, `completion_tokens` is
  `candidatesTokenCount` plus `thoughtsTokenCount`, the thoughts are the reasoning tokens and
  `cachedContentTokenCount` the cached ones.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import orjson

from switchyard.bridges.chat_over_gemini import signatures
from switchyard.bridges.mapping import token_count
from switchyard.errors import UpstreamFailed
from switchyard.ids import new_id
from switchyard.protocols.chat.chunks import ChunkWriter
from switchyard.protocols.failures import failed
from switchyard.protocols.gemini.errors import upstream_error
from switchyard.protocols.openai import render_error

# Gemini `finishReason` -> Chat `finish_reason`; anything else (a failed tool call, OTHER) is `stop`.
FINISH_REASONS = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
    "IMAGE_RECITATION": "content_filter",
}


def finish_reason(reason: object, *, has_calls: bool) -> str:
    mapped = FINISH_REASONS.get(reason, "stop") if isinstance(reason, str) else "stop"
    return "tool_calls" if has_calls and mapped == "stop" else mapped


def chat_usage(usage: dict | None) -> dict | None:
    """Gemini `usageMetadata` -> Chat usage; None when the upstream reported none."""
    if not isinstance(usage, dict) or not usage:
        return None
    prompt = token_count(usage.get("promptTokenCount")) + token_count(usage.get("toolUsePromptTokenCount"))
    thoughts = token_count(usage.get("thoughtsTokenCount"))
    completion = token_count(usage.get("candidatesTokenCount")) + thoughts
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": token_count(usage.get("cachedContentTokenCount"))},
        "completion_tokens_details": {"reasoning_tokens": thoughts},
    }


class ChatStream(ChunkWriter):
    """Translate one Gemini stream into `chat.completion.chunk` dicts for a Chat client."""

    def __init__(self, client_body: dict, *, ids: Callable[[str], str] = new_id, clock=lambda: int(time.time())):
        self._ids = ids
        super().__init__(client_body, ids, clock())
        self._finished = False  # the client's stream is over (an error, or the end written)
        self._reason: str | None = None  # Gemini's finishReason, once seen
        self._calls = 0
        self._usage: dict | None = None

    def feed(self, event: dict) -> list[dict]:
        if self._finished or not isinstance(event, dict):
            return []
        if event.get("error"):
            return self._error(upstream_error(event))
        if isinstance(event.get("modelVersion"), str) and event["modelVersion"]:
            self._model = event["modelVersion"]
        if isinstance(event.get("usageMetadata"), dict):
            self._usage = event["usageMetadata"]
        chunks = self._start()
        candidates = event.get("candidates")
        candidate = candidates[0] if isinstance(candidates, list) and candidates else None
        if not isinstance(candidate, dict):
            feedback = event.get("promptFeedback")
            if isinstance(feedback, dict) and feedback.get("blockReason"):
                self._reason = "SAFETY"  # a refused prompt: no candidates at all
            return chunks
        content = candidate.get("content")
        parts = content.get("parts") if isinstance(content, dict) else None
        for part in parts if isinstance(parts, list) else ():
            if isinstance(part, dict):
                delta = self._part(part)
                if delta is not None:
                    chunks.append(self._chunk(delta))
        if isinstance(candidate.get("finishReason"), str) and candidate["finishReason"]:
            self._reason = candidate["finishReason"]
        return chunks

    def close(self, *, whole: bool = False) -> list[dict]:
        """The upstream ended; `whole` when it was one non-streaming body (complete even without a reason)."""
        if self._finished:
            return []
        if self._reason is None and not whole:
            return self.fail("The upstream stream ended before the answer completed.")
        return self._end()

    def fail(self, message: str, code: str = "server_error") -> list[dict]:
        if self._finished:
            return []
        return self._error(failed(message, code))

    # -- parts

    def _part(self, part: dict) -> dict | None:
        call = part.get("functionCall")
        if isinstance(call, dict):
            args = call.get("args") if isinstance(call.get("args"), dict) else {}
            header = {
                "index": self._calls,
                "id": signatures.encode(call.get("id"), part.get("thoughtSignature"), self._ids),
                "type": "function",
                "function": {"name": call.get("name"), "arguments": orjson.dumps(args).decode()},
            }
            self._calls += 1
            return {"tool_calls": [header]}
        value = part.get("text")
        if not isinstance(value, str) or not value:
            return None  # an empty text part that only carries a signature, or a part Chat has no form for
        return {"reasoning_content": value} if part.get("thought") is True else {"content": value}

    # -- chunks

    def _end(self) -> list[dict]:
        self._finished = True
        return self._closing(finish_reason(self._reason, has_calls=self._calls > 0), chat_usage(self._usage))

    def _error(self, error: UpstreamFailed) -> list[dict]:
        self._finished = True
        return [render_error(error)]


def to_completion(body: dict, client_body: dict, *, ids=new_id, clock=lambda: int(time.time())) -> dict:
    """A non-streaming Gemini response -> a `chat.completion`; an error body raises `UpstreamFailed`.

    The body is the same object a stream's chunks are, whole: it goes through the stream translator once
    and the chunks are folded, so the two paths cannot differ.
    """
    if not isinstance(body, dict) or body.get("error"):
        raise upstream_error(body)
    stream = ChatStream({**client_body, "stream": False}, ids=ids, clock=clock)
    chunks = stream.feed(body) + stream.close(whole=True)
    texts, reasoning, calls, finish, usage = [], [], [], "stop", None
    for chunk in chunks:
        usage = chunk.get("usage") or usage
        for choice in chunk.get("choices") or ():
            delta = choice["delta"]
            texts.append(delta.get("content") or "")
            reasoning.append(delta.get("reasoning_content") or "")
            calls.extend(delta.get("tool_calls") or ())
            finish = choice.get("finish_reason") or finish
    message: dict = {"role": "assistant", "content": "".join(texts) or None, "refusal": None}
    if any(reasoning):
        message["reasoning_content"] = "".join(reasoning)
    if calls:
        message["tool_calls"] = [{k: v for k, v in call.items() if k != "index"} for call in calls]
    completion = {
        "id": chunks[0]["id"],
        "object": "chat.completion",
        "created": chunks[0]["created"],
        "model": chunks[0]["model"],
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
    }
    if usage is not None:
        completion["usage"] = usage
    return completion
