"""The fake Gemini provider refuses what the Gemini API refuses (unknown fields, schema keywords outside
`parameters`' subset, a replayed call without its signature), accepts Gemini CLI's real requests, and
streams what Google's SDK reads."""

from __future__ import annotations

import golden_files
import orjson
import pytest
from google.genai import types

from fakes.gemini_provider import DUMMY_SIGNATURES, FakeGeminiProvider, call_chunks, text_chunks

CAPTURES = golden_files.FIXTURES / "gemini-cli-0.61.0"
HEADERS = {"Content-Type": "application/json", "x-goog-api-key": "test-key"}
STREAM = "/v1beta/models/gemini-3-flash-preview:streamGenerateContent"
CALL = {"name": "ls", "args": {"path": "."}}


def body(**fields) -> dict:
    return {"contents": [{"role": "user", "parts": [{"text": "hi"}]}], **fields}


def tool_turn(signature: str | None) -> dict:
    """A finished tool step replayed: the model's call (signed or not) and its result."""
    call = {"functionCall": CALL, **({"thoughtSignature": signature} if signature else {})}
    result = {"functionResponse": {"name": "ls", "response": {"output": "a.txt"}}}
    return body(contents=[{"role": "user", "parts": [{"text": "list"}]}, {"role": "model", "parts": [call]},
                          {"role": "user", "parts": [result]}])  # fmt: skip


@pytest.fixture
def provider() -> FakeGeminiProvider:
    return FakeGeminiProvider()


@pytest.fixture
async def client(aiohttp_client, provider):
    return await aiohttp_client(provider.app)


async def post(client, payload: dict, path: str = STREAM + "?alt=sse", headers: dict = HEADERS) -> tuple[int, bytes]:
    response = await client.post(path, data=orjson.dumps(payload), headers=headers)
    return response.status, await response.read()


async def refused(client, payload: dict, path: str = STREAM + "?alt=sse") -> str:
    status, raw = await post(client, payload, path)
    error = orjson.loads(raw)["error"]
    assert (status, error["code"], error["status"]) == (400, 400, "INVALID_ARGUMENT"), raw
    return error["message"]


def sse_events(raw: bytes) -> list[dict]:
    return [orjson.loads(line[6:]) for line in raw.split(b"\r\n") if line.startswith(b"data: ")]


@pytest.mark.parametrize("capture", ["router", "turn1", "turn2"])
async def test_gemini_clis_real_requests_are_accepted(client, capture):
    captured = orjson.loads((CAPTURES / f"{capture}-request.json").read_bytes())
    query = "?" + "&".join(f"{k}={v}" for k, v in captured["query"].items()) if captured["query"] else ""
    status, raw = await post(client, captured["body"], captured["path"] + query)
    assert status == 200, raw


async def test_a_key_is_required_in_the_header_the_query_or_a_bearer_token(client):
    status, raw = await post(client, body(), headers={"Content-Type": "application/json"})
    assert (status, orjson.loads(raw)["error"]["status"]) == (403, "PERMISSION_DENIED")
    status, _ = await post(client, body(), STREAM + "?alt=sse&key=k", {"Content-Type": "application/json"})
    assert status == 200


async def test_unknown_fields_are_refused_where_gemini_refuses_them(client):
    assert 'Unknown name "model"' in await refused(client, body(model="gemini-x"))
    assert 'Unknown name "stream"' in await refused(client, body(stream=True))
    bad_part = body(contents=[{"role": "user", "parts": [{"text": "hi", "cache_control": {}}]}])
    assert 'Unknown name "cacheControl"' in await refused(client, bad_part)
    assert "valid role" in await refused(client, body(contents=[{"role": "assistant", "parts": [{"text": "x"}]}]))


async def test_parameters_take_only_their_openapi_subset_and_json_schema_goes_in_its_own_field(client):
    schema = {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": False}
    refused_tools = [{"functionDeclarations": [{"name": "f", "parameters": schema}]}]
    assert 'Unknown name "additionalProperties"' in await refused(client, body(tools=refused_tools))
    typed = [{"functionDeclarations": [{"name": "f", "parameters": {"type": ["string", "null"]}}]}]
    assert "Type" in await refused(client, body(tools=typed))
    accepted = [{"functionDeclarations": [{"name": "f", "parametersJsonSchema": schema}]}]
    assert (await post(client, body(tools=accepted)))[0] == 200
    dangling = [{"functionDeclarations": [{"name": "f", "parametersJsonSchema": {"$ref": "#/$defs/missing"}}]}]
    assert "undefined schema" in await refused(client, body(tools=dangling))


async def test_a_replayed_call_needs_the_signature_this_fake_issued_on_it(client, provider):
    provider.reply_stream(call_chunks(("ls", {"path": "."}), signature="c2lnLTI="))
    status, _ = await post(client, body(tools=[{"functionDeclarations": [{"name": "ls"}]}]))
    assert status == 200 and provider.issued

    assert "missing a thought_signature" in await refused(client, tool_turn(None))
    assert "Corrupted thought signature" in await refused(client, tool_turn("skip_thought_signature_validator"))
    assert (await post(client, tool_turn("c2lnLTI")))[0] == 200  # the same bytes, URL-safe and unpadded


async def test_gemini_3s_rule_the_first_call_of_the_current_turn_is_signed_and_a_placeholder_passes(client):
    assert "missing a thought_signature" in await refused(client, tool_turn(None))
    for dummy in sorted(DUMMY_SIGNATURES):
        assert (await post(client, tool_turn(dummy)))[0] == 200
    assert "Base64 decoding failed" in await refused(client, tool_turn("not base64!"))
    earlier = tool_turn(None)
    earlier["contents"].append({"role": "user", "parts": [{"text": "a new question"}]})  # an earlier turn
    assert (await post(client, earlier))[0] == 200


async def test_results_must_answer_every_call_of_the_step_before(client):
    payload = tool_turn("c2ln")
    payload["contents"][1]["parts"].append({"functionCall": {"name": "pwd", "args": {}}})
    assert "number of function response parts" in await refused(client, payload)


async def test_thinking_budget_and_level_together_are_refused(client):
    config = {"thinkingConfig": {"thinkingBudget": 100, "thinkingLevel": "HIGH"}}
    assert "only one of thinking budget and thinking level" in await refused(client, body(generationConfig=config))


async def test_streams_are_sse_with_crlf_or_one_json_array_and_read_as_the_sdk_types(client, provider):
    provider.reply_stream(text_chunks("Hel", "lo"))
    status, raw = await post(client, body())
    events = sse_events(raw)
    assert status == 200 and len(events) == 3
    for event in events:
        types.GenerateContentResponse.model_validate_json(orjson.dumps(event), strict=True)
    provider.reply_stream(text_chunks("Hel", "lo"))
    status, raw = await post(client, body(), STREAM)
    assert [e["candidates"][0]["content"]["parts"] for e in orjson.loads(raw)] == [
        e["candidates"][0]["content"]["parts"] for e in events
    ]
    provider.reply_stream(text_chunks("Hel", "lo"))
    status, raw = await post(client, body(), "/v1/models/gemini-x:generateContent")
    whole = orjson.loads(raw)
    assert [p.get("text") for p in whole["candidates"][0]["content"]["parts"]] == ["Hel", "lo", ""]
    assert whole["candidates"][0]["finishReason"] == "STOP"


async def test_snake_case_field_names_are_the_same_fields_as_in_proto3_json(client):
    schema = {"type": "object", "properties": {"dir_path": {"type": "string"}}}
    tools = [{"function_declarations": [{"name": "ls", "parameters_json_schema": schema}]}]
    config = {"thinking_config": {"include_thoughts": True}}
    assert (await post(client, body(tools=tools, generation_config=config)))[0] == 200
    assert 'Unknown name "parametersSchema"' in await refused(
        client, body(tools=[{"function_declarations": [{"name": "ls", "parameters_schema": schema}]}])
    )
