"""The pairs with no bridge of their own, composed through Chat (switchyard/bridges/__init__.py):
a Messages client in front of a Responses upstream, and a Responses client in front of an Anthropic one.

What goes through is what Chat can carry: text, tool calls, reasoning text and usage. Each client
still gets its own protocol's whole sequence, which its SDK's accumulator checks here.
"""

from __future__ import annotations

from anthropic.lib.streaming._messages import accumulate_event
from fakes.messages_provider import tool_use_events
from openai import omit
from openai._models import construct_type
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types.responses import ResponseStreamEvent

from switchyard import bridges

CLAUDE_CODE_LIKE = {
    "model": "gpt-5.5",
    "max_tokens": 1000,
    "stream": True,
    "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
    "tools": [{"name": "Bash", "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}}}],
    "messages": [{"role": "user", "content": [{"type": "text", "text": "list files"}]}],
    "thinking": {"type": "enabled", "budget_tokens": 31999},
}


def test_a_messages_client_in_front_of_a_responses_upstream():
    bridge = bridges.get("messages", "responses")
    assert bridge.via == ("chat",) and bridge.label == "bridge messages -> chat -> responses"
    sent = bridge.request(dict(CLAUDE_CODE_LIKE))
    assert sent["instructions"] == "Be brief." and sent["reasoning"] == {"effort": "high"}
    assert sent["tools"][0]["name"] == "Bash" and sent["max_output_tokens"] == 1000
    call = {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "Bash", "arguments": ""}
    upstream = [
        {"type": "response.created", "sequence_number": 0,
         "response": {"id": "resp_1", "model": "gpt-5.5", "output": []}},
        {"type": "response.output_item.added", "sequence_number": 1, "output_index": 0, "item": call},
        {"type": "response.function_call_arguments.delta", "sequence_number": 2, "item_id": "fc_1", "output_index": 0,
         "delta": '{"command": '},
        {"type": "response.function_call_arguments.delta", "sequence_number": 3, "item_id": "fc_1", "output_index": 0,
         "delta": '"ls"}'},
        {"type": "response.output_item.done", "sequence_number": 4, "output_index": 0,
         "item": {**call, "arguments": '{"command": "ls"}', "status": "completed"}},
        {"type": "response.completed", "sequence_number": 5,
         "response": {"id": "resp_1", "status": "completed", "model": "gpt-5.5", "output": [],
                      "usage": {"input_tokens": 50, "output_tokens": 7, "total_tokens": 57}}},
    ]  # fmt: skip
    stream = bridge.stream(dict(CLAUDE_CODE_LIKE))
    events = [event for u in upstream for event in stream.feed(u)] + stream.close()
    snapshot, buffers = None, {}
    for event in events:
        snapshot = accumulate_event(event=event, current_snapshot=snapshot, json_bufs=buffers)
    assert events[-1] == {"type": "message_stop"}
    assert [(b.type, b.name, b.input) for b in snapshot.content] == [("tool_use", "Bash", {"command": "ls"})]
    assert snapshot.stop_reason == "tool_use" and snapshot.usage.input_tokens == 50


def test_a_responses_client_in_front_of_an_anthropic_upstream():
    bridge = bridges.get("responses", "messages")
    client = {"model": "claude-x", "instructions": "Be brief.", "input": "list files", "stream": True,
              "tools": [{"type": "function", "name": "Bash", "parameters": {"type": "object"}}]}  # fmt: skip
    sent = bridge.request(dict(client))
    assert sent["system"] == "Be brief." and sent["max_tokens"] == 4096
    assert sent["tools"] == [{"name": "Bash", "input_schema": {"type": "object"}}]
    stream = bridge.stream(dict(client))
    upstream = tool_use_events("toolu_1", "Bash", ['{"command": ', '"ls"}'], text="Looking.")
    events = [event for u in upstream for event in stream.feed(u)] + stream.close()
    state = ResponseStreamState(input_tools=client["tools"], text_format=omit)
    for event in events:
        state.handle_event(construct_type(type_=ResponseStreamEvent, value=event))
    assert events[-1]["type"] == "response.completed"
    output = events[-1]["response"]["output"]
    assert [item["type"] for item in output] == ["message", "function_call"]
    assert output[1]["arguments"] == '{"command": "ls"}' and output[1]["call_id"] == "toolu_1"


def test_a_cut_anthropic_stream_fails_the_responses_client():
    bridge = bridges.get("responses", "messages")
    stream = bridge.stream({"model": "claude-x", "input": "hi", "stream": True})
    for event in tool_use_events("toolu_1", "Bash", ['{"command": "rm -'])[:5]:
        stream.feed(event)
    assert stream.close()[-1]["type"] == "response.failed"
