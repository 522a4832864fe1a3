"""switchyard/pipeline.py `Stream`: how a same-protocol stream ends for its client, event by event.

The stream is fed decoded SSE events as the proxy feeds it; what comes out is exactly the bytes the
client gets. The rule under test: a client always sees the end of its stream in its own protocol
(a terminal Responses event, or `[DONE]` for Chat), and an upstream that stops early or reports an
error produces an error the client acts on, never a stream that just stops.
"""

from __future__ import annotations

import orjson

from switchyard.language.loader import load_text
from switchyard.language.pack import compile_pack
from switchyard.pipeline import Pipeline
from switchyard.protocols.sse import Event, SSEDecoder


def pack(protocol: str, response_steps: str = "[]"):
    text = f"pack: p\nmatch: model\nupstream: {{url: 'http://u', protocol: {protocol}}}\nresponse: {response_steps}\n"
    doc, _ = load_text(text, "p.yaml")
    compiled, problems = compile_pack(doc)
    assert not problems, problems
    return compiled


class Relay:
    """The server's loop over one stream: each read's events in, the client's bytes out."""

    def __init__(self, client: str, response_steps: str):
        self.stream = Pipeline(pack(client, response_steps), client).stream({})

    def events(self, events: list) -> bytes:
        return self.stream.encode(self.stream.feed(events))

    def close(self) -> bytes:
        return self.stream.encode(self.stream.close())


def relay(client: str, response_steps: str = "[]") -> Relay:
    return Relay(client, response_steps)


def data(obj: dict) -> Event:
    return Event(orjson.dumps(obj).decode())


def decoded(out: bytes) -> list:
    return [ev.data if ev.is_done else orjson.loads(ev.data) for ev in SSEDecoder().decode(out)]


def test_a_responses_error_event_is_followed_by_response_failed_with_its_code() -> None:
    r = relay("responses")
    out = r.events([data({"type": "response.created", "sequence_number": 0, "response": {"id": "resp_1"}})])
    out += r.events([data({"type": "error", "sequence_number": 1, "code": "context_length_exceeded", "message": "m"})])
    out += r.events([data({"type": "response.failed", "sequence_number": 2, "response": {"id": "resp_1"}})])
    events = decoded(out)
    assert [e["type"] for e in events] == ["response.created", "error", "response.failed"]
    assert events[-1]["response"]["error"] == {"code": "context_length_exceeded", "message": "m"}
    assert events[-1]["response"]["id"] == "resp_1" and events[-1]["sequence_number"] == 2


def test_done_before_any_terminal_responses_event_becomes_response_failed() -> None:
    r = relay("responses")
    out = r.events([data({"type": "response.created", "sequence_number": 0, "response": {"id": "resp_1"}})])
    out += r.events([Event("[DONE]")]) + r.close()
    events = decoded(out)
    assert [e["type"] for e in events] == ["response.created", "response.failed"]


def test_a_completed_responses_stream_ends_without_a_failure_even_with_a_trailing_done() -> None:
    r = relay("responses")
    out = r.events([data({"type": "response.completed", "sequence_number": 0, "response": {"id": "r"}})])
    out += r.events([Event("[DONE]")]) + r.close()
    assert [e["type"] for e in decoded(out)] == ["response.completed"]


def test_a_chat_stream_closed_without_a_finish_reason_ends_with_an_error_chunk_and_done() -> None:
    r = relay("chat")
    out = r.events([data({"choices": [{"index": 0, "delta": {"content": "Hal"}}]})]) + r.close()
    events = decoded(out)
    assert events[-2]["error"]["message"].startswith("the upstream stream ended") and events[-1] == "[DONE]"


def test_a_chat_stream_that_finished_but_closed_without_done_gets_its_done() -> None:
    r = relay("chat")
    out = r.events([data({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})]) + r.close()
    assert decoded(out)[-1] == "[DONE]" and "error" not in decoded(out)[0]


def test_response_steps_run_on_every_event_and_non_json_events_pass_unchanged() -> None:
    r = relay("chat", "[{rename: {'choices[].delta.reasoning': reasoning_content}}]")
    out = r.events([data({"choices": [{"delta": {"reasoning": "hm"}}]}), Event("keep-alive", event="ping")])
    assert b'"reasoning_content":"hm"' in out and b"event: ping\ndata: keep-alive\n\n" in out


def test_nothing_reaches_the_client_after_the_end_of_its_stream() -> None:
    r = relay("chat")
    finish = data({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    out = r.events([finish, Event("[DONE]"), data({"choices": [{"delta": {"content": "late"}}]})]) + r.close()
    assert decoded(out)[1:] == ["[DONE]"]


def test_a_chat_done_without_any_finish_reason_is_an_error_then_done() -> None:
    # As with a bridge in the path: an upstream that stops without finishing has not answered.
    r = relay("chat")
    out = r.events([data({"choices": [{"index": 0, "delta": {"content": "Hal"}}]}), Event("[DONE]")])
    events = decoded(out)
    assert "error" in events[1] and events[2:] == ["[DONE]"]
