"""Chat tool-call fragments -> whole calls: which call each streamed fragment belongs to.

A Chat stream sends a tool call in fragments, `{index?, id?, function: {name?, arguments?}}`, and
servers differ in what they repeat (protocols.md E.3, step 4): OpenAI sends `index` on every fragment
and `id` and `name` on the first; some servers omit `index`, some `id`, some both, and some send the
id only after the first fragment. `Calls.find` puts each fragment with its call by id, then by index,
then with the last call (as Codex's own Chat reader did); a call without an id gets a made-up one.

The Responses side (`responses_events.ResponsesStream`) decides when a call is announced and closed;
this module only keeps the calls apart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import orjson


@dataclass
class Call:
    """One tool call of the answer, as far as its fragments have told."""

    call_id: str
    synthetic_id: bool
    name: str = ""
    arguments: str = ""
    item_id: str = ""
    output_index: int | None = None  # None until announced
    namespace: str | None = None
    kind: str = "function"


class Calls:
    """The tool calls of one answer, found by id, by index, or by order."""

    def __init__(self, ids: Callable[[str], str]):
        self._ids = ids
        self._open: list[Call] = []
        self._by_index: dict[int, Call] = {}
        self._by_id: dict[str, Call] = {}

    def find(self, tool_call: dict) -> Call:
        """The call a fragment belongs to: by id, then by index, then the last call (some servers send neither)."""
        call_id = tool_call.get("id") if isinstance(tool_call.get("id"), str) and tool_call.get("id") else None
        index = tool_call.get("index") if isinstance(tool_call.get("index"), int) else None
        known = self._by_index.get(index) if index is not None else None
        last = self._open[-1] if self._open else None
        if call_id in self._by_id:
            call = self._by_id[call_id]
        elif call_id and known is not None and known.synthetic_id and known.output_index is None:
            call = known  # the id came after the first fragment, before anyone saw the made-up one
            call.call_id, call.synthetic_id = call_id, False
        elif known is not None and call_id is None:
            call = known
        elif index is None and call_id is None and last is not None and not _starts_new_call(last, tool_call):
            call = last
        else:
            call = Call(call_id or self._ids("call"), synthetic_id=call_id is None)
            self._open.append(call)
        if call_id:
            self._by_id[call_id] = call
        if index is not None:
            self._by_index[index] = call
        return call

    def close(self) -> list[Call]:
        """Every call so far, in order of their first fragment; none is open afterwards."""
        calls, self._open = self._open, []
        return calls


def _starts_new_call(last: Call, tool_call: dict) -> bool:
    """Without id and index, a named fragment after a call whose arguments are complete JSON is a new call."""
    function = tool_call.get("function")
    if not isinstance(function, dict) or not function.get("name") or not last.name:
        return False
    try:
        orjson.loads(last.arguments)
    except orjson.JSONDecodeError:
        return False
    return True


def custom_input(arguments: str) -> str:
    """The free text of a custom-tool call, which the request side wrapped as `{"input": "..."}`."""
    try:
        value = orjson.loads(arguments or "{}")
    except orjson.JSONDecodeError:
        return arguments  # the model wrote the text itself: that is the input
    if isinstance(value, dict):
        if isinstance(value.get("input"), str):
            return value["input"]
        strings = [v for v in value.values() if isinstance(v, str)]
        if len(strings) == 1:
            return strings[0]  # the model renamed the parameter; its only text is still the input
    return arguments
