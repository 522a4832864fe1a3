"""Turning a stream into the one body a non-streaming client expects, and following a Responses stream to its end.

Two callers need to know what a whole stream amounted to:

- the server, when a pack sets `force_stream: true` and the client did not ask for a stream: the
  upstream streams, the client wants one body. `chat_completion(chunks)` folds Chat chunks into a
  `chat.completion`; `final_response(events)` returns the `response` of a Responses stream's terminal
  event.
- the Chat bridge (`switchyard.bridges.chat_over_responses.stream.ChatStream`), which must decide
  `finish_reason` from the finished output even when the upstream's terminal event does not carry it.

Both rest on `ResponseAccumulator`. The one thing it knows that a naive reader does not: some upstreams
(the ChatGPT backend) close with a `response.completed` whose `output` is EMPTY, having sent every item
only in `response.output_item.done`. The accumulator keeps those items and rebuilds `output` from them,
in `output_index` order, whenever the terminal event arrives without one. One class, so the streaming
and the non-streaming paths cannot disagree about what the upstream said.

A stream that failed (`response.failed`, an `error` event, an error chunk) or that ended without a
terminal event is never turned into a body: that would be a truncated success. It raises
`UpstreamFailed`, carrying the upstream's message and code and the HTTP status the proxy should answer
with, so the server renders it in the OpenAI error shape.
"""

from __future__ import annotations

from switchyard.bridges.mapping import classify
from switchyard.errors import UpstreamError

SUCCESS_EVENTS = frozenset({"response.completed", "response.incomplete"})
FAILURE_EVENTS = frozenset({"response.failed", "error"})


class UpstreamFailed(UpstreamError):
    """The upstream reported a failure (in a stream or a body); its own code decides the status."""

    def __init__(self, message: str, *, code: str | None = "server_error", type: str | None = None, param=None):
        # One table (switchyard.bridges.mapping) classifies the failure for both kinds of client: the HTTP status
        # a non-streaming client gets, and the code Codex acts on in a `response.failed`.
        status, self.responses_code = classify(message, code, type)
        # Without an upstream type, the status decides: a refused request is the client's error, not the server's.
        kind = type or ("invalid_request_error" if status == 400 else "server_error")
        super().__init__(message, code=code, status=status, type=kind, param=param)


def upstream_error(event: dict) -> UpstreamFailed:
    """The error an upstream failure carries, in any of the shapes upstreams send: the one parser of them.

    Responses: `response.failed` nests it in `response.error`; the spec's `error` event has
    `code`/`message`/`param` at the top level; the ChatGPT backend sends
    `{"type": "error", "error": {type, code, message}}`. Chat: a chunk or a body `{"error": {...}}`, or
    `{"error": "text"}` from some servers.
    """
    if event.get("type") == "response.failed":
        response = event.get("response")
        error = response.get("error") if isinstance(response, dict) else None
    elif event.get("error"):
        error = event["error"]
    else:
        error = event
    if isinstance(error, str):
        error = {"message": error}
    elif not isinstance(error, dict):
        error = {}
    message = error.get("message")
    message = str(message) if message else "The upstream response failed."
    code = error.get("code")
    code = str(code) if code is not None and code != "" else "server_error"  # some servers send numbers
    # An `error` event's own `type` is the event name, not an error type.
    kind = error.get("type") if error is not event and isinstance(error.get("type"), str) else None
    param = error.get("param") if isinstance(error.get("param"), str) else None
    return UpstreamFailed(message, code=code, type=kind, param=param)


class ResponseAccumulator:
    """Follows one Responses stream: the items it finished, and how it ended.

    `feed` every event; `result()` returns the final response (with `output` rebuilt when the upstream
    sent it empty) or raises `UpstreamFailed`.
    """

    def __init__(self) -> None:
        self.items: dict[int, dict] = {}  # output_index -> item from response.output_item.done
        self.terminal: dict | None = None  # the completed/incomplete/failed/error event

    def feed(self, event: dict) -> None:
        if self.terminal is not None:
            return
        kind = event.get("type")
        if kind == "response.output_item.done" and isinstance(event.get("item"), dict):
            index = event.get("output_index")
            if not isinstance(index, int):
                # Without an index, arrival order is the only order there is.
                index = max(self.items, default=-1) + 1
            self.items[index] = event["item"]
        elif kind in SUCCESS_EVENTS or kind in FAILURE_EVENTS:
            self.terminal = event

    def rebuilt_output(self) -> list[dict]:
        """The items of every `response.output_item.done` seen, in output order."""
        return [self.items[index] for index in sorted(self.items)]

    def result(self) -> dict:
        """The terminal event's `response`, `output` rebuilt if it came empty; raises when the stream failed."""
        if self.terminal is None:
            raise UpstreamFailed("The upstream stream ended before the response completed.")
        if self.terminal.get("type") in FAILURE_EVENTS:
            raise upstream_error(self.terminal)
        response = dict(self.terminal.get("response") or {})
        if not response.get("output") and self.items:
            response["output"] = self.rebuilt_output()
        return response


def final_response(events: list[dict]) -> dict:
    """The Responses body a whole stream amounts to; raises `UpstreamFailed` if it failed or was cut."""
    accumulator = ResponseAccumulator()
    for event in events:
        accumulator.feed(event)
    return accumulator.result()


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
        raise UpstreamFailed("The upstream stream ended before the response completed.")
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
