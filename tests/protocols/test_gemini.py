"""switchyard/protocols/gemini: the routes and their facts, Google's error shape and table, the failure parser,
the two stream framings, the identity translator and the fold of a stream into one response.

Everything built for a Gemini client is read back with the google-genai SDK's own types
(`gemini_types`, strict) or its error class.
"""

from __future__ import annotations

import gemini_types
import orjson
import pytest
from google.genai import errors as genai_errors

from switchyard import protocols
from switchyard.errors import RequestError, UpstreamError, UpstreamFailed
from switchyard.language.loader import load_text
from switchyard.language.pack import compile_pack
from switchyard.pipeline import Pipeline
from switchyard.protocols.gemini import PROTOCOL, upstream_route, usage_of
from switchyard.protocols.gemini.aggregate import final_response
from switchyard.protocols.gemini.errors import (
    client_status,
    describe_error_body,
    error_body,
    google_status,
    is_error_shape,
    render_error,
    upstream_error,
)
from switchyard.protocols.gemini.passthrough import GeminiPassthrough
from switchyard.protocols.gemini.routes import count_tokens, list_models, read_route
from switchyard.protocols.sse import Event, SSEDecoder


def test_the_protocol_is_registered_under_its_name() -> None:
    assert protocols.get("gemini") is PROTOCOL
    assert "gemini" in protocols.names()


# -- routes


@pytest.mark.parametrize("version", ["v1beta", "v1"])
def test_a_stream_route_names_the_model_and_asks_for_sse(version) -> None:
    routed = read_route(f"/{version}/models/gemini-2.5-pro:streamGenerateContent", "alt=sse")
    assert routed.facts == {"model": "gemini-2.5-pro", "stream": True, "alt": "sse"}
    assert routed.headers == {} and routed.local is None


def test_a_stream_route_without_alt_is_the_json_array_stream() -> None:
    routed = read_route("/v1beta/models/m:streamGenerateContent", "")
    assert routed.facts == {"model": "m", "stream": True, "alt": None}


def test_generate_content_is_one_answer_whatever_the_body_says() -> None:
    assert read_route("/v1beta/models/m:generateContent", "alt=sse").facts == {
        "model": "m",
        "stream": False,
        "alt": None,
    }


def test_a_model_with_slashes_is_everything_up_to_the_last_colon() -> None:
    assert read_route("/v1beta/models/Qwen/Qwen3-Coder:1b:generateContent", "").facts["model"] == "Qwen/Qwen3-Coder:1b"


def test_a_key_in_the_query_stands_for_the_header_the_sdks_send() -> None:
    routed = read_route("/v1beta/models/m:streamGenerateContent", "alt=sse&key=AIza-secret")
    assert routed.headers == {"x-goog-api-key": "AIza-secret"}
    assert "AIza-secret" not in str(routed.facts)


def test_count_tokens_is_answered_locally() -> None:
    routed = read_route("/v1beta/models/m:countTokens", "")
    assert routed.local is count_tokens and routed.facts == {"model": "m"}


@pytest.mark.parametrize(
    "path",
    [
        "/v1beta/models/m",
        "/v1beta/models/m:embedContent",
        "/v1beta/models/:generateContent",
        "/v1beta/tunedModels/m:generateContent",
        "/v2/models/m:generateContent",
    ],
)
def test_a_path_that_is_not_a_gemini_route_is_not_read(path) -> None:
    assert read_route(path, "") is None


def test_the_upstream_route_takes_the_envelope_out_of_the_body() -> None:
    body = {"model": "gemini-2.5-flash", "stream": True, "alt": "sse", "contents": []}
    assert upstream_route(body) == "/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    assert body == {"contents": []}
    assert upstream_route({"model": "models/x", "stream": False}) == "/models/x:generateContent"
    assert upstream_route({"model": "tunedModels/t"}) == "/tunedModels/t:generateContent"


def test_count_tokens_estimates_from_contents_or_a_whole_request() -> None:
    contents = [{"role": "user", "parts": [{"text": "x" * 400}]}]
    counted = count_tokens({"contents": contents})
    gemini_types.count(counted)
    assert 100 <= counted["totalTokens"] <= 130
    assert count_tokens({"generateContentRequest": {"contents": contents}}) == counted
    assert count_tokens({}) == {"totalTokens": 0}


@pytest.mark.parametrize(
    "body, param",
    [
        ({"contents": "hi"}, "contents"),
        ({"contents": [], "generateContentRequest": {}}, "generateContentRequest"),
        ({"generateContentRequest": []}, "generateContentRequest"),
    ],
)
def test_a_count_tokens_body_that_is_wrong_is_refused_naming_the_field(body, param) -> None:
    with pytest.raises(RequestError) as refused:
        count_tokens(body)
    assert refused.value.param == param


def test_the_model_listing_is_in_geminis_shape() -> None:
    listed = gemini_types.models(list_models([("qwen3-coder-plus", "qwen"), ("m2", "fake")]))
    assert [m["name"] for m in listed] == ["models/qwen3-coder-plus", "models/m2"]
    assert "generateContent" in listed[0]["supportedGenerationMethods"]


# -- errors


@pytest.mark.parametrize(
    "status, name",
    [(400, "INVALID_ARGUMENT"), (401, "UNAUTHENTICATED"), (403, "PERMISSION_DENIED"), (404, "NOT_FOUND"),
     (429, "RESOURCE_EXHAUSTED"), (500, "INTERNAL"), (503, "UNAVAILABLE"), (504, "DEADLINE_EXCEEDED"),
     (422, "INVALID_ARGUMENT"), (402, "FAILED_PRECONDITION"), (502, "INTERNAL"), (529, "UNAVAILABLE")],
)  # fmt: skip
def test_every_status_has_the_google_name_the_sdks_read(status, name) -> None:
    assert google_status(status) == name
    body = error_body("m", status)
    gemini_types.error(body, status)
    assert genai_errors.APIError(status, body).status == name


def test_an_error_renders_with_its_code_as_a_reason_the_sdk_keeps() -> None:
    body = render_error(RequestError("no pack serves 'x'", code="model_not_found", status=404))
    inner = gemini_types.error(body, 404)
    assert inner["status"] == "NOT_FOUND"
    raised = genai_errors.APIError(404, body)
    assert raised.message == "no pack serves 'x'"
    assert raised.details["error"]["details"][0]["reason"] == "model_not_found"
    assert is_error_shape(body)


def test_overload_and_a_pack_bug_have_statuses_of_their_own() -> None:
    assert google_status(502, "server_is_overloaded") == "UNAVAILABLE"
    assert google_status(500, "step_failed") == "FAILED_PRECONDITION"
    assert google_status(429, "insufficient_quota") == "RESOURCE_EXHAUSTED"


@pytest.mark.parametrize(
    "status, code, expected",
    [(400, None, 400), (401, None, 401), (404, None, 404), (429, None, 429), (422, None, 400), (402, None, 400),
     (500, "step_failed", 400), (529, None, 503), (502, "server_is_overloaded", 503), (500, None, 500),
     (503, None, 503)],
)  # fmt: skip
def test_the_status_policy_keeps_what_gemini_clients_act_on(status, code, expected) -> None:
    assert client_status(status, code) == expected


QUOTA = {
    "error": {
        "code": 429,
        "status": "RESOURCE_EXHAUSTED",
        "message": "You exceeded your current quota.",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [{"quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier"}],
            }
        ],
    }
}


def test_a_gemini_failure_is_classified_by_its_status() -> None:
    overloaded = upstream_error(
        {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}
    )
    assert isinstance(overloaded, UpstreamFailed)
    assert (overloaded.status, overloaded.code, overloaded.type) == (503, "server_is_overloaded", "UNAVAILABLE")
    limited = upstream_error({"error": {"code": 429, "message": "Slow down.", "status": "RESOURCE_EXHAUSTED"}})
    assert (limited.status, limited.code) == (429, "rate_limit_exceeded")
    bad = upstream_error({"error": {"code": 400, "message": "Unknown name", "status": "INVALID_ARGUMENT"}})
    assert (bad.status, bad.code) == (400, "invalid_request_error")


def test_a_daily_quota_is_not_a_rate_limit_to_wait_out() -> None:
    assert upstream_error(QUOTA).code == "insufficient_quota"
    assert upstream_error([QUOTA]).code == "insufficient_quota"  # the JSON-array stream wraps its error


def test_an_upstream_error_body_is_described_with_the_providers_message() -> None:
    data = orjson.dumps([QUOTA])
    described = describe_error_body(orjson.loads(data), data, 429)
    assert isinstance(described, UpstreamError)
    assert (described.message, described.status, described.type) == ("You exceeded your current quota.", 429,
                                                                      "RESOURCE_EXHAUSTED")  # fmt: skip
    html = describe_error_body(None, b"<html>Bad Gateway</html>", 502)
    assert html.message == "upstream answered 502: <html>Bad Gateway</html>"


# -- streams

CHUNKS = [
    {"candidates": [{"content": {"role": "model", "parts": [{"text": "**Plan** ", "thought": True}]}, "index": 0}],
     "modelVersion": "m", "responseId": "r1"},
    {"candidates": [{"content": {"role": "model", "parts": [{"text": "look", "thought": True,
                                                             "thoughtSignature": "c2lnLTE="}]}, "index": 0}],
     "modelVersion": "m", "responseId": "r1"},
    {"candidates": [{"content": {"role": "model", "parts": [{"text": "Hel"}]}, "index": 0}],
     "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 1, "totalTokenCount": 11},
     "modelVersion": "m", "responseId": "r1"},
    {"candidates": [{"content": {"role": "model", "parts": [{"text": "lo"}]}, "index": 0}],
     "modelVersion": "m", "responseId": "r1"},
    {"candidates": [{"content": {"role": "model", "parts": [
        {"functionCall": {"name": "ls", "args": {"path": "."}}, "thoughtSignature": "c2lnLTI="}]},
        "finishReason": "STOP", "index": 0}],
     "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5, "thoughtsTokenCount": 3,
                       "totalTokenCount": 18},
     "modelVersion": "m", "responseId": "r1"},
    {"candidates": [{"content": {"role": "model", "parts": [{"text": "", "thoughtSignature": "c2lnLTM="}]},
                     "index": 0}], "modelVersion": "m", "responseId": "r1"},
]  # fmt: skip


def test_a_stream_folds_into_the_response_a_generate_content_client_gets() -> None:
    folded = final_response(CHUNKS)
    gemini_types.response(folded)
    parts = folded["candidates"][0]["content"]["parts"]
    assert parts == [
        {"text": "**Plan** look", "thought": True, "thoughtSignature": "c2lnLTE="},
        {"text": "Hello"},
        {"functionCall": {"name": "ls", "args": {"path": "."}}, "thoughtSignature": "c2lnLTI="},
        {"text": "", "thoughtSignature": "c2lnLTM="},
    ]
    assert folded["candidates"][0]["finishReason"] == "STOP"
    assert folded["usageMetadata"]["totalTokenCount"] == 18
    assert (folded["modelVersion"], folded["responseId"]) == ("m", "r1")


def test_a_signed_text_part_is_never_merged_with_the_next() -> None:
    chunks = [
        {"candidates": [{"content": {"parts": [{"text": "a", "thoughtSignature": "c2ln"}]}}]},
        {"candidates": [{"content": {"parts": [{"text": "b"}]}, "finishReason": "STOP"}]},
    ]
    assert final_response(chunks)["candidates"][0]["content"]["parts"] == [
        {"text": "a", "thoughtSignature": "c2ln"},
        {"text": "b"},
    ]


def test_a_stream_cut_before_its_finish_reason_does_not_fold() -> None:
    with pytest.raises(UpstreamFailed, match="ended before"):
        final_response(CHUNKS[:3])


def test_a_stream_with_an_error_chunk_raises_that_error() -> None:
    with pytest.raises(UpstreamFailed) as raised:
        final_response([*CHUNKS[:2], {"error": {"code": 503, "message": "busy", "status": "UNAVAILABLE"}}])
    assert raised.value.code == "server_is_overloaded"


def test_a_blocked_prompt_is_a_whole_answer_without_candidates() -> None:
    folded = final_response([{"promptFeedback": {"blockReason": "SAFETY"}, "modelVersion": "m"}])
    assert folded == {"promptFeedback": {"blockReason": "SAFETY"}, "modelVersion": "m"}
    gemini_types.response(folded)


def test_the_identity_translator_passes_everything_after_the_finish_and_ends_a_cut_stream_with_an_error() -> None:
    whole = GeminiPassthrough()
    assert [e for chunk in CHUNKS for e in whole.feed(chunk)] == CHUNKS
    assert whole.close() == []
    cut = GeminiPassthrough()
    cut.feed(CHUNKS[0])
    (error,) = cut.close()
    assert gemini_types.error(error, 502)["status"] == "INTERNAL"
    assert cut.fail("again") == [] and cut.feed(CHUNKS[1]) == []


def _pack(protocol: str = "gemini"):
    text = f"pack: g\nmatch: \"model == 'm'\"\nupstream: {{url: 'http://127.0.0.1:9', protocol: {protocol}}}\n"
    doc, _ = load_text(text, "g.yaml")
    compiled, problems = compile_pack(doc)
    assert not problems, problems
    return compiled


def test_sse_framing_is_one_data_line_per_chunk_and_nothing_after() -> None:
    stream = Pipeline(_pack(), "gemini").stream({"model": "m", "stream": True, "alt": "sse"})
    events = stream.feed([Event(orjson.dumps(c).decode()) for c in CHUNKS]) + stream.close()
    data = stream.encode(events)
    assert stream.media_type == b"text/event-stream; charset=utf-8"
    decoder = SSEDecoder()
    assert [orjson.loads(e.data) for e in decoder.decode(data)] == CHUNKS
    assert data.endswith(b"\n\n") and b"[DONE]" not in data
    for chunk in CHUNKS:
        gemini_types.response(chunk)


def test_without_alt_sse_the_stream_is_one_json_array_written_as_it_grows() -> None:
    stream = Pipeline(_pack(), "gemini").stream({"model": "m", "stream": True})
    first = stream.encode(stream.feed([Event(orjson.dumps(CHUNKS[0]).decode())]))
    assert first.startswith(b"[")
    rest = stream.encode(stream.feed([Event(orjson.dumps(c).decode()) for c in CHUNKS[1:]]) + stream.close())
    assert orjson.loads(first + rest) == CHUNKS
    assert stream.media_type.startswith(b"application/json")


def test_a_cut_json_array_stream_still_closes_as_an_array_ending_in_the_error() -> None:
    stream = Pipeline(_pack(), "gemini").stream({"model": "m", "stream": True})
    data = stream.encode(stream.feed([Event(orjson.dumps(CHUNKS[0]).decode())]) + stream.close())
    parsed = orjson.loads(data)
    assert parsed[0] == CHUNKS[0] and "error" in parsed[-1]
    assert stream.failure == "the upstream stream ended before it finished"


def test_usage_counts_thoughts_as_output() -> None:
    assert usage_of(CHUNKS[4]) == (10, 8)
    assert usage_of(CHUNKS[0]) is None
