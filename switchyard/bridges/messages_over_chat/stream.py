"""Chat Completions chunks -> Anthropic Messages events: the response half of the Messages-over-Chat bridge.

`MessagesStream` is a state machine fed one upstream chunk at a time. It emits the sequence the
anthropic SDKs and Claude Code need (anthropic.md B): `message_start` (the message with empty
`content`), then per block `content_block_start` / `content_block_delta`s / `content_block_stop` with
dense `index`es, one block open at a time, then ONE `message_delta` with `stop_reason` and usage, then
`message_stop`.

Design choices:

- One machine for both modes: `to_message` replays a non-streaming completion as one chunk and folds
  the events with the protocol's own aggregator, so the two paths cannot drift apart.
- Blocks: `reasoning_content` (or `reasoning`, the de-facto extension, protocols.md B.6) opens a
  `thinking` block, `content` (and `refusal`) a `text` block, each tool call a `tool_use` block; opening
  one closes the block before it. A tool call is announced once its name is known (the block start needs
  it) with `input: {}`, and its argument pieces follow as `input_json_delta`s as they arrive; pieces
  seen before the name go in one delta right after the start. A call that never gets a name is dropped:
  it could not be run. Calls are told apart by their Chat `index` (then `id`): a provider that repeats
  the `id` on every piece still makes one block.
- A `thinking` block is closed with a `signature_delta` before its `content_block_stop`: Claude Code
  drops thinking blocks without one (reported by two proxies' users: routatic/proxy#51,
  nielspeter/claude-code-proxy#17). The signature is a fixed marker (`SIGNATURE`), not Anthropic's;
  on the way back the request side reads only the thinking text.
- The `message_delta` is sent after the usage chunk that follows `finish_reason` (or at `[DONE]`/EOF
  after one), so it carries both `stop_reason` and usage, as Anthropic's does.
- Failures never close open blocks and never send `message_stop`: an `error` event ends the stream
  (the SDK raises on it), so a half-streamed tool call never reaches a client that runs tools at
  `content_block_stop`. A stream that ends before any `finish_reason` failed, whatever the transport
  said. Argument pieces for a tool call whose block was already closed (an upstream interleaving two
  calls) end the stream with an error too: the call the client already has would be incomplete.
- `keepalive()` is for the relay when the upstream is quiet: `message_start` if not yet sent, then a
  `ping`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import orjson

from switchyard.bridges.mapping import token_count
from switchyard.bridges.messages_over_chat.request import tool_names
from switchyard.errors import UpstreamFailed
from switchyard.ids import new_id
from switchyard.protocols.chat.reading import as_one_chunk, reasoning_of, text_of
from switchyard.protocols.failures import failed
from switchyard.protocols.messages.aggregate import final_message
from switchyard.protocols.messages.errors import error_event
from switchyard.protocols.openai import upstream_error

# The signature of thinking blocks made from a Chat provider's reasoning: a marker, not Anthropic's.
SIGNATURE = "switchyard-unsigned"

# Chat `finish_reason` -> Anthropic `stop_reason` (anthropic.md D); any other value ends the turn.
_STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


@dataclass
class _Call:
    """One Chat tool call becoming one `tool_use` block."""

    id: str | None = None
    name: str | None = None
    pending: list[str] = field(default_factory=list)  # argument pieces seen before the block started
    block: int | None = None  # the block's index once announced
    closed: bool = False


class MessagesStream:
    """Turns the chunks of one Chat Completions stream into the events of one Messages stream."""

    def __init__(self, client_body: dict, *, ids: Callable[[str], str] = new_id):
        self._ids = ids
        self._model = client_body.get("model") if isinstance(client_body, dict) else None
        self._names = tool_names(client_body)
        stops = client_body.get("stop_sequences") if isinstance(client_body, dict) else None
        self._stop_sequences = set(stops) if isinstance(stops, list) else set()
        self._started = False
        self._done = False
        self._next_block = 0
        self._open: tuple[str, int] | None = None  # (kind, index) of the block being streamed
        self._open_call: _Call | None = None
        self._calls: dict = {}  # ("index", n) / ("id", id) -> _Call
        self._last_call: _Call | None = None
        self._tool_blocks = 0
        self._finish: str | None = None
        self._matched_stop: str | None = None
        self._usage: dict | None = None

    # --- the translator contract ---------------------------------------------------------------------

    def feed(self, chunk: dict) -> list[dict]:
        if self._done:
            return []
        if chunk.get("error"):
            return self._fail(upstream_error(chunk))
        events = self._start()
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            self._usage = usage
        for choice in chunk.get("choices") or ():
            # n > 1 has no Messages equivalent; the first choice is the answer.
            if not isinstance(choice, dict) or (choice.get("index") or 0) != 0 or self._finish is not None:
                continue
            delta = choice.get("delta")
            if isinstance(delta, dict):
                events += self._delta(delta)
                if self._done:
                    return events
            if choice.get("finish_reason"):
                self._finish = str(choice["finish_reason"])
                matched = choice.get("stop_reason")  # vLLM names the stop string that matched
                if isinstance(matched, str) and matched in self._stop_sequences:
                    self._matched_stop = matched
                events += self._close_block()
        if self._finish is not None and isinstance(usage, dict):
            events += self._terminal()
        return events

    def close(self) -> list[dict]:
        if self._done:
            return []
        if self._finish is None:
            return self.fail("the upstream stream ended before it finished")
        return self._start() + self._terminal()

    def fail(self, message: str, code: str = "server_error") -> list[dict]:
        return self._fail(failed(message, code))

    def keepalive(self) -> list[dict]:
        """What to send when the upstream has been quiet: `message_start` first if need be, then a `ping`."""
        if self._done:
            return []
        return [*self._start(), {"type": "ping"}]

    def _fail(self, failure: UpstreamFailed) -> list[dict]:
        if self._done:
            return []
        self._done = True
        return [error_event(failure)]

    # --- deltas --------------------------------------------------------------------------------------

    def _delta(self, delta: dict) -> list[dict]:
        events: list[dict] = []
        reasoning = reasoning_of(delta)
        if reasoning:
            events += self._block_delta("thinking", {"type": "thinking_delta", "thinking": reasoning})
        content = text_of(delta.get("content")) + text_of(delta.get("refusal"))
        if content:
            events += self._block_delta("text", {"type": "text_delta", "text": content})
        calls = delta.get("tool_calls")
        if isinstance(calls, list):
            for fragment in calls:
                if isinstance(fragment, dict):
                    events += self._tool_delta(fragment)
                    if self._done:
                        break
        return events

    def _block_delta(self, kind: str, delta: dict) -> list[dict]:
        events: list[dict] = []
        if self._open is None or self._open[0] != kind:
            events += self._close_block()
            start = (
                {"type": "text", "text": ""}
                if kind == "text"
                else {"type": "thinking", "thinking": "", "signature": ""}
            )
            events.append(self._open_block(kind, start))
        events.append({"type": "content_block_delta", "index": self._open[1], "delta": delta})
        return events

    def _tool_delta(self, fragment: dict) -> list[dict]:
        call = self._find(fragment)
        function = fragment.get("function") if isinstance(fragment.get("function"), dict) else {}
        if isinstance(fragment.get("id"), str) and fragment["id"] and call.id is None:
            call.id = fragment["id"]
        if isinstance(function.get("name"), str) and function["name"] and call.block is None:
            call.name = function["name"]
        piece = function.get("arguments")
        if isinstance(piece, dict | list):  # a few servers send the arguments already parsed
            piece = orjson.dumps(piece).decode()
        piece = piece if isinstance(piece, str) else ""
        if call.closed:
            if not piece:
                return []
            return self._fail(failed("the upstream interleaved the arguments of two tool calls"))
        if call.block is None:
            if piece:
                call.pending.append(piece)
            return self._announce(call) if call.name else []
        if piece:
            return [self._json_delta(call, piece)]
        return []

    def _find(self, fragment: dict) -> _Call:
        index, call_id = fragment.get("index"), fragment.get("id")
        keys = []
        if isinstance(index, int) and not isinstance(index, bool):
            keys.append(("index", index))
        if isinstance(call_id, str) and call_id:
            keys.append(("id", call_id))
        call = next((self._calls[k] for k in keys if k in self._calls), None)
        if call is None:
            call = self._last_call if not keys and self._last_call is not None else _Call()
        for key in keys:
            self._calls.setdefault(key, call)
        self._last_call = call
        return call

    def _announce(self, call: _Call) -> list[dict]:
        events = self._close_block()
        call.id = call.id or self._ids("toolu")
        name = self._names.get(call.name, call.name)
        block = {"type": "tool_use", "id": call.id, "name": name, "input": {}}
        events.append(self._open_block("tool_use", block))
        call.block = self._open[1]
        self._open_call = call
        self._tool_blocks += 1
        if call.pending:
            events.append(self._json_delta(call, "".join(call.pending)))
            call.pending = []
        return events

    def _json_delta(self, call: _Call, piece: str) -> dict:
        return {
            "type": "content_block_delta",
            "index": call.block,
            "delta": {"type": "input_json_delta", "partial_json": piece},
        }

    # --- blocks and the end ---------------------------------------------------------------------------

    def _open_block(self, kind: str, block: dict) -> dict:
        index = self._next_block
        self._next_block += 1
        self._open = (kind, index)
        return {"type": "content_block_start", "index": index, "content_block": block}

    def _close_block(self) -> list[dict]:
        if self._open is None:
            return []
        kind, index = self._open
        self._open = None
        events = []
        if kind == "thinking":
            events.append(
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "signature_delta", "signature": SIGNATURE},
                }
            )
        elif kind == "tool_use" and self._open_call is not None:
            self._open_call.closed = True
            self._open_call = None
        events.append({"type": "content_block_stop", "index": index})
        return events

    def _terminal(self) -> list[dict]:
        self._done = True
        reason = _STOP_REASONS.get(self._finish, "end_turn")
        if self._matched_stop is not None:
            reason = "stop_sequence"
        elif self._tool_blocks and reason != "max_tokens":
            reason = "tool_use"  # some providers say `stop` after tool calls; Claude Code runs tools on tool_use
        elif reason == "tool_use":
            reason = "end_turn"  # no call had a name: there is nothing to run
        delta = {"stop_reason": reason, "stop_sequence": self._matched_stop}
        return [
            {"type": "message_delta", "delta": delta, "usage": messages_usage(self._usage)},
            {"type": "message_stop"},
        ]

    def _start(self) -> list[dict]:
        if self._started:
            return []
        self._started = True
        message = {
            "id": self._ids("msg"),
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        return [{"type": "message_start", "message": message}]


def messages_usage(usage: dict | None) -> dict:
    """Chat `usage` -> Anthropic usage: `input_tokens` counts the prompt tokens not read from the cache.

    Anthropic's total input is `input_tokens + cache_creation_input_tokens + cache_read_input_tokens`;
    Chat's `prompt_tokens` includes the cached ones (`prompt_tokens_details.cached_tokens`, or DeepSeek's
    `prompt_cache_hit_tokens`). Zeros when the upstream reported nothing.
    """
    usage = usage if isinstance(usage, dict) else {}
    prompt = token_count(usage.get("prompt_tokens"))
    details = usage.get("prompt_tokens_details")
    cached = token_count(details.get("cached_tokens")) if isinstance(details, dict) else 0
    cached = cached or token_count(usage.get("prompt_cache_hit_tokens"))
    cached = min(cached, prompt)
    return {
        "input_tokens": prompt - cached,
        "output_tokens": token_count(usage.get("completion_tokens")),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
    }


def to_message(completion: dict, client_body: dict, *, ids: Callable[[str], str] = new_id) -> dict:
    """A non-streaming Chat completion as one Anthropic `message` (replayed through `MessagesStream`).

    An error body (`{"error": ...}` with HTTP 200) raises `UpstreamFailed`.
    """
    stream = MessagesStream(client_body, ids=ids)
    events = stream.feed(as_one_chunk(completion)) + stream.close()
    return final_message(events)
