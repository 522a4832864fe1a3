"""Reading an answer: where reasoning text arrives, whether usage arrives, how a stream ends.

The bridges read reasoning from the fields Chat servers commonly use (`reasoning_content`, or
`reasoning`: `protocols.chat.reading.reasoning_of`). A provider that puts it anywhere else (`thinking`,
`thoughts`, ...) needs its pack to move it there, or Codex never sees its reasoning, and a thinking
model that wants its reasoning back after a tool call never gets it. So the reader looks at every
string field of every delta (and of a non-streaming message) that is not one the protocol defines,
and reports the one carrying text: the session turns that into a `rename` step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Fields of a Chat delta or message the protocol (or the de-facto reasoning extension) defines.
CHAT_FIELDS = {"role", "content", "refusal", "tool_calls", "function_call", "name", "audio", "annotations"}
KNOWN_REASONING = ("reasoning_content", "reasoning")


@dataclass
class Reading:
    reasoning_field: str | None = None  # where reasoning text arrived ("reasoning_content", "thoughts", ...)
    unknown_reasoning: bool = False  # arrived in a field the bridges do not read
    example: dict | None = None  # the first event (or body) carrying it, for the pack's test
    usage: bool = False
    finish: list[str] = field(default_factory=list)
    done: bool = False  # `data: [DONE]` (Chat) or a terminal event (Responses)
    end: str = "[DONE]"  # what ends a stream of this protocol
    events: int = 0

    def describe(self) -> str:
        parts = [f"{self.events} events" if self.events else "a body"]
        if self.reasoning_field:
            parts.append(f"reasoning in `{self.reasoning_field}`")
        else:
            parts.append("no reasoning text")
        parts.append("usage sent" if self.usage else "no usage")
        if self.finish:
            parts.append("finish_reason " + ", ".join(dict.fromkeys(self.finish)))
        if self.events:
            parts.append(f"ended with {self.end}" if self.done else "ended without [DONE] or a terminal event")
        return "; ".join(parts)


def read_chat(events: list[Any], body: Any = None) -> Reading:
    reading = Reading(events=len(events))
    texts: dict[str, int] = {}
    first: dict[str, dict] = {}
    objects = [e for e in events if isinstance(e, dict)] + ([body] if isinstance(body, dict) else [])
    for event in objects:
        if isinstance(event.get("usage"), dict):
            reading.usage = True
        for choice in event.get("choices") or []:
            if not isinstance(choice, dict):
                continue
            if choice.get("finish_reason"):
                reading.finish.append(str(choice["finish_reason"]))
            part = choice.get("delta") if isinstance(choice.get("delta"), dict) else choice.get("message")
            for key, value in (part or {}).items():
                if key in CHAT_FIELDS or not isinstance(value, str) or not value:
                    continue
                texts[key] = texts.get(key, 0) + len(value)
                first.setdefault(key, event)
    reading.done = "[DONE]" in events
    known = [k for k in KNOWN_REASONING if k in texts]
    if known:
        reading.reasoning_field = known[0]
        reading.example = first[known[0]]
    elif texts:
        reading.reasoning_field = max(texts, key=texts.__getitem__)
        reading.unknown_reasoning = True
        reading.example = first[reading.reasoning_field]
    return reading


def read_responses(events: list[Any], body: Any = None) -> Reading:
    reading = Reading(events=len(events))
    for event in events:
        if not isinstance(event, dict):
            continue
        kind = str(event.get("type", ""))
        if kind.startswith("response.reasoning") and reading.reasoning_field is None:
            reading.reasoning_field = kind.rsplit(".", 1)[0].removeprefix("response.")
        if kind in ("response.completed", "response.incomplete", "response.failed"):
            reading.done, reading.end = True, kind
            response = event.get("response") or {}
            reading.usage = isinstance(response.get("usage"), dict)
            reading.finish.append(kind.removeprefix("response."))
    if isinstance(body, dict):
        reading.usage = isinstance(body.get("usage"), dict)
        if any(isinstance(i, dict) and i.get("type") == "reasoning" for i in body.get("output") or []):
            reading.reasoning_field = "reasoning item"
    return reading
