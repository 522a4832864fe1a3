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


def a_pack(text: str, file: str = "k.yaml"):
    doc, problems = load_text(text, file)
    assert doc is not None, problems
    compiled, problems = compile_pack(doc, env={})
    assert compiled is not None, problems
    return compiled


KEEP_ALL = "{keep: [model, messages, stream, stream_options, tools, max_tokens]}"


def test_a_step_whose_field_a_later_keep_removes_is_a_warning_at_the_step() -> None:
    found = lint.warnings([pack(f"[{{set: {{temperature: 0.2}}}}, {KEEP_ALL}]")])
    assert found == [
        "k.yaml:4:12: warning: request step 1 (set) writes temperature, which request step 2 (keep) at"
        " k.yaml:4:39 removes: the step does nothing to what is sent"
    ]


def test_a_step_whose_field_the_keep_keeps_is_fine() -> None:
    keep = "{keep: [model, messages, stream, stream_options, tools, max_tokens, temperature]}"
    assert lint.warnings([pack(f"[{{set: {{temperature: 0.2}}}}, {keep}]")]) == []


def test_a_step_whose_match_no_sample_satisfies_is_judged_on_the_packs_own_test_inputs() -> None:
    steps = f"[{{match: \"model == 'special'\", set: {{seed: 1}}}}, {KEEP_ALL}]"
    assert lint.warnings([pack(steps)]) == []  # no sample asks for `special`: the step never ran
    case = "{name: special, client: chat, input: {model: special, messages: []}, includes: {model: special}}"
    found = lint.warnings([pack(steps, f"tests:\n  - {case}\n")])
    assert found == [
        "k.yaml:4:41: warning: request step 1 (set) writes seed, which request step 2 (keep) at k.yaml:4:59"
        " removes: the step does nothing to what is sent"
    ]


UPSTREAM = "upstream: {url: 'https://x.example/v1', protocol: chat}\n"


def test_a_model_the_packs_own_match_does_not_select_is_a_warning_at_the_entry() -> None:
    text = f"pack: q\nmatch: \"starts_with(model, 'qwen')\"\nmodels: [qwen3-max, deepseek-chat]\n{UPSTREAM}"
    assert lint.warnings([a_pack(text, "q.yaml")]) == [
        "q.yaml:3:21: warning: models lists deepseek-chat, which the pack's own match"
        " (starts_with(model, 'qwen')) does not select"
    ]


def test_a_model_another_pack_takes_first_is_a_warning_naming_that_pack() -> None:
    broad = a_pack(f"pack: all\npriority: 5\nmatch: \"starts_with(model, 'q')\"\n{UPSTREAM}", "all.yaml")
    narrow = a_pack(f"pack: q\nmatch: \"starts_with(model, 'qwen')\"\nmodels: [qwen3-max]\n{UPSTREAM}", "q.yaml")
    assert lint.warnings([broad, narrow]) == [
        "q.yaml:3:10: warning: models lists qwen3-max, but pack all (all.yaml:3:8, priority 5) takes it first with"
        " match starts_with(model, 'q'): no request for it reaches this pack"
    ]
    assert lint.warnings([narrow, broad]) == []  # the other way round, q gets its model


async def test_the_server_logs_the_warnings_at_start_up_and_after_a_reload(start_proxy, tmp_path) -> None:
    import aiohttp

    rules = tmp_path / "rules"
    rules.mkdir()
    text = f"pack: q\nmatch: \"starts_with(model, 'qwen')\"\nmodels: [MODEL]\n{UPSTREAM}"
    (rules / "q.yaml").write_text(text.replace("MODEL", "deepseek-chat"))
    proxy = start_proxy(rules)
    assert "q.yaml:3:10: warning: models lists deepseek-chat, which the pack's own match" in proxy.log()
    (rules / "q.yaml").write_text(text.replace("MODEL", "kimi-k2"))
    async with aiohttp.ClientSession() as http, http.post(proxy.url + "/-/reload") as r:
        assert r.status == 200
    assert "q.yaml:3:10: warning: models lists kimi-k2, which the pack's own match" in proxy.log()
