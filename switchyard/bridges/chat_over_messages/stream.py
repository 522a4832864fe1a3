"""Anthropic Messages events -> Chat Completions chunks, and a `message` body -> a `chat.completion`.

The Chat half of the bridge for Chat clients in front of an Anthropic upstream. `ChatStream` is fed one
upstream event at a time and answers with the chunks the client should see, possibly none:

| upstream event | chunk `delta` |
|---|---|
| `message_start` | `{role: assistant, content: ""}`; `model` from the upstream's message |
| `text_delta` | `{content}` |
| `thinking_delta` | `{reasoning_content}` (the de-facto Chat field; signatures are not passed on) |
| `tool_use` block start | `{tool_calls: [{index, id, type: function, function: {name, arguments: ""}}]}` |
| `input_json_delta` | `{tool_calls: [{index, function: {arguments}}]}` |
| `message_delta` | remembered: `stop_reason` and the cumulative usage |
| `message_stop` | `{}` with `finish_reason`, then the usage chunk (when asked for, or not streaming) |
| `error` | `{"error": {message, type, code}}`; the openai SDK raises `APIError` on it |

- Tool calls are numbered by a counter (0, 1, ...), not by block index: text or thinking blocks before
  a call would otherwise leave holes, and Chat clients index their tool-call list by that number. A
  `tool_use` whose input came whole in its `content_block_start` (and no deltas) is sent whole at its
  `content_block_stop`.
- Server-side tool blocks (`server_tool_use`, `web_search_tool_result`, ...) and `redacted_thinking`
  have no Chat form and are not sent; the text the model writes about them is.
- A stream that closes before `message_stop` was cut: the client gets the error chunk, never a
  `finish_reason`. After the end everything fed is ignored; the server writes `data: [DONE]`.
- Usage: `prompt_tokens` is Anthropic's whole input (`input_tokens` + cache reads + cache writes),
  `prompt_tokens_details.cached_tokens` the cache reads.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import orjson

from switchyard.bridges.mapping import token_count
from switchyard.errors import UpstreamFailed
from switchyard.ids import new_id
from switchyard.protocols.chat.chunks import ChunkWriter, chat_id
from switchyard.protocols.failures import failed
from switchyard.protocols.messages.errors import upstream_error
from switchyard.protocols.openai import render_error

# Anthropic `stop_reason` -> Chat `finish_reason`.
FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "refusal": "content_filter",
}


def finish_reason(stop_reason: object, *, has_calls: bool = False) -> str:
    reason = FINISH_REASONS.get(stop_reason, "stop") if isinstance(stop_reason, str) else "stop"
    return "tool_calls" if has_calls and reason == "stop" else reason


def chat_usage(usage: dict | None) -> dict | None:
    """Anthropic usage -> Chat usage; None when the upstream reported none."""
    if not isinstance(usage, dict) or not usage:
        return None
    read = token_count(usage.get("cache_read_input_tokens"))
    prompt = token_count(usage.get("input_tokens")) + read + token_count(usage.get("cache_creation_input_tokens"))
    output = token_count(usage.get("output_tokens"))
    return {
        "prompt_tokens": prompt,
        "completion_tokens": output,
        "total_tokens": prompt + output,
        "prompt_tokens_details": {"cached_tokens": read},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


class ChatStream(ChunkWriter):
    """Translate one Anthropic Messages stream into `chat.completion.chunk` dicts for a Chat client."""

    def __init__(self, client_body: dict, *, ids: Callable[[str], str] = new_id, clock=lambda: int(time.time())):
        super().__init__(client_body, ids, clock())
        self._finished = False
        self._blocks: dict[int, dict] = {}  # block index -> {"call": n, "sent": bool, "input": ...}
        self._calls = 0
        self._stop_reason: str | None = None
        self._usage: dict = {}

    def feed(self, event: dict) -> list[dict]:
        if self._finished:
            return []
        kind = event.get("type")
        if kind == "message_start":
            message = event.get("message") if isinstance(event.get("message"), dict) else {}
            if message.get("model"):
                self._model = message["model"]
            if isinstance(message.get("usage"), dict):
                self._usage.update({k: v for k, v in message["usage"].items() if v is not None})
            return self._start()
        if kind == "content_block_start":
            return self._block_start(event)
        if kind == "content_block_delta":
            return self._block_delta(event)
        if kind == "content_block_stop":
            return self._block_stop(event)
        if kind == "message_delta":
            delta = event.get("delta") if isinstance(event.get("delta"), dict) else {}
            if delta.get("stop_reason"):
                self._stop_reason = delta["stop_reason"]
            if isinstance(event.get("usage"), dict):
                self._usage.update({k: v for k, v in event["usage"].items() if v is not None})
            return []
        if kind == "message_stop":
            return self._end()
        if kind == "error":
            return self._error(upstream_error(event))
        return []  # ping, and event types added later

    def close(self) -> list[dict]:
        return self.fail("The upstream stream ended before the message completed.")

    def fail(self, message: str, code: str = "server_error") -> list[dict]:
        if self._finished:
            return []
        return self._error(failed(message, code))

    # -- blocks

    def _block_start(self, event: dict) -> list[dict]:
        block = event.get("content_block") if isinstance(event.get("content_block"), dict) else {}
        index = event.get("index")
        if block.get("type") != "tool_use":
            return self._start() if block.get("type") in ("text", "thinking") else []
        call = {"call": self._calls, "sent": False, "input": block.get("input")}
        self._calls += 1
        self._blocks[index] = call
        header = {
            "index": call["call"],
            "id": block.get("id"),
            "type": "function",
            "function": {"name": block.get("name"), "arguments": ""},
        }
        return self._emit({"tool_calls": [header]})

    def _block_delta(self, event: dict) -> list[dict]:
        delta = event.get("delta") if isinstance(event.get("delta"), dict) else {}
        kind = delta.get("type")
        if kind == "text_delta" and delta.get("text"):
            return self._emit({"content": delta["text"]})
        if kind == "thinking_delta" and delta.get("thinking"):
            return self._emit({"reasoning_content": delta["thinking"]})
        if kind == "input_json_delta":
            call = self._blocks.get(event.get("index"))
            piece = delta.get("partial_json")
            if call is None or not isinstance(piece, str) or not piece:
                return []
            call["sent"] = True
            return self._emit({"tool_calls": [{"index": call["call"], "function": {"arguments": piece}}]})
        return []

    def _block_stop(self, event: dict) -> list[dict]:
        call = self._blocks.get(event.get("index"))
        if call is None or call["sent"] or not call["input"]:
            return []
        # The input came whole in the block's start (some servers do this): the client gets it now.
        call["sent"] = True
        arguments = orjson.dumps(call["input"]).decode()
        return self._emit({"tool_calls": [{"index": call["call"], "function": {"arguments": arguments}}]})

    # -- chunks

    def _end(self) -> list[dict]:
        self._finished = True
        return self._closing(finish_reason(self._stop_reason, has_calls=self._calls > 0), chat_usage(self._usage))

    def _emit(self, delta: dict) -> list[dict]:
        return [*self._start(), self._chunk(delta)]

    def _error(self, error: UpstreamFailed) -> list[dict]:
        self._finished = True
        return [render_error(error)]


def to_completion(message: dict, client_body: dict, *, ids=new_id, clock=lambda: int(time.time())) -> dict:
    """A non-streaming Anthropic `message` -> a `chat.completion`; an error body raises `UpstreamFailed`."""
    if not isinstance(message, dict) or message.get("type") == "error" or message.get("error"):
        raise upstream_error(message if isinstance(message, dict) else {})
    texts, reasoning, calls = [], [], []
    for block in message.get("content") or []:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text":
            texts.append(block.get("text") or "")
        elif block.get("type") == "thinking":
            reasoning.append(block.get("thinking") or "")
        elif block.get("type") == "tool_use":
            arguments = orjson.dumps(block.get("input") if block.get("input") is not None else {}).decode()
            calls.append({"id": block.get("id"), "type": "function",
                          "function": {"name": block.get("name"), "arguments": arguments}})  # fmt: skip
    chat_message: dict = {"role": "assistant", "content": "".join(texts) or None, "refusal": None}
    if any(reasoning):
        chat_message["reasoning_content"] = "\n\n".join(r for r in reasoning if r)
    if calls:
        chat_message["tool_calls"] = calls
    completion = {
        "id": chat_id(ids),
        "object": "chat.completion",
        "created": clock(),
        "model": message.get("model") or client_body.get("model"),
        "choices": [{"index": 0, "message": chat_message, "logprobs": None,
                     "finish_reason": finish_reason(message.get("stop_reason"), has_calls=bool(calls))}],
    }  # fmt: skip
    usage = chat_usage(message.get("usage"))
    if usage is not None:
        completion["usage"] = usage
    return completion
