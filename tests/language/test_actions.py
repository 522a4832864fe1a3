"""Golden tests of the rule language: every action and path form of the contract, one YAML file per action.

Each file in `tests/golden/language/actions/` is a list of cases a reader can open and check against the contract
(`rule-language.md`):

    - name: a sentence saying what the case shows
      steps: [...]             # the steps, exactly as they would stand in a pack
      stage: request           # or response; default request
      runs: 1                  # apply the same compiled pack this many times, each to a fresh input
      input: {...}
      expect: {...}            # the whole result
      error: "..."             # instead of expect: the reject message, or part of a StepError

A case's steps are compiled the way a pack file is (`switchyard.language.loader.load_text`, then
`switchyard.language.pack.compile_pack`), from a minimal pack document built in memory. JSON is YAML, so the
document is written as JSON; the cases' data goes through the loader untouched.
"""

from __future__ import annotations

import copy
import json

import golden_files
import pytest

from switchyard.errors import Rejected, StepError
from switchyard.language.loader import load_file, load_text
from switchyard.language.pack import Pack, compile_pack
from switchyard.protocols.openai import render_error

GOLDEN = golden_files.GOLDEN / "language" / "actions"
CONTRACT = golden_files.FIXTURES / "rule-language.md"

FILES = (
    "drop",
    "keep",
    "rename",
    "move",
    "default",
    "set",
    "compute",
    "flatten",
    "nest",
    "each",
    "do",
    "reject",
    "match",
    "paths",
    "functions",
)
CASE_KEYS = {"name", "steps", "stage", "runs", "input", "expect", "error"}


def read_cases(name: str) -> list[dict]:
    doc, problems = load_file(str(GOLDEN / f"{name}.yaml"))
    assert doc is not None, [str(p) for p in problems]
    return doc.data


def compile_steps(steps: list, stage: str = "request") -> Pack:
    document = {
        "pack": "golden",
        "match": "`true`",
        "upstream": {"url": "https://upstream.example/v1", "protocol": "chat"},
        stage: steps,
    }
    doc, problems = load_text(json.dumps(document), "golden.yaml")
    assert doc is not None, [str(p) for p in problems]
    pack, problems = compile_pack(doc, env={})
    assert pack is not None, "\n".join(str(p) for p in problems)
    return pack


def apply(pack: Pack, stage: str, body: dict) -> dict:
    return pack.run_request(body) if stage == "request" else pack.run_response(body)


CASES = [pytest.param(name, case, id=f"{name}: {case['name']}") for name in FILES for case in read_cases(name)]


@pytest.mark.parametrize(("file", "case"), CASES)
def test_golden_case(file: str, case: dict) -> None:
    assert set(case) <= CASE_KEYS, f"unknown keys in the case: {set(case) - CASE_KEYS}"
    assert ("expect" in case) != ("error" in case), "a case has either expect or error"
    stage = case.get("stage", "request")
    pack = compile_steps(case["steps"], stage)
    for _ in range(case.get("runs", 1)):
        body = copy.deepcopy(case["input"])
        if "error" in case:
            with pytest.raises((Rejected, StepError)) as raised:
                apply(pack, stage, body)
            if isinstance(raised.value, Rejected):
                assert raised.value.message == case["error"]
                assert raised.value.status == 400
            else:
                assert case["error"] in str(raised.value)
        else:
            assert apply(pack, stage, body) == case["expect"]


def test_every_action_file_exists_and_has_cases() -> None:
    for name in FILES:
        assert read_cases(name), f"{name}.yaml has no cases"


def test_every_action_of_the_engine_has_a_golden_file() -> None:
    from switchyard.language.actions import ACTIONS

    assert set(ACTIONS) <= set(FILES)


def test_case_names_are_unique_within_a_file() -> None:
    for name in FILES:
        names = [case["name"] for case in read_cases(name)]
        assert len(names) == len(set(names)), name


def test_a_set_value_placed_twice_by_one_pack_stays_as_written_in_the_pack() -> None:
    pack = compile_steps([{"set": {"stream_options": {"include_usage": True}, "stop": ["a"]}}])
    first = pack.run_request({})
    first["stream_options"]["include_usage"] = False
    first["stop"].append("b")
    second = pack.run_request({})
    assert second == {"stream_options": {"include_usage": True}, "stop": ["a"]}


def test_a_reject_in_a_request_carries_the_message_and_a_400() -> None:
    pack = compile_steps([{"reject": "not here"}])
    with pytest.raises(Rejected) as raised:
        pack.run_request({"model": "m"})
    assert raised.value.status == 400
    assert render_error(raised.value) == {
        "error": {"message": "not here", "type": "invalid_request_error", "param": None, "code": "rejected_by_rule"}
    }


def _contract_steps() -> list[dict]:
    """Every top-level step of every YAML example in the contract (a nested step is part of its parent)."""
    text = CONTRACT.read_text(encoding="utf-8")
    blocks = text.split("```yaml\n")[1:]
    found: list[dict] = []

    for i, block in enumerate(blocks):
        doc, problems = load_text(block.split("```", 1)[0], f"contract-{i}.yaml")
        assert doc is not None, [str(p) for p in problems]
        for stage in ("request", "response"):
            found.extend(doc.data.get(stage) or [])
    return found


def test_every_step_of_the_contract_examples_is_a_golden_case() -> None:
    golden = [json.dumps(step, sort_keys=True) for name in FILES for case in read_cases(name) for step in case["steps"]]
    steps = _contract_steps()
    assert len(steps) >= 10
    missing = [step for step in steps if json.dumps(step, sort_keys=True) not in golden]
    assert not missing, f"contract examples without a golden case: {missing}"


def test_the_contract_examples_compile_as_one_pack() -> None:
    # The examples are one `request:` list and one `response:` list; together they must load as written.
    text = CONTRACT.read_text(encoding="utf-8")
    example = text.split("Examples:\n\n```yaml\n", 1)[1].split("```", 1)[0]
    header = 'pack: examples\nmatch: "`true`"\nupstream: {url: "https://upstream.example/v1", protocol: chat}\n'
    doc, problems = load_text(header + example, "examples.yaml")
    assert doc is not None, [str(p) for p in problems]
    pack, problems = compile_pack(doc, env={})
    assert pack is not None, [str(p) for p in problems]
    assert [s.action for s in pack.request] == ["each", "rename", "set", "drop", "drop", "drop", "reject"]
    assert [s.action for s in pack.response] == ["rename"]


def test_a_step_error_names_the_step_and_the_types_but_never_the_clients_data() -> None:
    pack = compile_steps([{"compute": {"n": "length(card)"}}])
    with pytest.raises(StepError) as caught:
        apply(pack, "request", {"card": 4111111111111111})
    assert "4111111111111111" not in str(caught.value)
    assert "request step 1 (compute): JMESPath error: length() expected string or array or object, got number" in str(
        caught.value
    )
