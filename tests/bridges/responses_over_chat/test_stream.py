"""Chat Completions chunks become Responses events (switchyard/bridges/responses_over_chat/stream.py).

Golden files, in `tests/golden/bridges/responses_over_chat/`:

- `streams/<case>.in.jsonl`: Chat chunks, one JSON per line, fed in order, then the stream is closed
  (`[DONE]`/EOF); `<case>.out.jsonl`: the Responses events, one per line. Every case translates for the
  client request in `streams/client_request.json` (a function, a namespaced and a custom tool).
- `completions/<case>.in.json`: a non-streaming Chat completion; `<case>.out.json`: the Response object.

Ids are `<prefix>_<n>` in order of creation and the clock is frozen, so the files are stable. Every
golden stream is also checked against the ordering rules Codex and the openai SDK depend on, validated
against the SDK's event types, and replayed through the SDK's own accumulator.

When a change of output is intended, regenerate the expected files and review the diff:

    UPDATE_GOLDEN=1 .venv/bin/pytest tests/bridges/responses_over_chat/test_stream.py
"""

from __future__ import annotations

import itertools
import typing

import golden_files
import orjson
import pytest
from openai import omit
from openai._models import construct_type
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types.responses import Response, ResponseStreamEvent

from switchyard.bridges.responses_over_chat.stream import ResponsesStream, to_response
from switchyard.errors import UpstreamFailed
from switchyard.protocols.failures import error_code
from switchyard.protocols.openai import render_error

GOLDEN = golden_files.GOLDEN / "bridges" / "responses_over_chat"
CLIENT = orjson.loads((GOLDEN / "streams" / "client_request.json").read_bytes())
STREAMS = sorted(path.name.removesuffix(".in.jsonl") for path in (GOLDEN / "streams").glob("*.in.jsonl"))
COMPLETIONS = sorted(path.name.removesuffix(".in.json") for path in (GOLDEN / "completions").glob("*.in.json"))
CLOCK = 1_700_000_000
# The SDK's event class for each event type, to validate each event against exactly its own model.
SDK_EVENTS = {
    cls.model_fields["type"].annotation.__args__[0]: cls
    for cls in typing.get_args(typing.get_args(ResponseStreamEvent)[0])
}
CODEX_ONLY_CODES = {"context_length_exceeded", "insufficient_quota", "server_is_overloaded", "slow_down"}
TERMINAL = {"response.completed", "response.incomplete", "response.failed"}


def counter_ids():
    numbers = itertools.count()
    return lambda prefix: f"{prefix}_{next(numbers)}"


def new_stream(client: dict = CLIENT) -> ResponsesStream:
    return ResponsesStream(client, ids=counter_ids(), clock=lambda: CLOCK)


def run(chunks: list[dict], client: dict = CLIENT) -> list[dict]:
    stream = new_stream(client)
    events = [event for chunk in chunks for event in stream.feed(chunk)]
    return events + stream.close()


def check_sequence(events: list[dict]) -> None:
    """The ordering rules of protocols.md A.4.5 and D.3, for any stream."""
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert [e["type"] for e in events[:2]] == ["response.created", "response.in_progress"]
    assert [e["type"] for e in events if e["type"] in TERMINAL] == [events[-1]["type"]]
    added: dict[int, str] = {}
    done: set[int] = set()
    for event in events:
        if event["type"] == "response.output_item.added":
            assert event["output_index"] == len(added), "output_index must be dense, in order of announcement"
            added[event["output_index"]] = event["item"]["id"]
        elif "output_index" in event:
            assert added.get(event["output_index"]) == event.get("item_id", event.get("item", {}).get("id"))
            assert event["output_index"] not in done, "no event for an item after its output_item.done"
            if event["type"] == "response.output_item.done":
                done.add(event["output_index"])
    terminal = events[-1]
    if terminal["type"] != "response.failed":
        assert done == set(added), "every announced item is closed before the terminal event"
        assert [item["id"] for item in terminal["response"]["output"]] == [added[i] for i in sorted(added)]


def sdk_event(event: dict):
    """The event as the SDK's model, validated strictly (stricter than the SDK, which only constructs)."""
    checked = event
    if event["type"] == "response.failed" and event["response"]["error"]["code"] in CODEX_ONLY_CODES:
        # Codex acts on these codes but the SDK's enum lacks them; its default (lenient) parsing accepts them.
        checked = {
            **event,
            "response": {**event["response"], "error": {**event["response"]["error"], "code": "server_error"}},
        }
    SDK_EVENTS[event["type"]].model_validate(checked)
    return construct_type(type_=ResponseStreamEvent, value=event)


def replay_through_sdk(events: list[dict]) -> list:
    """Parse every event into the SDK's types and accumulate them as `client.responses.stream()` does."""
    state = ResponseStreamState(input_tools=CLIENT["tools"], text_format=omit)
    handled = []
    for event in events:
        handled += state.handle_event(sdk_event(event))
    return handled


def final_sdk_response(events: list[dict]):
    completed = [e for e in replay_through_sdk(events) if e.type == "response.completed"]
    assert len(completed) == 1
    return completed[0].response


# --- golden ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", STREAMS)
def test_each_golden_stream_translates_to_its_expected_events(case):
    events = run(golden_files.read(GOLDEN / "streams" / f"{case}.in.jsonl"))
    golden_files.check(GOLDEN / "streams" / f"{case}.out.jsonl", events)
    check_sequence(events)
    replay_through_sdk(events)


@pytest.mark.parametrize("case", COMPLETIONS)
def test_each_golden_completion_translates_to_its_expected_response(case):
    completion = orjson.loads((GOLDEN / "completions" / f"{case}.in.json").read_bytes())
    response = to_response(completion, {**CLIENT, "stream": False}, ids=counter_ids(), clock=lambda: CLOCK)
    golden_files.check(GOLDEN / "completions" / f"{case}.out.json", response)
    Response.model_validate(response)


def test_the_golden_folder_covers_the_cases_the_bridge_must_handle():
    assert {"text", "tool_call_split", "several_calls", "calls_without_index_or_id", "reasoning_text_calls"} <= set(
        STREAMS
    )
    assert {"length", "error_chunk", "no_finish_reason"} <= set(STREAMS)


# --- focused -----------------------------------------------------------------------------------------


def chunk(delta: dict | None = None, finish_reason: str | None = None, **fields) -> dict:
    return {"choices": [{"index": 0, "delta": delta or {}, "finish_reason": finish_reason}], **fields}


def usage(prompt: int = 3, completion: int = 2, **extra) -> dict:
    return {"choices": [], "usage": {"prompt_tokens": prompt, "completion_tokens": completion, **extra}}


def types(events: list[dict]) -> list[str]:
    return [e["type"] for e in events]


def test_the_openai_sdk_accumulates_the_text_and_the_function_calls_of_a_stream():
    events = run(
        [
            chunk({"content": "Hel"}),
            chunk({"content": "lo"}),
            chunk(
                {"tool_calls": [{"index": 0, "id": "c1", "function": {"name": "exec_command", "arguments": '{"cmd":'}}]}
            ),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"ls"}'}}]}),
            chunk({"tool_calls": [{"index": 1, "id": "c2", "function": {"name": "multi_agent_v1__spawn_agent"}}]}),
            chunk(finish_reason="tool_calls"),
            usage(),
        ]
    )
    response = final_sdk_response(events)
    assert response.output_text == "Hello"
    calls = [item for item in response.output if item.type == "function_call"]
    assert [(c.call_id, c.name, c.arguments) for c in calls] == [
        ("c1", "exec_command", '{"cmd":"ls"}'),
        ("c2", "spawn_agent", ""),
    ]
    assert calls[1].namespace == "multi_agent_v1"
    assert response.usage.input_tokens == 3 and response.usage.total_tokens == 5


def test_the_first_events_are_created_then_in_progress_echoing_the_request():
    events = new_stream().feed(chunk({"content": "x"}))
    assert types(events)[:2] == ["response.created", "response.in_progress"]
    response = events[0]["response"]
    assert (response["status"], response["model"], response["output"], response["usage"]) == (
        "in_progress",
        "client-model",
        [],
        None,
    )
    # The tools as sent; a function tool gets the keys the spec requires, null where the client sent none.
    assert response["tools"][0] == {**CLIENT["tools"][0], "description": None}
    assert response["tools"][1:] == CLIENT["tools"][1:] and response["instructions"] == "Be brief."
    assert response["completed_at"] is None and response["temperature"] == 1.0 and response["background"] is False
    assert response["tool_choice"] == "auto" and response["parallel_tool_calls"] is True


def test_the_terminal_event_waits_for_the_usage_chunk_after_the_finish_reason():
    stream = new_stream()
    before = stream.feed(chunk({"content": "x"}, "stop"))
    assert not TERMINAL & set(types(before))
    after = stream.feed(
        usage(7, 3, prompt_tokens_details={"cached_tokens": 4}, completion_tokens_details={"reasoning_tokens": 1})
    )
    assert types(after) == ["response.completed"]
    assert after[0]["response"]["usage"] == {
        "input_tokens": 7,
        "input_tokens_details": {"cached_tokens": 4, "cache_write_tokens": 0},
        "output_tokens": 3,
        "output_tokens_details": {"reasoning_tokens": 1},
        "total_tokens": 10,
    }


def test_close_emits_the_terminal_event_with_zero_usage_when_no_usage_chunk_came():
    stream = new_stream()
    stream.feed(chunk({"content": "x"}, "stop"))
    closed = stream.close()
    assert types(closed) == ["response.completed"]
    assert closed[0]["response"]["usage"]["total_tokens"] == 0


def test_nothing_is_emitted_after_the_terminal_event():
    stream = new_stream()
    stream.feed(chunk({"content": "x"}, "stop"))
    stream.feed(usage())
    assert stream.feed(chunk({"content": "more"})) == []
    assert stream.close() == []
    assert stream.fail("late") == []


@pytest.mark.parametrize("end", ["close", "done_after_usage"])
def test_a_stream_cut_before_any_finish_reason_fails_and_never_completes_its_half_written_call(end):
    stream = new_stream()
    events = stream.feed(
        chunk(
            {
                "tool_calls": [
                    {"index": 0, "id": "c1", "function": {"name": "exec_command", "arguments": '{"cmd": "rm -'}}
                ]
            }
        )
    )
    if end == "done_after_usage":
        events += stream.feed(usage())  # a usage chunk is no finish: the answer is still cut
    events += stream.close()
    assert events[-1]["type"] == "response.failed"
    assert events[-1]["response"]["error"] == {
        "code": "server_error",
        "message": "the upstream stream ended before it finished",
    }
    assert "response.output_item.done" not in types(events)
    assert "response.function_call_arguments.done" not in types(events)
    assert events[-1]["response"]["output"] == []  # the half-written call is nowhere a finished item


def test_a_stream_with_a_finish_reason_but_no_usage_chunk_completes_at_close():
    stream = new_stream()
    events = stream.feed(chunk({"content": "whole"}, "stop")) + stream.close()
    assert types(events)[-2:] == ["response.output_item.done", "response.completed"]
    assert events[-1]["response"]["output"][0]["content"][0]["text"] == "whole"


@pytest.mark.parametrize(("finish", "reason"), [("length", "max_output_tokens"), ("content_filter", "content_filter")])
def test_truncating_finish_reasons_end_the_response_as_incomplete(finish, reason):
    events = run([chunk({"content": "x"}, finish), usage()])
    assert events[-1]["type"] == "response.incomplete"
    assert events[-1]["response"]["incomplete_details"] == {"reason": reason}
    assert events[-1]["response"]["output"][0]["status"] == "incomplete"


@pytest.mark.parametrize("finish", ["sensitive", "network_error"])
def test_provider_finish_reasons_are_not_known_to_the_bridge_but_to_the_providers_pack(finish):
    # GLM's own values (protocols.md C.4) are mapped by rules/glm.yaml; the bridge knows only OpenAI's.
    events = run([chunk({"content": "x"}, finish), usage()])
    assert events[-1]["type"] == "response.completed"


def test_reasoning_details_are_not_read_by_the_bridge_but_by_the_minimax_pack():
    events = run([chunk({"reasoning_details": [{"type": "reasoning.text", "text": "t"}], "content": "a"}, "stop")])
    assert [item["type"] for item in events[-1]["response"]["output"]] == ["message"]


def test_an_error_chunk_fails_the_response_without_completing_the_half_streamed_call():
    events = run(
        [
            chunk({"tool_calls": [{"index": 0, "id": "c1", "function": {"name": "exec_command", "arguments": "{"}}]}),
            {"error": {"message": "Rate limit reached, try again in 2s", "code": "429"}},
        ]
    )
    assert events[-1]["type"] == "response.failed"
    assert events[-1]["response"]["error"] == {
        "code": "rate_limit_exceeded",
        "message": "Rate limit reached, try again in 2s",
    }
    assert "response.output_item.done" not in types(events)


def test_fail_before_any_chunk_still_starts_the_response_so_clients_see_a_well_formed_stream():
    events = new_stream().fail("upstream connection closed")
    assert types(events) == ["response.created", "response.in_progress", "response.failed"]
    assert events[-1]["response"]["error"]["code"] == "server_error"


@pytest.mark.parametrize(
    ("message", "code", "expected"),
    [
        ("This model's maximum context length is 8192 tokens", "server_error", "context_length_exceeded"),
        ("Range of input length should be [1, 30720]; input is too long", None, "context_length_exceeded"),
        ("You exceeded your current quota", "429", "insufficient_quota"),
        ("Too many requests", "server_error", "rate_limit_exceeded"),
        ("boom", "rate_limit_exceeded", "rate_limit_exceeded"),
        ("connection reset", "server_error", "server_error"),
        ("bad thing", "invalid_parameter_error", "server_error"),
        ("Cannot connect to host 10.0.0.7:4290", "server_error", "server_error"),
        # One provider's own wording (DeepSeek's 402 body) is its pack's business: rules/deepseek.yaml.
        ("Insufficient Balance", "invalid_request_error", "server_error"),
        ("The server is overloaded", "server_is_overloaded", "server_is_overloaded"),
    ],
)
def test_upstream_errors_get_a_code_codex_acts_on(message, code, expected):
    assert error_code(message, code) == expected


def test_tool_call_fragments_without_index_or_id_are_joined_to_the_last_call():
    events = run(
        [
            chunk({"tool_calls": [{"id": "a", "function": {"name": "exec_command", "arguments": '{"cmd":'}}]}),
            chunk({"tool_calls": [{"function": {"arguments": '"ls"}'}}]}),
            chunk(finish_reason="tool_calls"),
        ]
    )
    output = events[-1]["response"]["output"]
    assert [(i["call_id"], i["arguments"]) for i in output] == [("a", '{"cmd":"ls"}')]


def test_a_call_without_an_id_gets_a_synthesized_one():
    events = run(
        [chunk({"tool_calls": [{"index": 0, "function": {"name": "exec_command", "arguments": "{}"}}]}, "tool_calls")]
    )
    assert events[-1]["response"]["output"][0]["call_id"].startswith("call_")


def test_a_call_that_never_gets_a_name_is_dropped():
    events = run([chunk({"tool_calls": [{"index": 0, "id": "x", "function": {"arguments": "{}"}}]}, "tool_calls")])
    assert events[-1]["response"]["output"] == []


def test_a_custom_tool_call_comes_back_as_a_custom_tool_call_item_with_its_input():
    arguments = orjson.dumps({"input": "*** Begin Patch\n*** End Patch"}).decode()
    events = run(
        [
            chunk(
                {"tool_calls": [{"index": 0, "id": "p", "function": {"name": "apply_patch", "arguments": arguments}}]},
                "tool_calls",
            )
        ]
    )
    assert "response.custom_tool_call_input.done" in types(events)
    item = events[-1]["response"]["output"][0]
    assert (item["type"], item["name"], item["input"]) == (
        "custom_tool_call",
        "apply_patch",
        "*** Begin Patch\n*** End Patch",
    )


def test_reasoning_text_is_carried_in_content_and_summary_for_the_next_turn():
    events = run([chunk({"reasoning_content": "think"}), chunk({"content": "answer"}, "stop")])
    reasoning = events[-1]["response"]["output"][0]
    assert reasoning["content"] == [{"type": "reasoning_text", "text": "think"}]
    assert reasoning["summary"] == [{"type": "summary_text", "text": "think"}]


def test_the_reasoning_item_round_trips_into_reasoning_content():
    from switchyard.bridges.responses_over_chat.request import to_chat

    events = run(
        [
            chunk({"reasoning_content": "plan"}),
            chunk(
                {"tool_calls": [{"index": 0, "id": "c", "function": {"name": "exec_command", "arguments": "{}"}}]},
                "tool_calls",
            ),
        ]
    )
    # What Codex sends back: the items of output_item.done, without ids, then the tool result.
    items = [
        {k: v for k, v in e["item"].items() if k not in ("id", "status")}
        for e in events
        if e["type"] == "response.output_item.done"
    ]
    chat = to_chat({**CLIENT, "input": [*items, {"type": "function_call_output", "call_id": "c", "output": "ok"}]})
    assert chat["messages"][-2]["reasoning_content"] == "plan"
    assert chat["messages"][-2]["tool_calls"][0]["function"]["name"] == "exec_command"


def test_a_non_streaming_completion_becomes_a_completed_response():
    completion = {
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
    response = to_response(completion, {"model": "m"}, ids=counter_ids(), clock=lambda: CLOCK)
    assert response["status"] == "completed" and response["object"] == "response"
    assert Response.model_validate(response).output_text == "Hi"


def test_a_non_streaming_error_body_raises_so_the_client_gets_an_error_status_not_a_failed_200():
    with pytest.raises(UpstreamFailed) as raised:
        to_response({"error": {"message": "maximum context length exceeded", "type": "invalid_request_error"}}, CLIENT)
    assert raised.value.status == 400
    assert render_error(raised.value)["error"]["message"] == "maximum context length exceeded"
    assert raised.value.responses_code == "context_length_exceeded"


@pytest.mark.parametrize("error", ["Rate limit reached", {"message": "Rate limit reached", "code": 429}])
def test_a_non_streaming_error_body_in_either_chat_shape_gets_the_status_of_its_kind(error):
    with pytest.raises(UpstreamFailed) as raised:
        to_response({"error": error}, CLIENT)
    assert (raised.value.status, raised.value.message) == (429, "Rate limit reached")


@pytest.mark.parametrize("body", [{"choices": "x"}, {"choices": [{"message": "x"}]}, {"choices": ["x"]}])
def test_a_non_streaming_body_that_is_not_a_completion_is_an_upstream_failure(body):
    with pytest.raises(UpstreamFailed) as raised:
        to_response(body, CLIENT)
    assert raised.value.status == 502


def test_a_call_to_tool_search_becomes_a_tool_search_call_item_the_client_runs():
    client = {"model": "m", "stream": True, "input": "deploy it",
              "tools": [{"type": "tool_search", "execution": "client", "parameters": {"type": "object"}}]}  # fmt: skip
    stream = ResponsesStream(client)
    chunks = [
        {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "call_9", "type": "function",
            "function": {"name": "tool_search", "arguments": '{"query":'}}]}}]},
        {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": ' "deploy"}'}}]}}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
    ]  # fmt: skip
    events = [e for chunk in chunks for e in stream.feed(chunk)] + stream.close()
    done = [e["item"] for e in events if e["type"] == "response.output_item.done"]
    assert done == [{"id": done[0]["id"], "type": "tool_search_call", "status": "completed", "call_id": "call_9",
                     "execution": "client", "arguments": {"query": "deploy"}}]  # fmt: skip
    assert done[0]["id"].startswith("ts_")
    assert not [e for e in events if "function_call_arguments" in e["type"]]
    assert events[-1]["type"] == "response.completed"
