"""Every golden output of the bridges is valid by the published schema of what it is (tests/conformance.py).

The golden tests compare what a bridge builds with its file; this checks each file against the Open
Responses models and the openai and anthropic SDKs' own types. Together: a bridge that builds an object
the specs refuse fails, and so does a new golden file that nobody validated. Every output file under
tests/golden/bridges/ is checked; one in a folder this table does not know fails, so it cannot be missed.
"""

from __future__ import annotations

import conformance
import golden_files
import pytest

from switchyard import protocols
from switchyard.errors import ClientFacing

BRIDGES = golden_files.GOLDEN / "bridges"

# (direction, folder) -> what its outputs are: the upstream request, the client's stream, the client's body.
KINDS = {
    ("responses_over_chat", "requests"): ("request", "chat"),
    ("responses_over_chat", "streams"): ("stream", "responses"),
    ("responses_over_chat", "completions"): ("body", "responses"),
    ("chat_over_responses", "requests"): ("request", "responses"),
    ("chat_over_responses", "streams"): ("stream", "chat"),
    ("chat_over_responses", "completions"): ("body", "chat"),
    ("messages_over_chat", "requests"): ("request", "chat"),
    ("messages_over_chat", "streams"): ("stream", "messages"),
    ("messages_over_chat", "completions"): ("body", "messages"),
    ("chat_over_messages", "requests"): ("request", "messages"),
    ("chat_over_messages", "streams"): ("stream", "chat"),
    ("chat_over_messages", "completions"): ("body", "chat"),
    ("gemini_over_chat", "requests"): ("request", "chat"),
    ("gemini_over_chat", "streams"): ("stream", "gemini"),
    ("gemini_over_chat", "completions"): ("body", "gemini"),
    # what the bridge makes before the pack's steps map and drop what Gemini refuses (reasoning_effort, other
    # providers' built-in tools): test_translation checks each after rules/gemini.yaml, and the captures below
    ("chat_over_gemini", "requests"): ("pack input", "gemini"),
    ("chat_over_gemini", "streams"): ("stream", "chat"),
    ("chat_over_gemini", "completions"): ("body", "chat"),
    # the real clients' captures through the shipped gemini pack: the upstream call's path and body
    ("chat_over_gemini", "captures"): ("request", "gemini"),
}
# chat_over_responses/aggregate: a stream folded into one body by the protocol's aggregator (`chunks_`: Chat
# chunks into a chat completion, which a client receives; `events_`: an upstream's Responses events, folded for
# the Chat bridge, whose fakes carry only what the bridge reads: those are inputs of a bridge, not outputs).
AGGREGATE = ("chat_over_responses", "aggregate")

OUTPUTS = sorted(path for path in BRIDGES.rglob("*.out.*"))


CHECKED = {"chat", "responses", "messages", "gemini"}  # the protocols tests/conformance.py has published schemas for


def _kind(path):
    folder = path.parent.relative_to(BRIDGES).parts
    if folder == AGGREGATE:
        return ("body", "chat") if path.name.startswith("chunks_") else None
    return KINDS.get(folder, ("unknown", ""))


@pytest.mark.parametrize("path", OUTPUTS, ids=lambda p: str(p.relative_to(BRIDGES)))
def test_every_golden_output_of_a_bridge_is_valid_by_the_published_schema(path):
    direction = path.parent.relative_to(BRIDGES).parts[0]
    if not set(direction.split("_over_")) <= CHECKED:
        pytest.skip(f"{direction}: tests/conformance.py has no published schema for this protocol yet")
    kind = _kind(path)
    if kind is None:
        pytest.skip("an upstream's Responses events folded for a bridge to read: a bridge's input, not an output")
    what, protocol = kind
    if what == "pack input":
        pytest.skip("a bridge's output that the pack finishes; checked after the pack's steps where it is tested")
    assert what != "unknown", f"{path}: a golden folder with no schema to check it by (add it to KINDS)"
    value = golden_files.read(path)
    if isinstance(value, dict) and "body" in value and "raises" in value:
        conformance.client_body(protocol, value["body"], str(path.name))  # the bridge raised: the error body
    elif isinstance(value, dict) and set(value) == {"raises"}:
        # The bridge raised: what the client receives is the error rendered in its protocol's shape.
        raised = value["raises"]
        error = ClientFacing(raised["message"], code=raised.get("code"), status=raised["status"], type=raised["type"])
        conformance.client_body(protocol, protocols.get(protocol).render_error(error), str(path.name))
    elif what == "request":
        sent = value["body"] if isinstance(value, dict) and set(value) == {"path", "body"} else value
        conformance.upstream_request(protocol, sent, str(path.name))
    elif what == "stream":
        conformance.client_stream(protocol, value)
    else:
        conformance.client_body(protocol, value, str(path.name))


def test_every_folder_in_the_table_still_has_outputs_to_check():
    folders = {path.parent.relative_to(BRIDGES).parts for path in OUTPUTS}
    assert set(KINDS) | {AGGREGATE} <= folders


def test_the_check_refuses_what_the_bridge_used_to_send():
    # What issue 21 reported of the bridge's responses: null sampling parameters, missing required fields.
    body = golden_files.read(BRIDGES / "responses_over_chat" / "completions" / "length.out.json")
    conformance.response(body)
    for broken in ({**body, "temperature": None}, {k: v for k, v in body.items() if k != "completed_at"}):
        with pytest.raises(conformance.Nonconforming):
            conformance.response(broken)
    tools = [{k: v for k, v in body["tools"][0].items() if k != "strict"}, *body["tools"][1:]]
    with pytest.raises(conformance.Nonconforming, match="strict"):
        conformance.response({**body, "tools": tools})


def test_the_check_refuses_a_stream_whose_sequence_numbers_do_not_increase():
    events = golden_files.read(BRIDGES / "responses_over_chat" / "streams" / "text.out.jsonl")
    conformance.responses_stream(events)
    events[2] = {**events[2], "sequence_number": events[1]["sequence_number"]}
    with pytest.raises(conformance.Nonconforming, match="strictly increase"):
        conformance.responses_stream(events)
