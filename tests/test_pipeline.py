"""switchyard/pipeline.py: the one request path and response path, and one rule per answer kind for a failing step."""

from __future__ import annotations

import orjson
import pytest

from switchyard.errors import StepError, UpstreamFailed
from switchyard.language.loader import load_text
from switchyard.language.pack import compile_pack
from switchyard.pipeline import Observation, Pipeline
from switchyard.protocols.sse import Event


def pack(protocol: str = "chat", request: str = "[]", response: str = "[]", force_stream: bool = False):
    upstream = f"{{url: 'http://u', protocol: {protocol}, force_stream: {str(force_stream).lower()}}}"
    text = f"pack: p\nmatch: model\nupstream: {upstream}\nrequest: {request}\nresponse: {response}\n"
    doc, problems = load_text(text, "p.yaml")
    assert doc is not None, problems
    compiled, problems = compile_pack(doc, env={})
    assert compiled is not None, problems
    return compiled


FAILING = "[{compute: {n: 'length(missing)'}, match: 'choices'}]"  # length(null): a type error
REQUEST_STEPS = "[{drop: [store]}, {set: {x: '`1`'}, match: 'nothing'}, {rename: {model: model_name}}]"


def data(obj: dict) -> Event:
    return Event(orjson.dumps(obj).decode())


def test_the_observed_request_path_gives_the_same_body_as_the_fast_path_and_says_what_each_part_did() -> None:
    body = {"model": "m", "input": "hi", "store": False, "max_output_tokens": 5}
    seen: list[Observation] = []
    fast = Pipeline(pack(request=REQUEST_STEPS), "responses").request(dict(body))
    observed = Pipeline(pack(request=REQUEST_STEPS), "responses").request(dict(body), seen.append)
    assert observed == fast
    labels = [o.label for o in seen]
    assert labels[0] == "bridge responses -> chat"
    assert labels[1:] == [
        "request step 1 (drop) (line 4)",
        "request step 2 (set) (line 4)",
        "request step 3 (rename) (line 4)",
    ]
    assert [o.ran for o in seen] == [True, True, False, True]
    assert seen[3].changes.renamed == [("model", "model_name")]


def test_force_stream_asks_a_chat_upstream_for_usage_and_the_steps_see_a_stream() -> None:
    pipeline = Pipeline(pack(force_stream=True, request="[{compute: {seen: stream}}]"), "chat")
    sent = pipeline.request({"model": "m", "messages": []})
    assert sent["stream"] is True and sent["seen"] is True
    assert sent["stream_options"] == {"include_usage": True}


def test_a_step_failing_on_a_stream_event_ends_the_clients_stream_with_a_step_failed_error() -> None:
    pipeline = Pipeline(pack(response=FAILING), "responses")
    stream = pipeline.stream({"model": "m"})
    out = stream.feed([data({"choices": [{"index": 0, "delta": {"content": "a"}}]})])
    assert isinstance(stream.step_error, StepError) and stream.ended
    failed = out[-1]
    assert failed["type"] == "response.failed" and failed["response"]["error"]["message"].startswith("pack p failed")
    assert stream.feed([data({"choices": []})]) == []  # nothing after the end
    chat = Pipeline(pack(response=FAILING), "chat").stream({})
    out = chat.feed([data({"choices": [{"index": 0, "delta": {"content": "a"}}]})])
    assert out[0]["error"]["code"] == "step_failed" and out[1] == b"data: [DONE]\n\n"


def test_a_step_failing_on_a_body_raises_for_the_server_to_answer_500() -> None:
    with pytest.raises(StepError):
        Pipeline(pack(response=FAILING), "chat").body({"choices": [{"message": {}}]}, {})


def test_a_step_failing_on_an_error_body_leaves_the_providers_error_as_sent() -> None:
    data_ = b'{"error": {"message": "bad key", "type": "auth", "code": "invalid_api_key"}, "choices": 1}'
    status, body, message = Pipeline(pack(response=FAILING), "chat").error(data_, 401)
    assert (status, body, message) == (401, orjson.loads(data_), "bad key")


def test_an_error_in_a_200_body_is_an_error_for_every_client() -> None:
    for client in ("chat", "responses"):
        with pytest.raises(UpstreamFailed):
            Pipeline(pack(), client).body({"error": {"message": "overloaded", "code": "server_is_overloaded"}}, {})


def test_an_upstream_error_is_rendered_in_the_clients_shape_with_its_status_policy() -> None:
    html = b"<html>502 Bad Gateway</html>"
    status, body, _ = Pipeline(pack(), "responses").error(html, 404)
    assert status == 400  # Codex retries a 404 blindly; a 400 it shows (the Responses protocol's policy)
    assert body["error"]["message"].startswith("upstream answered 404: <html>")
    assert Pipeline(pack(), "chat").error(html, 404)[0] == 404


def test_steps_run_on_json_objects_only_and_other_values_pass() -> None:
    pipeline = Pipeline(pack(response="[{set: {touched: true}}]"), "chat")
    stream = pipeline.stream({})
    out = stream.feed([data({"choices": []}), Event("[1, 2]"), Event("not json", event="ping")])
    assert out[0] == {"choices": [], "touched": True}
    assert out[1] == [1, 2]
    assert out[2] == b"event: ping\ndata: not json\n\n"


def test_the_stream_counts_what_came_in_and_went_out() -> None:
    stream = Pipeline(pack(), "chat").stream({})
    out = stream.feed([data({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}), Event("[DONE]")])
    assert (stream.events_in, stream.events_out) == (2, 1)
    assert stream.encode(out).endswith(b"data: [DONE]\n\n")
