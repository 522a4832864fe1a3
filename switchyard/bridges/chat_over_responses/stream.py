"""Responses events -> Chat Completions chunks, and a Responses body -> a `chat.completion`.

The Chat half of the bridge for Chat clients in front of a Responses upstream (protocols.md E.4, E.5).
`ChatStream` is a small state machine fed one upstream event at a time; it answers with the chunks the
client should see, possibly none. Its design choices:

- Tool calls are numbered by a per-response counter, not by `output_index`: a reasoning or message item
  before the call would otherwise leave holes, and Chat clients (the openai SDK among them) index their
  tool-call list by that number.
- A tool call's first fragment always carries `id`, `type` and `function.name`, then arguments follow.
  Arguments are reconciled against the full string in `function_call_arguments.done`/`output_item.done`,
  so upstreams that put them only there (or already in `.added`) still reach the client, exactly once.
- The terminal event decides `finish_reason` from the finished output, which `ResponseAccumulator`
  (switchyard.protocols.aggregate) rebuilds from `output_item.done` when the upstream closes with an empty `output`.
- A failure (`response.failed`, `error` in either shape, `fail()`, or `close()` before any terminal
  event) becomes a chunk `{"error": {...}}`, on which the openai SDK raises `APIError`. A client must
  never mistake a cut stream for a short answer, so there is no final chunk after an error.

Chunks carry `created` from the injected clock and an id from the injected id factory, so goldens are
deterministic. After a terminal event everything fed is ignored; the server writes `data: [DONE]`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from switchyard.bridges import mapping
from switchyard.errors import UpstreamFailed
from switchyard.ids import new_id
from switchyard.protocols.chat.chunks import ChunkWriter, chat_id
from switchyard.protocols.failures import failed
from switchyard.protocols.openai import render_error, upstream_error
from switchyard.protocols.responses.aggregate import ResponseAccumulator

_CALL_ITEMS = {"function_call": ("function", "arguments"), "custom_tool_call": ("custom", "input")}


class ChatStream(ChunkWriter):
    """Translate one Responses SSE stream into `chat.completion.chunk` dicts for a Chat client."""

    def __init__(self, client_body: dict, *, ids: Callable[[str], str] = new_id, clock=lambda: int(time.time())):
        super().__init__(client_body, ids, clock())
        self._accumulator = ResponseAccumulator()
        self._finished = False
        self._calls: dict = {}  # ("id", item id) and ("index", output_index) -> the same call record
        self._call_count = 0
        self._seen: set = set()  # ids of items the client has already seen something of

    # -- the StreamTranslator contract

    def feed(self, event: dict) -> list[dict]:
        if self._finished:
            return []
        self._accumulator.feed(event)
        kind = event.get("type") or ""
        handler = getattr(self, "_on_" + kind.replace(".", "_"), None)
        return handler(event) if handler else []

    def close(self) -> list[dict]:
        return self.fail("The upstream stream ended before the response completed.")

    def fail(self, message: str, code: str = "server_error") -> list[dict]:
        if self._finished:
            return []
        return self._error(failed(message, code))

    # -- event handlers, named after the event type

    def _on_response_created(self, event: dict) -> list[dict]:
        if not self._started and (event.get("response") or {}).get("model"):
            self._model = event["response"]["model"]
        return self._start()

    _on_response_in_progress = _on_response_created
    _on_response_queued = _on_response_created

    def _on_response_output_text_delta(self, event: dict) -> list[dict]:
        return self._delta(event, {"content": event.get("delta") or ""})

    def _on_response_refusal_delta(self, event: dict) -> list[dict]:
        return self._delta(event, {"refusal": event.get("delta") or ""})

    def _on_response_reasoning_summary_text_delta(self, event: dict) -> list[dict]:
        return self._delta(event, {"reasoning_content": event.get("delta") or ""})

    _on_response_reasoning_text_delta = _on_response_reasoning_summary_text_delta

    def _on_response_reasoning_summary_part_added(self, event: dict) -> list[dict]:
        # Summary parts are paragraphs; Chat has one reasoning string, so they are joined by a blank line.
        if (event.get("summary_index") or 0) > 0:
            return self._delta(event, {"reasoning_content": "\n\n"})
        return []

    def _on_response_output_item_added(self, event: dict) -> list[dict]:
        item = event.get("item") or {}
        if item.get("type") not in _CALL_ITEMS:
            return []
        return self._open_call(event, item) + self._complete_call(event, item.get(_CALL_ITEMS[item["type"]][1]))

    def _on_response_function_call_arguments_delta(self, event: dict) -> list[dict]:
        call = self._call(event)
        if call is None or not event.get("delta"):
            return []  # a delta for a call never announced has no index to go to
        call["sent"] += event["delta"]
        return self._emit({"tool_calls": [_call_fragment(call, event["delta"])]})

    _on_response_custom_tool_call_input_delta = _on_response_function_call_arguments_delta

    def _on_response_function_call_arguments_done(self, event: dict) -> list[dict]:
        return self._complete_call(event, event.get("arguments"))

    def _on_response_custom_tool_call_input_done(self, event: dict) -> list[dict]:
        return self._complete_call(event, event.get("input"))

    def _on_response_output_item_done(self, event: dict) -> list[dict]:
        item = event.get("item") or {}
        if item.get("type") in _CALL_ITEMS:
            opened = [] if self._call(event, item) else self._open_call(event, item)
            return opened + self._complete_call(event, item.get(_CALL_ITEMS[item["type"]][1]), item)
        if item.get("id") in self._seen:
            return []
        # An item whose text never came as deltas: its finished form is all the client will get.
        return self._whole_item(item)

    def _on_response_completed(self, event: dict) -> list[dict]:
        response = self._accumulator.result()  # a success event: output rebuilt if it came empty
        chunks = self._start()
        # An upstream that sends nothing but the terminal event: its output is the whole answer. Otherwise
        # only items the client has seen nothing of (by id) are still owed to it.
        nothing_seen = not self._seen
        for item in response.get("output") or []:
            if nothing_seen or (item.get("id") and item["id"] not in self._seen):
                chunks += self._whole_item(item)
        self._finished = True
        usage = mapping.chat_usage(response.get("usage"))
        return chunks + self._closing(finish_reason(response, has_calls=self._call_count > 0), usage)

    _on_response_incomplete = _on_response_completed

    def _on_response_failed(self, event: dict) -> list[dict]:
        return self._error(upstream_error(event))

    _on_error = _on_response_failed

    # -- building chunks

    def _emit(self, delta: dict) -> list[dict]:
        return [*self._start(), self._chunk(delta)]

    def _delta(self, event: dict, delta: dict) -> list[dict]:
        self._seen.add(event.get("item_id"))
        return self._emit(delta)

    def _whole_item(self, item: dict) -> list[dict]:
        if item.get("type") in _CALL_ITEMS:
            event = {"item_id": item.get("id")}
            return self._open_call(event, item) + self._complete_call(event, item.get(_CALL_ITEMS[item["type"]][1]))
        delta = {key: value for key, value in item_texts([item]).items() if value}
        if not delta:
            return []
        self._seen.add(item.get("id"))
        return self._emit(delta)

    def _error(self, error: UpstreamFailed) -> list[dict]:
        self._finished = True
        return [render_error(error)]

    # -- tool calls

    def _call(self, event: dict, item: dict | None = None) -> dict | None:
        item_id = event.get("item_id") or (item or event.get("item") or {}).get("id")
        return self._calls.get(("id", item_id)) or self._calls.get(("index", event.get("output_index")))

    def _open_call(self, event: dict, item: dict) -> list[dict]:
        container, field = _CALL_ITEMS[item["type"]]
        call = {"index": self._call_count, "container": container, "field": field, "sent": ""}
        self._call_count += 1
        if item.get("id"):
            self._calls[("id", item["id"])] = call
            self._seen.add(item["id"])
        if isinstance(event.get("output_index"), int):
            self._calls[("index", event["output_index"])] = call
        header = {
            "index": call["index"],
            "id": item.get("call_id") or item.get("id"),
            "type": container,
            container: {"name": item.get("name"), field: ""},
        }
        return self._emit({"tool_calls": [header]})

    def _complete_call(self, event: dict, full, item: dict | None = None) -> list[dict]:
        """Send whatever part of the call's full arguments the client has not had yet."""
        call = self._call(event, item)
        if call is None or not isinstance(full, str) or not full.startswith(call["sent"]) or full == call["sent"]:
            # Nothing new, or arguments that contradict what was streamed: the streamed ones stand.
            return []
        rest = full[len(call["sent"]) :]
        call["sent"] = full
        return self._emit({"tool_calls": [_call_fragment(call, rest)]})


def _call_fragment(call: dict, text: str) -> dict:
    return {"index": call["index"], call["container"]: {call["field"]: text}}


def item_texts(items: list[dict]) -> dict:
    """The text of output items, by the Chat message field it belongs to."""
    texts: dict[str, list[str]] = {"reasoning_content": [], "content": [], "refusal": []}
    for item in items:
        if item.get("type") == "message":
            for part in item.get("content") or []:
                if part.get("type") == "output_text":
                    texts["content"].append(part.get("text") or "")
                elif part.get("type") == "refusal":
                    texts["refusal"].append(part.get("refusal") or "")
        elif item.get("type") == "reasoning":
            # A summary when there is one; raw reasoning text (gpt-oss style) otherwise.
            parts = item.get("summary") or item.get("content") or []
            texts["reasoning_content"].append("\n\n".join(p.get("text") or "" for p in parts))
    return {
        "reasoning_content": "\n\n".join(t for t in texts["reasoning_content"] if t),
        "content": "".join(texts["content"]),
        "refusal": "".join(texts["refusal"]),
    }


def finish_reason(response: dict, *, has_calls: bool = False) -> str:
    """Chat's `finish_reason` for a finished Responses body."""
    has_calls = has_calls or any(item.get("type") in _CALL_ITEMS for item in response.get("output") or [])
    return mapping.finish_reason(response, has_calls=has_calls)


def to_completion(response: dict, client_body: dict, *, ids=new_id, clock=lambda: int(time.time())) -> dict:
    """A non-streaming Responses body -> a `chat.completion` (protocols.md E.5).

    A failed response raises `UpstreamFailed`; an empty `output` gives an empty message (there are no
    `output_item.done` events to rebuild it from in a single body).
    """
    if response.get("status") == "failed":
        raise upstream_error({"type": "response.failed", "response": response})
    output = response.get("output") or []
    texts = item_texts(output)
    message: dict = {"role": "assistant", "content": texts["content"] or None, "refusal": texts["refusal"] or None}
    if texts["reasoning_content"]:
        message["reasoning_content"] = texts["reasoning_content"]
    calls = [_tool_call(item) for item in output if item.get("type") in _CALL_ITEMS]
    if calls:
        message["tool_calls"] = calls
    completion = {
        "id": chat_id(ids),
        "object": "chat.completion",
        "created": clock(),
        "model": response.get("model") or client_body.get("model"),
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason(response)}],
    }
    usage = mapping.chat_usage(response.get("usage"))
    if usage is not None:
        completion["usage"] = usage
    return completion


def _tool_call(item: dict) -> dict:
    container, field = _CALL_ITEMS[item["type"]]
    return {
        "id": item.get("call_id") or item.get("id"),
        "type": container,
        container: {"name": item.get("name"), field: item.get(field) or ""},
    }
