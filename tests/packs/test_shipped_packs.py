"""The shipped provider packs (rules/*.yaml) make Codex CLI's requests acceptable to each provider.

Golden files: `tests/golden/packs/<pack>/codex_turn1.out.json` and `codex_turn2.out.json` are what each pack
sends upstream for the two real Codex CLI 0.169.0 requests in `tests/fixtures/codex-cli-0.169.0/` (the
bridge's Responses -> Chat translation, then the pack's request steps). Open one next to the fixture to
review a pack change. When a change of output is intended, regenerate them and review the diff:

    UPDATE_GOLDEN=1 .venv/bin/pytest tests/packs/test_shipped_packs.py

Each output is also checked against a strict validator (tests/fakes/chat_provider.py `validate`) with the
provider's own documented top-level field allowlist below, so a pack that leaks `store`, `include`,
`client_metadata`, `prompt_cache_key` or the `developer` role fails here even when its golden file was
regenerated without a careful look.
"""

from __future__ import annotations

import re
import subprocess
import sys

import golden_files
import orjson
import pytest
from fakes.chat_provider import ALLOWED_FIELDS as DASHSCOPE_FIELDS
from fakes.chat_provider import Rejection, validate

from switchyard.language.ruleset import load_rules
from switchyard.pipeline import Pipeline
from switchyard.protocols.sse import Event

ROOT = golden_files.ROOT
RULES = ROOT / "rules"
GOLDEN = golden_files.GOLDEN / "packs"
FIXTURES = ROOT / "tests" / "fixtures" / "codex-cli-0.169.0"
TURNS = ("codex_turn1", "codex_turn2")

# Top-level request fields each provider documents, written down here independently of the packs' `keep`
# steps. Sources are the ones cited in each pack's header; protocols.md is docs/reference/protocols.md.
ALLOWED = {
    # DashScope compatible mode: the fake's own list (alibabacloud.com/help/en/model-studio/
    # compatibility-of-openai-with-dashscope; enable_search from /web-search; protocols.md C.2).
    "qwen": DASHSCOPE_FIELDS,
    # api-docs.deepseek.com/api/create-chat-completion + guides/thinking_mode (thinking, reasoning_effort).
    "deepseek": {
        "model",
        "messages",
        "thinking",
        "reasoning_effort",
        "frequency_penalty",
        "presence_penalty",
        "max_tokens",
        "response_format",
        "stop",
        "stream",
        "stream_options",
        "temperature",
        "top_p",
        "tools",
        "tool_choice",
        "logprobs",
        "top_logprobs",
    },
    # platform.kimi.ai/docs/api/chat (max_tokens deprecated for max_completion_tokens; thinking from the
    # kimi-k2 thinking guide).
    "kimi": {
        "model",
        "messages",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "n",
        "presence_penalty",
        "frequency_penalty",
        "response_format",
        "stop",
        "stream",
        "stream_options",
        "tools",
        "tool_choice",
        "thinking",
    },
    # BigModel OpenAPI `ChatCompletionTextRequest` (docs.bigmodel.cn, protocols.md C.4): no stream_options.
    "glm": {
        "model",
        "messages",
        "stream",
        "thinking",
        "do_sample",
        "temperature",
        "top_p",
        "max_tokens",
        "tool_stream",
        "tools",
        "tool_choice",
        "stop",
        "response_format",
        "request_id",
        "user_id",
    },
    # platform.minimax.io/docs/api-reference/text-openai-api and /text-chat (protocols.md C.5).
    "minimax": {
        "model",
        "messages",
        "stream",
        "stream_options",
        "max_tokens",
        "temperature",
        "top_p",
        "tools",
        "tool_choice",
        "response_format",
        "reasoning_split",
    },
    # Ollama's openai-compatibility doc, the narrowest of the local servers (protocols.md C.7), plus the
    # tool_choice / parallel_tool_calls that vLLM and llama.cpp document.
    "openai-compatible": {
        "model",
        "messages",
        "stream",
        "stream_options",
        "max_tokens",
        "temperature",
        "top_p",
        "presence_penalty",
        "frequency_penalty",
        "seed",
        "stop",
        "response_format",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "reasoning_effort",
    },
}
PACKS = sorted(ALLOWED)
# Packs whose provider (or chat template) takes one system message, first (protocols.md C.2, C.5, C.7).
ONE_LEADING_SYSTEM = {"qwen", "minimax", "openai-compatible"}
# Packs whose provider requires reasoning_content back on tool-call messages in thinking mode (C.1, C.3).
REASONING_BACK = {"deepseek", "kimi"}
# Each pack serves its Codex model name; the fixtures ask for qwen3-coder-plus, so the model is swapped.
MODEL = {
    "qwen": "qwen3-coder-plus",
    "deepseek": "deepseek-v4-pro",
    "kimi": "kimi-k2.6",
    "glm": "glm-5.1",
    "minimax": "MiniMax-M2.7",
    "openai-compatible": "local/qwen3-coder:30b",
}
CODEX_ONLY = ("store", "include", "client_metadata", "prompt_cache_key", "reasoning", "input", "instructions")


def codex_request(turn: str, pack: str) -> dict:
    body = orjson.loads((FIXTURES / f"{turn.removeprefix('codex_')}-request.json").read_bytes())
    return {**body, "model": MODEL[pack]}


def upstream(pack: str, turn: str) -> dict:
    rules = load_rules(str(RULES / f"{pack}.yaml"))
    body = codex_request(turn, pack)
    selected = rules.select(body)
    assert selected is not None and selected.name == pack, f"{MODEL[pack]} is not served by {pack}"
    return Pipeline(selected, "responses").request(body)


@pytest.mark.parametrize("turn", TURNS)
@pytest.mark.parametrize("pack", PACKS)
def test_each_pack_sends_the_golden_upstream_body_for_each_codex_turn(pack, turn):
    golden_files.check(GOLDEN / pack / f"{turn}.out.json", upstream(pack, turn))


@pytest.mark.parametrize("turn", TURNS)
@pytest.mark.parametrize("pack", PACKS)
def test_each_codex_turn_passes_the_strict_validator_with_the_providers_documented_fields(pack, turn):
    body = upstream(pack, turn)
    try:
        validate(body, ALLOWED[pack])
    except Rejection as rejection:
        pytest.fail(f"{pack} would refuse {turn}: {rejection.message}")
    assert not set(CODEX_ONLY) & set(body)


@pytest.mark.parametrize("turn", TURNS)
@pytest.mark.parametrize("pack", PACKS)
def test_the_codex_instructions_arrive_as_system_text_and_nothing_as_developer(pack, turn):
    messages = upstream(pack, turn)["messages"]
    assert all(m["role"] != "developer" for m in messages)
    system = [m for m in messages if m["role"] == "system"]
    assert system and "You are a coding agent running in the Codex CLI" in system[0]["content"]
    if pack in ONE_LEADING_SYSTEM:
        assert messages[0]["role"] == "system" and len(system) == 1
        assert "<skills_instructions>" in messages[0]["content"]


@pytest.mark.parametrize("pack", PACKS)
def test_the_second_turn_carries_the_tool_call_and_its_output_as_a_pair(pack):
    messages = upstream(pack, "codex_turn2")["messages"]
    call = next(m for m in messages if m.get("tool_calls"))
    result = messages[messages.index(call) + 1]
    assert call["tool_calls"][0]["function"] == {"name": "exec_command", "arguments": '{"cmd": "ls"}'}
    assert result["role"] == "tool" and result["tool_call_id"] == call["tool_calls"][0]["id"]
    assert "a.txt" in result["content"]
    if pack in REASONING_BACK:
        assert isinstance(call.get("reasoning_content"), str), f"{pack} needs reasoning_content on tool calls"


@pytest.mark.parametrize("pack", PACKS)
def test_no_built_in_tool_and_no_strict_flag_reaches_a_chat_provider(pack):
    tools = upstream(pack, "codex_turn1")["tools"]
    assert tools and all(t["type"] == "function" and "strict" not in t["function"] for t in tools)
    assert {"exec_command", "multi_agent_v1__spawn_agent"} <= {t["function"]["name"] for t in tools}


@pytest.mark.parametrize("pack", PACKS)
def test_each_pack_routes_only_its_own_models(pack):
    rules = load_rules([str(RULES / f"{name}.yaml") for name in PACKS])
    for name, model in MODEL.items():
        selected = rules.select({"model": model})
        assert (selected.name == pack) == (name == pack), f"{model} went to {selected.name}"
    assert rules.get(pack).models, f"{pack} lists no models"


def test_the_generic_pack_needs_the_local_prefix_and_sits_below_every_provider_pack():
    rules = load_rules([str(RULES / f"{name}.yaml") for name in PACKS])
    assert rules.select({"model": "llama3.2"}) is None
    assert rules.select({"model": "local/deepseek-r1:8b"}).name == "openai-compatible"
    assert rules.packs[-1].name == "openai-compatible"


def test_switchyard_check_reports_every_pack_in_rules_ok():
    done = subprocess.run(
        [sys.executable, "-m", "switchyard", "check", "rules"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    count = len([p for p in RULES.iterdir() if p.suffix in (".yaml", ".yml") and not p.name.startswith(".")])
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(rf"\b{count} packs OK\b", done.stdout), done.stdout


def test_switchyard_test_runs_every_pack_case_and_all_pass():
    done = subprocess.run(
        [sys.executable, "-m", "switchyard", "test", "rules"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    passed = re.search(r"(\d+) passed, 0 failed", done.stdout)
    assert passed and int(passed.group(1)) >= 6 * 4, done.stdout


# -- provider quirks of the answer: the packs' `response` steps, then the bridge back to a Codex client


def bridged(pack: str, chunks: list[dict], *, ends: bool = True) -> list[dict]:
    """The Responses events a Codex client gets for these upstream Chat chunks through the pack."""
    selected = load_rules(str(RULES / f"{pack}.yaml")).get(pack)
    client = {**codex_request("codex_turn1", pack), "stream": True}
    stream = Pipeline(selected, "responses").stream(client)
    events = [event for chunk in chunks for event in stream.feed([Event(orjson.dumps(chunk).decode())])]
    return events + (stream.close() if ends else [])


def chunk(delta: dict, finish_reason: str | None = None) -> dict:
    return {
        "id": "c",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }


def test_minimax_reasoning_details_reach_codex_as_a_reasoning_item():
    events = bridged(
        "minimax",
        [
            chunk({"reasoning_details": [{"type": "reasoning.text", "text": "Let me "}]}),
            chunk({"reasoning_details": [{"type": "reasoning.text", "text": "look."}]}),
            chunk({"content": "Done."}, "stop"),
        ],
    )
    output = events[-1]["response"]["output"]
    assert events[-1]["type"] == "response.completed"
    assert [item["type"] for item in output] == ["reasoning", "message"]
    assert output[0]["content"] == [{"type": "reasoning_text", "text": "Let me look."}]


def test_a_glm_sensitive_finish_reaches_codex_as_incomplete_for_content_filter():
    events = bridged("glm", [chunk({"content": "Part"}), chunk({}, "sensitive")])
    assert events[-1]["type"] == "response.incomplete"
    assert events[-1]["response"]["incomplete_details"] == {"reason": "content_filter"}


def test_a_glm_network_error_finish_fails_the_response_and_never_completes_the_half_written_call():
    call = {"index": 0, "id": "c1", "function": {"name": "exec_command", "arguments": '{"cmd": "rm -'}}
    events = bridged("glm", [chunk({"tool_calls": [call]}), chunk({}, "network_error")], ends=False)
    assert events[-1]["type"] == "response.failed"
    assert "network_error" in events[-1]["response"]["error"]["message"]
    assert "response.output_item.done" not in {event["type"] for event in events}


def test_a_deepseek_insufficient_balance_error_reaches_codex_as_insufficient_quota():
    error = {
        "error": {"message": "Insufficient Balance", "type": "insufficient_balance", "code": "invalid_request_error"}
    }
    events = bridged("deepseek", [chunk({"content": "x"}), error], ends=False)
    assert events[-1]["response"]["error"] == {"code": "insufficient_quota", "message": "Insufficient Balance"}


def test_the_opt_in_deepseek_responses_pack_takes_responses_clients_of_v4_and_leaves_chat_clients_to_the_bridge():
    extra = RULES / "extra" / "deepseek-responses.yaml"
    rules = load_rules([str(RULES / "deepseek.yaml"), str(extra)])
    assert rules.select({"model": "deepseek-v4-flash", "input": "hi"}).name == "deepseek-responses"
    assert rules.select({"model": "deepseek-v4-flash", "messages": []}).name == "deepseek"
    assert rules.select({"model": "deepseek-chat", "input": "hi"}).name == "deepseek"
    result = subprocess.run(
        [sys.executable, "-m", "switchyard", "test", str(extra)], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and result.stdout.endswith(" passed, 0 failed\n"), result.stdout + result.stderr


def test_every_opt_in_pack_in_rules_extra_checks_and_passes_its_tests():
    for command in ("check", "test"):
        result = subprocess.run(
            [sys.executable, "-m", "switchyard", command, str(RULES / "extra")],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stdout + result.stderr
