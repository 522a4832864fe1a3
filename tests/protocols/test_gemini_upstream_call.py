"""switchyard/protocols/gemini/upstream_call.py: the model and the kind of call leave the body for the URL."""

from __future__ import annotations

import pytest

from switchyard.errors import RequestError
from switchyard.protocols.gemini.upstream_call import upstream_call


def test_a_streamed_call_is_stream_generate_content_as_sse_and_the_body_loses_model_and_stream() -> None:
    path, body = upstream_call({"model": "gemini-2.5-pro", "stream": True, "contents": []})
    assert path == "/models/gemini-2.5-pro:streamGenerateContent?alt=sse"
    assert body == {"contents": []}


def test_a_whole_call_is_generate_content_and_the_sdks_models_prefix_is_not_doubled() -> None:
    assert (
        upstream_call({"model": "models/gemini-2.5-flash", "contents": []})[0]
        == "/models/gemini-2.5-flash:generateContent"
    )


def test_a_model_that_would_change_the_path_is_quoted_and_a_missing_one_is_a_400() -> None:
    assert upstream_call({"model": "a/../b?x", "contents": []})[0] == "/models/a%2F..%2Fb%3Fx:generateContent"
    with pytest.raises(RequestError) as refused:
        upstream_call({"contents": []})
    assert refused.value.param == "model"
