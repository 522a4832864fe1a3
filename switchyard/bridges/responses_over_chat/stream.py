"""Chat Completions chunks -> Responses events: the response half of the Responses-over-Chat bridge.

`ResponsesStream` is a small state machine fed one upstream chunk at a time. It emits the full event
sequence both strict consumers need (protocols.md A.4, D.3, E.3): Codex takes items only from
`response.output_item.done` and needs a `response.completed`; the openai SDK accumulates
`output_item.added` / `content_part.added` / deltas by dense `output_index` and `content_index` and
asserts their types. So every item is announced before its first delta, closed with its complete
form, and the stream ends with exactly one terminal event (`completed`, `incomplete` or `failed`).

Design choices:

- One machine for both modes: `to_response` replays a non-streaming completion as one chunk, so the
  two paths cannot drift apart.
- Tool names come back through `request.tool_names(client_body)`: flattened namespace names are
  split into `namespace` + `name`, calls to the client's custom tools become `custom_tool_call`
  items whose `input` is the `input` argument of the function the request side made up, and a call
  to `tool_search` (a client-executed tool search) becomes a `tool_search_call` item.
- Which call a fragment belongs to (by id, index or order) is `calls.Calls`'s business.
- A call is announced once its name is known (names may arrive late); arguments seen before that are
  sent as one delta right after the announcement. A call that never gets a name is dropped, as Codex's
  own Chat adaptor did: it could not be executed anyway. Custom-tool input is sent in one delta at the
  end, because it is a JSON string field that cannot be decoded before the arguments are complete.
- Reasoning text becomes a `reasoning` item streamed as `reasoning_text`. Its final form carries the
  text in `content` (reasoning_text) AND `summary` (summary_text): Codex resends both on the next turn
  (and shows the summary), and `chat_request` turns `content` (else `summary`) back into
  `reasoning_content`, which thinking-mode providers require after tool calls. `encrypted_content`
  stays null: Codex resends `content` as is, so nothing needs hiding there.
- Failures never close open items: a half-streamed tool call must not look complete to a client that
  executes items from `output_item.done`. `response.failed` carries an error code Codex acts on.
- A stream that ends (`[DONE]` or EOF) before any `finish_reason` was cut, whatever the transport says:
  it fails, open items stay open. Completing it would hand Codex a half-written call to run.
- Only the protocol is known here: the OpenAI `finish_reason` values, and reasoning text in
  `reasoning_content` or `reasoning` (a string, or an object with `text` or `content`), the de-facto Chat
  extension many servers share (protocols.md B.6). A provider's own fields and values (MiniMax's
  `reasoning_details`, GLM's `sensitive`) are mapped onto these by its pack's `response` steps.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson

from switchyard.bridges.mapping import echo, incomplete_reason, responses_usage
from switchyard.bridges.responses_over_chat.calls import Call, Calls, custom_input
from switchyard.bridges.responses_over_chat.request import tool_names
from switchyard.errors import UpstreamFailed
from switchyard.ids import new_id
from switchyard.protocols.chat.reading import as_one_chunk, reasoning_of, text_of
from switchyard.protocols.failures import failed
from switchyard.protocols.openai import upstream_error


def _now() -> int:
    return int(time.time())


@dataclass
class _Open:
    """A message or reasoning item being streamed.

    Its text is kept as the list of its deltas and joined once when the item closes: `str +=` on a
    long answer copies the whole text at every delta (quadratic in the answer's length).
    """

    item_id: str
    output_index: int
    parts: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(self.parts)


class ResponsesStream:
    """Turns the chunks of one Chat Completions stream into the events of one Responses stream."""

    def __init__(self, client_body: dict, *, ids: Callable[[str], str] = new_id, clock: Callable[[], int] = _now):
        self._ids = ids
        self._clock = clock
        self._names = tool_names(client_body)
        self._id = ids("resp")
        self._created_at = clock()
        self._seq = 0
        self._started = False
        self._done = False
        self._items: list[dict | None] = []  # final items by output_index; None while open
        self._message: _Open | None = None
        self._reasoning: _Open | None = None
        self._calls = Calls(ids)
        self._finish: str | None = None
        self._usage: dict | None = None
        self._echo = echo(client_body)

    # --- the translator contract ---------------------------------------------------------------------

    def feed(self, chunk: dict) -> list[dict]:
        if self._done:
            return []
        events = self._start() if not self._started else []
        if chunk.get("error"):
            return events + self._fail(upstream_error(chunk))
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            self._usage = usage
        for choice in chunk.get("choices") or []:
            # n > 1 has no Responses equivalent; the first choice is the answer.
            if (choice.get("index") or 0) != 0 or self._finish is not None or self._done:
                continue
            events += self._delta(choice.get("delta") or {})
            if choice.get("finish_reason"):
                events += self._finish_with(choice["finish_reason"])
        # The usage chunk comes after the finish chunk (or on it); only then is the response complete.
        if self._finish is not None and isinstance(usage, dict) and not self._done:
            events += self._terminal()
        return events

    def close(self) -> list[dict]:
        if self._done:
            return []
        if self._finish is None:
            # No finish_reason: the upstream was cut, even if it said [DONE]. Open items stay open.
            return self.fail("the upstream stream ended before it finished")
        return self._start() + self._terminal()

    def fail(self, message: str, code: str = "server_error") -> list[dict]:
        return self._fail(failed(message, code))

    def _fail(self, failure: UpstreamFailed) -> list[dict]:
        if self._done:
            return []
        events = self._start()
        self._done = True
        error = {"code": failure.responses_code, "message": failure.message}
        return [*events, self._event("response.failed", response=self._response("failed", error=error))]

    # --- deltas --------------------------------------------------------------------------------------

    def _delta(self, delta: dict) -> list[dict]:
        events: list[dict] = []
        reasoning = reasoning_of(delta)
        if reasoning:
            events += self._reasoning_delta(reasoning)
        content = delta.get("content")
        refusal = delta.get("refusal")
        # A plain string and no refusal is nearly every text chunk: no call for it.
        text = content if type(content) is str and refusal is None else text_of(content) + text_of(refusal)
        if text:
            events += self._text_delta(text)
        tool_calls = delta.get("tool_calls")
        if tool_calls:
            for tool_call in tool_calls:
                if isinstance(tool_call, dict):
                    events += self._tool_call_delta(tool_call)
        return events

    def _reasoning_delta(self, text: str) -> list[dict]:
        events = self._close_message("completed") if self._message is not None else []
        if self._reasoning is None:
            self._reasoning = _Open(self._ids("rs"), self._next_index())
            item = {"id": self._reasoning.item_id, "type": "reasoning", "status": "in_progress", "summary": []}
            events.append(self._item_added(self._reasoning.output_index, item))
            events.append(self._part_event("response.content_part.added", self._reasoning, _reasoning_part("")))
        self._reasoning.parts.append(text)
        events.append(self._delta_event("response.reasoning_text.delta", self._reasoning, text))
        return events

    def _text_delta(self, text: str) -> list[dict]:
        events = self._close_reasoning("completed") if self._reasoning is not None else []
        if self._message is None:
            self._message = _Open(self._ids("msg"), self._next_index())
            item = {"id": self._message.item_id, "type": "message", "status": "in_progress", "role": "assistant"}
            events.append(self._item_added(self._message.output_index, {**item, "content": []}))
            events.append(self._part_event("response.content_part.added", self._message, _text_part("")))
        self._message.parts.append(text)
        events.append(self._delta_event("response.output_text.delta", self._message, text, []))
        return events

    def _tool_call_delta(self, tool_call: dict) -> list[dict]:
        call = self._calls.find(tool_call)
        function = tool_call.get("function") or {}
        if function.get("name"):
            call.name = function["name"]
        fragment = function.get("arguments")
        if isinstance(fragment, dict | list):  # a few servers send the arguments already parsed
            fragment = orjson.dumps(fragment).decode()
        announced = call.output_index is not None
        if fragment:
            call.arguments += fragment
        if not announced and call.name:
            return self._announce(call)
        if announced and fragment and call.kind == "function":
            return [self._arguments_delta(call, fragment)]
        return []

    def _announce(self, call: Call) -> list[dict]:
        events = self._close_message("completed") + self._close_reasoning("completed")
        namespace, name, kind = self._names.get(call.name, (None, call.name, "function"))
        call.namespace, call.name, call.kind = namespace, name, kind
        call.item_id = self._ids(_ITEM_ID_PREFIX[kind])
        call.output_index = self._next_index()
        events.append(self._item_added(call.output_index, self._call_item(call, "in_progress")))
        if call.arguments and kind == "function":
            events.append(self._arguments_delta(call, call.arguments))
        return events

    # --- closing -------------------------------------------------------------------------------------

    def _finish_with(self, reason: str) -> list[dict]:
        self._finish = reason
        return self._close_items("incomplete" if incomplete_reason(reason) else "completed")

    def _close_items(self, status: str) -> list[dict]:
        events = self._close_reasoning(status) + self._close_message(status)
        for call in self._calls.close():
            events += self._close_call(call, status)
        return events

    def _close_reasoning(self, status: str) -> list[dict]:
        item, self._reasoning = self._reasoning, None
        if item is None:
            return []
        text = item.text
        final = {
            "id": item.item_id,
            "type": "reasoning",
            "status": status,
            "summary": [{"type": "summary_text", "text": text}],
            "content": [_reasoning_part(text)],
            "encrypted_content": None,
        }
        return [
            self._part_event("response.reasoning_text.done", item, text=text),
            self._part_event("response.content_part.done", item, _reasoning_part(text)),
            self._item_done(item.output_index, final),
        ]

    def _close_message(self, status: str) -> list[dict]:
        item, self._message = self._message, None
        if item is None:
            return []
        text = item.text
        final = {"id": item.item_id, "type": "message", "status": status, "role": "assistant"}
        final["content"] = [_text_part(text)]
        return [
            self._part_event("response.output_text.done", item, text=text, logprobs=[]),
            self._part_event("response.content_part.done", item, _text_part(text)),
            self._item_done(item.output_index, final),
        ]

    def _close_call(self, call: Call, status: str) -> list[dict]:
        if call.output_index is None:
            return []  # never named: nothing the client could run
        ref = self._call_ref(call)
        if call.kind == "tool_search":
            events = []  # a tool search call has no argument events: its item carries the arguments
        elif call.kind == "custom":
            text = custom_input(call.arguments)
            events = [self._event("response.custom_tool_call_input.delta", **ref, delta=text)] if text else []
            events.append(self._event("response.custom_tool_call_input.done", **ref, input=text))
        else:
            events = [
                self._event("response.function_call_arguments.done", **ref, name=call.name, arguments=call.arguments)
            ]
        events.append(self._item_done(call.output_index, self._call_item(call, status)))
        return events

    def _terminal(self) -> list[dict]:
        self._done = True
        usage = responses_usage(self._usage)
        reason = incomplete_reason(self._finish)
        if reason:
            response = self._response("incomplete", usage=usage, incomplete_details={"reason": reason})
            return [self._event("response.incomplete", response=response)]
        return [self._event("response.completed", response=self._response("completed", usage=usage))]

    # --- building blocks -----------------------------------------------------------------------------

    def _start(self) -> list[dict]:
        if self._started:
            return []
        self._started = True
        return [
            self._event("response.created", response=self._response("in_progress")),
            self._event("response.in_progress", response=self._response("in_progress")),
        ]

    def _event(self, type: str, **fields) -> dict:
        event = {"type": type, "sequence_number": self._seq, **fields}
        self._seq += 1
        return event

    def _delta_event(self, type: str, item: _Open, text: str, logprobs: list | None = None) -> dict:
        # The per-token event, built as one literal (the same keys in the same order as `_part_event`
        # would give): it is most of a stream's events.
        event = {
            "type": type,
            "sequence_number": self._seq,
            "item_id": item.item_id,
            "output_index": item.output_index,
            "content_index": 0,
            "delta": text,
        }
        if logprobs is not None:
            event["logprobs"] = logprobs
        self._seq += 1
        return event

    def _part_event(self, type: str, item: _Open, part: dict | None = None, **fields) -> dict:
        ref = {"item_id": item.item_id, "output_index": item.output_index, "content_index": 0}
        if part is not None:
            ref["part"] = part
        return self._event(type, **ref, **fields)

    def _item_added(self, output_index: int, item: dict) -> dict:
        return self._event("response.output_item.added", output_index=output_index, item=item)

    def _arguments_delta(self, call: Call, fragment: str) -> dict:
        return self._event("response.function_call_arguments.delta", **self._call_ref(call), delta=fragment)

    def _item_done(self, output_index: int, item: dict) -> dict:
        self._items[output_index] = item
        return self._event("response.output_item.done", output_index=output_index, item=item)

    def _next_index(self) -> int:
        self._items.append(None)
        return len(self._items) - 1

    def _call_ref(self, call: Call) -> dict:
        return {"item_id": call.item_id, "output_index": call.output_index}

    def _call_item(self, call: Call, status: str) -> dict:
        if call.kind == "tool_search":
            # The client runs the search (`execution: client`) and answers with a tool_search_output item.
            arguments = _parsed(call.arguments) if status != "in_progress" else {}
            return {"id": call.item_id, "type": "tool_search_call", "status": status, "call_id": call.call_id,
                    "execution": "client", "arguments": arguments}  # fmt: skip
        item = {"id": call.item_id, "type": "custom_tool_call" if call.kind == "custom" else "function_call"}
        item["status"] = status
        if call.kind == "custom":
            item["input"] = custom_input(call.arguments) if status != "in_progress" else ""
        else:
            item["arguments"] = call.arguments if status != "in_progress" else ""
        item.update(call_id=call.call_id, name=call.name)
        if call.namespace:
            item["namespace"] = call.namespace
        return item

    def _response(self, status: str, **fields) -> dict:
        # Every field the spec requires, from the request's echo computed once (`mapping.echo`); only a
        # completed response has a `completed_at`.
        response = {"id": self._id, "object": "response", "created_at": self._created_at, "status": status}
        response["completed_at"] = self._clock() if status == "completed" else None
        response["error"] = fields.get("error")
        response["incomplete_details"] = fields.get("incomplete_details")
        response.update(self._echo)
        response["output"] = [item for item in self._items if item is not None] if status != "in_progress" else []
        response["usage"] = fields.get("usage")
        return response


def to_response(
    completion: dict, client_body: dict, *, ids: Callable[[str], str] = new_id, clock: Callable[[], int] = _now
) -> dict:
    """A non-streaming Chat completion as a Responses `response` object (replayed through `ResponsesStream`).

    An error body (`{"error": ...}` with HTTP 200) raises `UpstreamFailed`, as a failed Responses body does
    in the other direction, so the client gets an error status rather than a 200 with `status: failed`.
    """
    stream = ResponsesStream(client_body, ids=ids, clock=clock)
    events = stream.feed(as_one_chunk(completion)) + stream.close()
    return events[-1]["response"]


def _text_part(text: str) -> dict:
    return {"type": "output_text", "text": text, "annotations": []}


def _reasoning_part(text: str) -> dict:
    return {"type": "reasoning_text", "text": text}


# The id prefix of the output item each kind of tool call becomes.
_ITEM_ID_PREFIX = {"function": "fc", "custom": "ctc", "tool_search": "ts"}


def _parsed(arguments: str):
    """A tool search's arguments as the object the client reads; text that is not JSON stays text."""
    try:
        return orjson.loads(arguments) if arguments else {}
    except orjson.JSONDecodeError:
        return arguments
