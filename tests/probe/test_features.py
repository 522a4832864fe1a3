"""The catalogue the probe builds its requests from: real Codex traffic, shortened, and the SDK's fields."""

from __future__ import annotations

import json

import pytest
from golden_files import FIXTURES

from switchyard.probe.features import codex_turn, suggested
from switchyard.probe.session import catalogue

CAPTURE = json.loads((FIXTURES / "codex-cli-0.169.0" / "turn2-request.json").read_text(encoding="utf-8"))


def test_the_shipped_codex_turn_has_the_shape_of_the_real_capture():
    turn = codex_turn("m")
    assert list(turn) == list(CAPTURE)  # every top-level field Codex sends, in its order
    roles = [(i.get("type"), i.get("role")) for i in turn["input"] if i.get("type") != "reasoning"]
    assert roles == [(i.get("type"), i.get("role")) for i in CAPTURE["input"]]
    assert {t["type"] for t in turn["tools"]} == {t["type"] for t in CAPTURE["tools"]}
    assert len(json.dumps(turn)) < len(json.dumps(CAPTURE)) / 10  # tiny: a probe pays for its tokens


@pytest.mark.parametrize("protocol", ["chat", "responses"])
def test_every_feature_changes_the_body_and_names_are_unique(protocol):
    found = catalogue(protocol, "m")
    names = [f.name for f in found.features]
    assert len(names) == len(set(names))
    for feature in found.features:
        needed = {f.name for f in found.features if f.tier < feature.tier} | ({feature.needs} - {""})
        assert found.body(needed | {feature.name}) != found.body(needed), feature.name


def test_the_chat_features_come_through_the_bridge_as_serve_sends_them():
    found = catalogue("chat", "m")
    body = found.body({f.name for f in found.features})
    assert "input" not in body and body["messages"][-1]["role"] == "tool"
    assert any("__" in t["function"]["name"] for t in body["tools"] if "function" in t)  # a namespace, flattened


@pytest.mark.parametrize(
    ("answer", "names"),
    [
        (
            "Unsupported parameter: 'max_tokens' is not supported. Use 'max_completion_tokens' instead.",
            ["max_completion_tokens"],
        ),
        ("unknown field max_tokens, did you mean `max_output_tokens`?", ["max_output_tokens"]),
        ("invalid request", []),
    ],
)
def test_a_field_name_the_error_suggests_is_tried(answer, names):
    assert suggested(answer) == names
