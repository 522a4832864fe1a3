"""switchyard/server/blame.py: the story of a field a provider refused, from the observations of a real pipeline."""

from __future__ import annotations

import orjson

from switchyard.language.loader import load_text
from switchyard.language.pack import compile_pack
from switchyard.pipeline import Observation, Pipeline
from switchyard.server.blame import has, normalize, story, suspects

PACK = """
pack: p
match: "model"
upstream: {url: "http://127.0.0.1:9/v1", protocol: chat}
request:
  - rename: {max_tokens: max_completion_tokens}
  - default: {vendor_flag: true}
  - each: messages
    match: "role == 'developer'"
    do: [{set: {role: system}}]
"""


def observed(client: dict, protocol: str) -> tuple[dict, list[Observation]]:
    """The body sent for this client body, and what the bridge and each step of PACK did to it."""
    doc, _ = load_text(PACK, "p.yaml")
    pack, problems = compile_pack(doc)
    assert pack is not None, problems
    seen: list[Observation] = []
    return Pipeline(pack, protocol).request(orjson.loads(orjson.dumps(client)), seen.append), seen


def test_a_providers_spelling_of_a_nested_field_becomes_ours() -> None:
    assert normalize("messages.[0].role") == "messages[0].role"
    assert normalize("messages.0.content.1.text") == "messages[0].content[1].text"
    assert normalize("body.tools[2]") == "tools[2]"


def test_a_path_exists_or_not_without_its_value_being_read() -> None:
    body = {"messages": [{"role": "user"}], "x.y": {"a": None}}
    assert has(body, "messages[0].role") and has(body, '"x.y".a') and has(body, "messages")
    assert not has(body, "messages[1]") and not has(body, "messages[0].content") and not has(body, "tools")


def test_the_suspects_are_the_param_or_the_fields_sent_that_the_message_names() -> None:
    sent = {"model": "m", "messages": [], "top_k": 1, "k": 2}
    assert suspects("messages.[0].role", "whatever", sent) == ["messages[0].role"]
    assert suspects(None, "Unrecognized request argument supplied: top_k", sent) == ["top_k"]
    assert suspects(None, "invalid request", sent) == []


def test_a_renamed_field_is_followed_through_the_bridge_and_the_step_back_to_the_client() -> None:
    client = {"model": "m", "input": "hi", "max_output_tokens": 5}
    sent, seen = observed(client, "responses")
    assert story("max_completion_tokens", client, sent, seen)["story"] == [
        "the client sent max_output_tokens",
        "bridge responses -> chat renamed max_output_tokens -> max_tokens",
        "request step 1 (rename) (line 6) renamed max_tokens -> max_completion_tokens",
        "sent upstream as max_completion_tokens; no step removed it (3 of 3 request steps ran)",
    ]


def test_a_field_a_step_added_has_that_step_as_its_origin_and_no_hint() -> None:
    client = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    sent, seen = observed(client, "chat")
    told = story("vendor_flag", client, sent, seen)
    assert told["origin"] == "request step 2 (default) (line 7)" and "hint" not in told
    assert told["story"][0] == "request step 2 (default) (line 7) added vendor_flag"


def test_a_nested_field_a_step_changed_names_the_step_and_the_client_as_its_origin() -> None:
    client = {"model": "m", "messages": [{"role": "developer", "content": "be brief"}]}
    sent, seen = observed(client, "chat")
    told = story("messages[0].role", client, sent, seen)
    assert told["origin"] == "client" and "hint" not in told  # not a top-level field: no `drop` would do
    assert told["story"][:2] == [
        "the client sent messages[0].role",
        "request step 3 (each) (line 8) changed messages[0].role",
    ]
