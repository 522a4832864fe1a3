"""switchyard/lint.py: `check` warns when a `keep` removes what a bridge adds, unless a test says it is meant."""

from __future__ import annotations

import golden_files

from switchyard import lint
from switchyard.language.loader import load_text
from switchyard.language.pack import compile_pack


def pack(steps: str, tests: str = ""):
    text = (
        f"pack: k\nmatch: model\nupstream: {{url: 'https://x.example/v1', protocol: chat}}\nrequest: {steps}\n{tests}"
    )
    doc, problems = load_text(text, "k.yaml")
    assert doc is not None, problems
    compiled, problems = compile_pack(doc, env={})
    assert compiled is not None, problems
    return compiled


def test_a_keep_that_drops_what_the_bridge_adds_is_a_warning_naming_the_step_and_the_field() -> None:
    found = lint.warnings([pack("[{keep: [model, messages, stream, tools]}]")])
    assert found == [
        "k.yaml:4:12: warning: keep removes max_tokens, which the bridge gemini -> chat adds for gemini clients"
        " (the client's output limit)",
        "k.yaml:4:12: warning: keep removes stream_options, which the bridge gemini -> chat adds for gemini"
        " clients (usage for clients that asked for it)",
        "k.yaml:4:12: warning: keep removes stream_options, which the bridge messages -> chat adds for messages"
        " clients (usage for clients that asked for it)",
        "k.yaml:4:12: warning: keep removes stream_options, which the bridge responses -> chat adds for responses"
        " clients (usage for clients that asked for it)",
    ]


def test_a_keep_that_keeps_what_the_bridge_adds_is_fine() -> None:
    assert lint.warnings([pack("[{keep: [model, messages, stream, stream_options, tools, max_tokens]}]")]) == []


def test_a_removal_the_pack_tests_for_is_meant_and_not_warned_about() -> None:
    case = "{name: no usage option, client: responses, input: {model: m, input: hi}, excludes: [stream_options]}"
    tests = f"tests:\n  - {case}\n"
    assert lint.warnings([pack("[{keep: [model, messages, stream, tools, max_tokens]}]", tests)]) == []


def test_the_shipped_packs_draw_no_warning() -> None:
    from switchyard import packs

    assert lint.warnings(packs.load(str(golden_files.ROOT / "rules"), placeholders=True).packs) == []
