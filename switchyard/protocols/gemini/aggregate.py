"""Folding a Gemini stream into the one `GenerateContentResponse` a `generateContent` client expects.

Used when a pack sets `force_stream: true` and the client called `generateContent`, and by the
Gemini-over-Chat bridge for non-streaming answers. Each chunk of a Gemini stream is a whole
`GenerateContentResponse` holding only the new parts (gemini.md 3), so the fold is:

- parts are appended in order; a text part continues the text part before it when both are thought
  or both are not, and the earlier one carries no `thoughtSignature` (a signed part is never merged
  into another: the signature belongs to the part it came on, and the client echoes it there); the
  later part's signature moves onto the text it continues, as a non-streamed answer carries it;
- `finishReason`, `finishMessage` and the other candidate fields: the last value seen wins;
- `usageMetadata` is cumulative in Gemini's streams: the last one is kept;
- `modelVersion`, `responseId`, `promptFeedback`: the last seen.

A stream with an error chunk, or one that never finished (no `finishReason`, no blocked prompt),
raises `UpstreamFailed`: a client asking for one body never gets half an answer.
"""

from __future__ import annotations

from collections.abc import Iterable

from switchyard.protocols.failures import failed
from switchyard.protocols.gemini.errors import upstream_error
from switchyard.protocols.gemini.passthrough import finished

_TOP = ("usageMetadata", "modelVersion", "responseId", "promptFeedback", "createTime")


class ResponseAccumulator:
    """Fed one chunk at a time; `result()` is the response so far, `done` once the answer finished."""

    def __init__(self) -> None:
        self.response: dict = {}
        self.candidates: dict[int, dict] = {}
        self.done = False

    def feed(self, chunk: dict) -> None:
        if "error" in chunk:
            raise upstream_error(chunk)
        if finished(chunk):
            self.done = True
        for key in _TOP:
            if chunk.get(key) is not None:
                self.response[key] = chunk[key]
        for candidate in chunk.get("candidates") or ():
            if type(candidate) is dict:
                self._candidate(candidate)

    def _candidate(self, given: dict) -> None:
        index = given.get("index") if isinstance(given.get("index"), int) else 0
        into = self.candidates.get(index)
        if into is None:
            into = self.candidates[index] = {"content": {"role": "model", "parts": []}, "index": index}
        for key, value in given.items():
            if key != "content" and value is not None:
                into[key] = value
        content = given.get("content")
        if not isinstance(content, dict):
            return
        if isinstance(content.get("role"), str):
            into["content"]["role"] = content["role"]
        parts = into["content"]["parts"]
        for part in content.get("parts") or ():
            if type(part) is dict:
                _append(parts, part)

    def result(self) -> dict:
        if not self.done:
            raise failed("The upstream stream ended before the response completed.")
        out: dict = {}
        if self.candidates:
            out["candidates"] = [self.candidates[i] for i in sorted(self.candidates)]
        out.update(self.response)
        return out


def _append(parts: list[dict], part: dict) -> None:
    last = parts[-1] if parts else None
    if (
        last is not None
        and isinstance(last.get("text"), str)
        and isinstance(part.get("text"), str)
        and bool(last.get("thought")) == bool(part.get("thought"))
        and "thoughtSignature" not in last
        and set(part) <= _TEXT_KEYS
    ):
        last["text"] += part["text"]
        if "thoughtSignature" in part:
            last["thoughtSignature"] = part["thoughtSignature"]
        return
    parts.append(dict(part))


_TEXT_KEYS = frozenset({"text", "thought", "thoughtSignature"})


def final_response(events: Iterable[dict]) -> dict:
    """Fold Gemini stream chunks into one `GenerateContentResponse`; raises `UpstreamFailed` on an error or a cut."""
    accumulator = ResponseAccumulator()
    for event in events:
        if type(event) is dict:
            accumulator.feed(event)
        elif type(event) is list:  # a JSON-array stream read whole: its elements are the chunks
            for chunk in event:
                if type(chunk) is dict:
                    accumulator.feed(chunk)
    return accumulator.result()
