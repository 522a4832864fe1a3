"""Folding an Anthropic Messages stream into the one `message` a non-streaming client expects.

Used when a pack sets `force_stream: true` and the client did not ask for a stream, and by the
Messages-over-Chat bridge for non-streaming answers. The fold follows the stream's own rules
(anthropic.md B): `message_start` carries the message with empty `content`; each block is built from
its `content_block_start` and the deltas for its `index` (text, thinking and signature appended, tool
input JSON concatenated and parsed when the block stops); `message_delta` sets `stop_reason`,
`stop_sequence` and the cumulative usage. A stream with an `error` event, or one that never reached
`message_stop`, raises `UpstreamFailed`: a client asking for one body never gets half an answer.
"""

from __future__ import annotations

from collections.abc import Iterable

import orjson

from switchyard.errors import UpstreamFailed
from switchyard.protocols.failures import failed
from switchyard.protocols.messages.errors import upstream_error

_TOOL_BLOCKS = frozenset({"tool_use", "server_tool_use", "mcp_tool_use"})


class MessageAccumulator:
    """Fed one event at a time; `result()` is the message so far, `done` once `message_stop` was seen."""

    def __init__(self) -> None:
        self.message: dict | None = None
        self.done = False
        self._json: dict[int, list[str]] = {}

    def feed(self, event: dict) -> None:
        kind = event.get("type")
        if kind == "error":
            raise upstream_error(event)
        if kind == "message_start":
            message = event.get("message")
            self.message = dict(message) if isinstance(message, dict) else {}
            self.message["content"] = []
            self.message["usage"] = dict(self.message.get("usage") or {})
            return
        if self.message is None or kind == "ping":
            return
        if kind == "content_block_start":
            block = event.get("content_block")
            index = event.get("index")
            content = self.message["content"]
            if isinstance(block, dict) and index == len(content):
                content.append(dict(block))
        elif kind == "content_block_delta":
            self._delta(event)
        elif kind == "content_block_stop":
            self._stop(event.get("index"))
        elif kind == "message_delta":
            delta = event.get("delta") or {}
            for key in ("stop_reason", "stop_sequence"):
                if key in delta:
                    self.message[key] = delta[key]
            usage = event.get("usage")
            if isinstance(usage, dict):
                # Usage on message_delta is cumulative: it overwrites, and what it omits stays.
                self.message["usage"].update({k: v for k, v in usage.items() if v is not None})
        elif kind == "message_stop":
            for index in list(self._json):
                self._stop(index)
            self.done = True

    def _block(self, index) -> dict | None:
        content = self.message["content"] if self.message else []
        return content[index] if isinstance(index, int) and 0 <= index < len(content) else None

    def _delta(self, event: dict) -> None:
        block = self._block(event.get("index"))
        delta = event.get("delta")
        if block is None or not isinstance(delta, dict):
            return
        kind = delta.get("type")
        if kind == "text_delta":
            block["text"] = (block.get("text") or "") + (delta.get("text") or "")
        elif kind == "thinking_delta":
            block["thinking"] = (block.get("thinking") or "") + (delta.get("thinking") or "")
        elif kind == "signature_delta":
            block["signature"] = delta.get("signature") or ""
        elif kind == "input_json_delta":
            self._json.setdefault(event["index"], []).append(delta.get("partial_json") or "")
        elif kind == "citations_delta" and isinstance(delta.get("citation"), dict):
            block.setdefault("citations", []).append(delta["citation"])

    def _stop(self, index) -> None:
        block = self._block(index)
        pieces = self._json.pop(index, None)
        if block is None or block.get("type") not in _TOOL_BLOCKS or not pieces:
            return
        text = "".join(pieces)
        if not text.strip():
            return
        try:
            block["input"] = orjson.loads(text)
        except orjson.JSONDecodeError:
            raise failed(f"The upstream sent tool input that is not JSON for content block {index}.") from None

    def result(self) -> dict:
        if self.message is None or not self.done:
            raise failed("The upstream stream ended before the message completed.")
        return self.message


def final_message(events: Iterable[dict]) -> dict:
    """Fold Messages stream events into one `message`; raises `UpstreamFailed` on an error or a cut stream."""
    accumulator = MessageAccumulator()
    for event in events:
        if type(event) is dict:
            accumulator.feed(event)
    return accumulator.result()


__all__ = ["MessageAccumulator", "UpstreamFailed", "final_message"]
