"""Gemini clients in front of Responses and Anthropic upstreams, composed through Chat (switchyard/bridges/__init__.py).

What goes through is what Chat carries: text, function calls, reasoning text and usage. The client
gets Gemini's own chunks, each read by the google-genai SDK's types, and the fold of them.
"""

from __future__ import annotations

import gemini_types
from fakes.messages_provider import text_events, tool_use_events

from switchyard import bridges
from switchyard.protocols.gemini.aggregate import final_response

GEMINI_CLI_LIKE = {
    "model": "m",
    "stream": True,
    "alt": "sse",
    "systemInstruction": {"parts": [{"text": "Be brief."}]},
    "contents": [{"role": "user", "parts": [{"text": "list files"}]}],
    "tools": [{"functionDeclarations": [{"name": "list_directory", "parametersJsonSchema": {"type": "object"}}]}],
    "generationConfig": {"maxOutputTokens": 900, "thinkingConfig": {"includeThoughts": True, "thinkingLevel": "HIGH"}},
}


def run(bridge, upstream: list[dict]) -> list[dict]:
    stream = bridge.stream(dict(GEMINI_CLI_LIKE))
    events = [event for u in upstream for event in stream.feed(u)] + stream.close()
    for event in events:
        gemini_types.response(event)
    return events


def test_a_gemini_client_in_front_of_a_responses_upstream():
    bridge = bridges.get("gemini", "responses")
    assert bridge.label == "bridge gemini -> chat -> responses"
    sent = bridge.request(dict(GEMINI_CLI_LIKE))
    assert sent["instructions"] == "Be brief." and sent["reasoning"] == {"effort": "high"}
    assert sent["tools"][0]["name"] == "list_directory" and sent["max_output_tokens"] == 900
    call = {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "list_directory", "arguments": ""}
    upstream = [
        {"type": "response.created", "sequence_number": 0, "response": {"id": "resp_1", "model": "m", "output": []}},
        {"type": "response.output_item.added", "sequence_number": 1, "output_index": 0, "item": call},
        {"type": "response.function_call_arguments.delta", "sequence_number": 2, "item_id": "fc_1", "output_index": 0,
         "delta": '{"dir_path": "."}'},
        {"type": "response.output_item.done", "sequence_number": 3, "output_index": 0,
         "item": {**call, "arguments": '{"dir_path": "."}', "status": "completed"}},
        {"type": "response.completed", "sequence_number": 4,
         "response": {"id": "resp_1", "status": "completed", "model": "m", "output": [],
                      "usage": {"input_tokens": 50, "output_tokens": 7, "total_tokens": 57}}},
    ]  # fmt: skip
    folded = final_response(run(bridge, upstream))
    assert folded["candidates"][0]["content"]["parts"] == [
        {"functionCall": {"id": "call_1", "name": "list_directory", "args": {"dir_path": "."}}}
    ]
    assert folded["candidates"][0]["finishReason"] == "STOP" and folded["usageMetadata"]["promptTokenCount"] == 50


def test_a_gemini_client_in_front_of_an_anthropic_upstream():
    bridge = bridges.get("gemini", "messages")
    sent = bridge.request(dict(GEMINI_CLI_LIKE))
    assert sent["system"] == "Be brief." and sent["max_tokens"] >= 900  # room for the thinking budget
    assert sent["tools"] == [{"name": "list_directory", "input_schema": {"type": "object"}}]
    folded = final_response(run(bridge, text_events("The files ", "are here.", thinking=("Looking.",))))
    assert folded["candidates"][0]["content"]["parts"] == [
        {"text": "Looking.", "thought": True},
        {"text": "The files are here."},
    ]
    calls = run(bridge, tool_use_events("toolu_1", "list_directory", ['{"dir_path": ', '"."}']))
    parts = [p for e in calls for p in e["candidates"][0]["content"]["parts"]]
    assert parts == [{"functionCall": {"id": "toolu_1", "name": "list_directory", "args": {"dir_path": "."}}}]


def test_a_cut_anthropic_stream_fails_the_gemini_client():
    bridge = bridges.get("gemini", "messages")
    stream = bridge.stream(dict(GEMINI_CLI_LIKE))
    for event in tool_use_events("toolu_1", "list_directory", ['{"dir_path": "'])[:5]:
        stream.feed(event)
    last = stream.close()[-1]
    assert gemini_types.error(last, 502)["status"] == "INTERNAL"
