"""switchyard/bridges/__init__.py: every pair of protocols has a bridge (identity, direct or composed through Chat)."""

from __future__ import annotations

import pytest

from switchyard import bridges, protocols
from switchyard.bridges import Chained


def test_every_pair_of_protocols_with_its_hops_to_and_from_chat_has_a_bridge_and_same_protocol_gets_the_identity():
    hops = bridges.direct()
    for client in protocols.names():
        for upstream in protocols.names():
            reachable = (
                client == upstream
                or (client, upstream) in hops
                or ((client, "chat") in hops and ("chat", upstream) in hops)
            )
            if not reachable:  # a protocol whose bridge from (or to) the hub is not written yet
                with pytest.raises(KeyError):
                    bridges.get(client, upstream)
                continue
            bridge = bridges.get(client, upstream)
            assert (bridge.client, bridge.upstream) == (client, upstream)
            assert bridge.identity == (client == upstream)


def test_gemini_clients_reach_every_upstream_through_chat() -> None:
    assert bridges.get("gemini", "chat").label == "bridge gemini -> chat"
    for upstream in ("responses", "messages"):
        assert bridges.get("gemini", upstream).via == ("chat",)
    assert {("gemini", "responses"), ("gemini", "messages")} <= set(bridges.composed())


def test_the_identity_bridge_passes_bodies_through_and_ends_streams_with_the_protocols_own_translator() -> None:
    bridge = bridges.get("chat", "chat")
    body = {"model": "m", "messages": []}
    assert bridge.request(body) is body and bridge.response(body, {}) is body
    translator = bridge.stream({})
    assert translator.close()[0]["error"]["message"].startswith("the upstream stream ended")
    assert bridge.label == "identity"


def test_direct_bridges_are_named_by_direction() -> None:
    assert set(bridges.direct()) == {
        ("responses", "chat"),
        ("chat", "responses"),
        ("messages", "chat"),
        ("chat", "messages"),
        ("chat", "gemini"),
        ("gemini", "chat"),
    }
    assert bridges.get("responses", "chat").label == "bridge responses -> chat"


def test_a_pair_without_a_direct_bridge_is_composed_through_chat() -> None:
    # Responses over Responses, forced through the hub, is a composition of the two real bridges:
    # what a Responses client sends must come back as the same Responses answer.
    bridge = bridges._compose(bridges.direct()[("responses", "chat")], bridges.direct()[("chat", "responses")])
    assert (bridge.client, bridge.upstream, bridge.via) == ("responses", "responses", ("chat",))
    assert bridge.label == "bridge responses -> chat -> responses"
    client_body = {"model": "m", "input": "hi", "instructions": "Be brief.", "stream": True}
    sent = bridge.request(dict(client_body))
    assert sent["model"] == "m" and sent["stream"] is True
    assert "Be brief." in str(sent) and "hi" in str(sent)

    stream = bridge.stream(client_body)
    assert isinstance(stream, Chained)
    upstream_events = [
        {"type": "response.created", "sequence_number": 0, "response": {"id": "resp_1", "output": []}},
        {"type": "response.output_text.delta", "sequence_number": 1, "item_id": "m", "output_index": 0,
         "content_index": 0, "delta": "Hello"},
        {"type": "response.completed", "sequence_number": 2,
         "response": {"id": "resp_1", "status": "completed", "output": [
             {"type": "message", "id": "m", "role": "assistant", "status": "completed",
              "content": [{"type": "output_text", "text": "Hello", "annotations": []}]}]}},
    ]  # fmt: skip
    out = [event for upstream in upstream_events for event in stream.feed(upstream)] + stream.close()
    types = [event["type"] for event in out]
    assert types[0] == "response.created" and types[-1] == "response.completed"
    assert "".join(e["delta"] for e in out if e["type"] == "response.output_text.delta") == "Hello"


def test_a_composed_stream_that_is_cut_ends_in_the_clients_failure_event() -> None:
    bridge = bridges._compose(bridges.direct()[("responses", "chat")], bridges.direct()[("chat", "responses")])
    stream = bridge.stream({"model": "m", "input": "hi", "stream": True})
    stream.feed({"type": "response.created", "sequence_number": 0, "response": {"id": "resp_1", "output": []}})
    assert stream.close()[-1]["type"] == "response.failed"


def test_composed_pairs_are_listed_and_none_is_needed_between_the_openai_protocols() -> None:
    assert bridges.composed() == [
        ("responses", "messages"),
        ("responses", "gemini"),
        ("messages", "responses"),
        ("messages", "gemini"),
        ("gemini", "responses"),
        ("gemini", "messages"),
    ]


def test_an_unknown_protocol_has_no_bridge() -> None:
    with pytest.raises(KeyError):
        bridges.get("chat", "smoke-signals")
