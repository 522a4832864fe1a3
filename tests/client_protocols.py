"""What a client of each protocol makes of an answer, read by that protocol's own rules, strictly.

The fault suite asks one question of every answer: would a client of this protocol parse it as a
whole answer (and which text), or as an error (and which message)? Anything else (a frame that is
not JSON, an event after the terminal one, an error body of another protocol's shape, a stream with
no terminal event) fails the reading with an AssertionError, as it would fail the client.

- Chat: `data:` lines of JSON chunks, then `data: [DONE]`; an error is a chunk `{"error": {...}}`
  just before `[DONE]`; a whole answer has a `finish_reason`.
- Responses: every frame `event: T` with data of `type` T; it ends with exactly one terminal event
  (`response.completed` is an answer; `response.failed`, `response.incomplete` or `error` is not).
- Messages: `message_start` first; it ends with `message_stop` (an answer) or an `error` event
  (which may also be the only event, when the stream failed before it began).
- Bodies: the protocol's object on 200; its error shape otherwise (OpenAI's for Chat and Responses,
  `{"type": "error", "error": {type, message}}` for Messages).
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

ROUTES = {"chat": "/v1/chat/completions", "responses": "/v1/responses", "messages": "/v1/messages"}


@dataclass
class Outcome:
    status: int
    ok: bool  # a whole answer (True) or an error the client recognises as one (False)
    text: str = ""  # the answer's text, as the client assembles it (also what it had before an error)
    message: str = ""  # the error's message


def body_for(client: str, model: str, stream: bool, text: str = "hi") -> dict:
    """The smallest request of each client protocol."""
    if client == "responses":
        return {"model": model, "input": text, "stream": stream}
    body = {"model": model, "messages": [{"role": "user", "content": text}], "stream": stream}
    if client == "messages":
        body["max_tokens"] = 64
    return body


def read(client: str, status: int, content_type: str, raw: bytes) -> Outcome:
    """The outcome a client of `client`'s protocol reads from an answer; AssertionError if it cannot."""
    assert b"Traceback" not in raw, raw[-2000:]
    if content_type.startswith("text/event-stream"):
        assert status == 200, status
        frames = sse_frames(raw)
        return {"chat": _chat_stream, "responses": _responses_stream, "messages": _messages_stream}[client](frames)
    assert content_type.startswith("application/json"), (status, content_type, raw[:300])
    body = orjson.loads(raw)
    if status != 200:
        return Outcome(status, False, message=error_message(client, body))
    return Outcome(200, True, text=_whole_text(client, body))


def error_message(client: str, body: object) -> str:
    """The message of an error body in `client`'s shape (AssertionError for any other shape)."""
    assert isinstance(body, dict), body
    if client == "messages":
        assert set(body) == {"type", "error"} and body["type"] == "error", body
        assert set(body["error"]) == {"type", "message"} and isinstance(body["error"]["type"], str), body
    else:
        assert set(body) == {"error"}, body
        assert set(body["error"]) == {"message", "type", "param", "code"}, body
    message = body["error"]["message"]
    assert isinstance(message, str) and message, body
    return message


def sse_frames(raw: bytes) -> list[tuple[str | None, str]]:
    """(event name, data) per frame; the proxy writes `\\n` line ends and ends every frame with a blank line."""
    text = raw.decode("utf-8")  # strict: a client cannot read invalid UTF-8 either
    assert text.endswith("\n\n"), text[-300:]
    frames = []
    for frame in text[:-2].split("\n\n"):
        name, data = None, []
        for line in frame.split("\n"):
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)
            else:
                assert field == "" or field in ("id", "retry"), f"not an SSE line: {line[:200]!r}"
        if data:
            frames.append((name, "\n".join(data)))
    return frames


def _chat_stream(frames: list[tuple[str | None, str]]) -> Outcome:
    assert frames and frames[-1][1] == "[DONE]", frames[-3:]
    chunks = [orjson.loads(data) for _, data in frames[:-1]]  # every chunk is JSON
    assert all(isinstance(c, dict) for c in chunks)
    errors = [i for i, c in enumerate(chunks) if "error" in c]
    text = "".join(
        (choice.get("delta") or {}).get("content") or "" for c in chunks if "error" not in c for choice in c["choices"]
    )
    if errors:
        assert errors == [len(chunks) - 1], "an error chunk must be the last before [DONE]"
        return Outcome(200, False, text=text, message=error_message("chat", chunks[-1]))
    assert any(choice.get("finish_reason") for c in chunks for choice in c["choices"]), "no finish_reason"
    return Outcome(200, True, text=text)


_RESPONSES_TERMINAL = {"response.completed", "response.failed", "response.incomplete", "error"}


def _named_events(frames: list[tuple[str | None, str]]) -> list[dict]:
    """The events of a stream whose SSE event name must be each event's own `type` (Responses, Messages)."""
    events = []
    for name, data in frames:
        event = orjson.loads(data)
        assert event["type"] == name, (name, event.get("type"))
        events.append(event)
    return events


def _responses_stream(frames: list[tuple[str | None, str]]) -> Outcome:
    events = _named_events(frames)
    terminal = [i for i, e in enumerate(events) if e["type"] in _RESPONSES_TERMINAL]
    assert terminal == [len(events) - 1], [e["type"] for e in events]
    text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    last = events[-1]
    if last["type"] == "response.completed":
        return Outcome(200, True, text=text)
    error = last.get("response", {}).get("error") if last["type"] != "error" else last
    assert error and isinstance(error.get("message"), str) and error["message"], last
    return Outcome(200, False, text=text, message=error["message"])


def _messages_stream(frames: list[tuple[str | None, str]]) -> Outcome:
    events = _named_events(frames)
    if [e["type"] for e in events] == ["error"]:  # failed before it started: Anthropic's SDKs raise it as well
        return Outcome(200, False, message=error_message("messages", events[0]))
    assert events[0]["type"] == "message_start", events[0]
    ends = [i for i, e in enumerate(events) if e["type"] in ("message_stop", "error")]
    assert ends == [len(events) - 1], [e["type"] for e in events]
    text = "".join(
        e["delta"].get("text", "")
        for e in events
        if e["type"] == "content_block_delta" and e["delta"]["type"] == "text_delta"
    )
    if events[-1]["type"] == "message_stop":
        return Outcome(200, True, text=text)
    return Outcome(200, False, text=text, message=error_message("messages", events[-1]))


def _whole_text(client: str, body: dict) -> str:
    if client == "chat":
        assert body["object"] == "chat.completion", body
        return body["choices"][0]["message"]["content"] or ""
    if client == "responses":
        assert body["object"] == "response" and body["status"] == "completed", body
        parts = [p for item in body["output"] if item["type"] == "message" for p in item["content"]]
        return "".join(p["text"] for p in parts if p["type"] == "output_text")
    assert body["type"] == "message", body
    return "".join(block["text"] for block in body["content"] if block["type"] == "text")
