"""Gemini CLI itself (`gemini -p`), through `switchyard serve` and every shipped Chat pack, to a strict Chat fake.

Gemini CLI 0.61.0 (npm `@google/gemini-cli`, installed by `make clients`, skipped with the reason when
it is not) runs non-interactively against the proxy with `GOOGLE_GEMINI_BASE_URL`, as in the captures'
README (tests/fixtures/gemini-cli-0.61.0): `-p`, `--yolo`, `GEMINI_API_KEY`,
`GEMINI_CLI_TRUST_WORKSPACE=true` and a settings file in a throw-away HOME selecting API-key auth. The
model (the strict DashScope-like fake) asks for `list_directory`, Gemini CLI runs it, sends the result
back, and prints the model's final answer.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess

import pytest
from fakes.chat_provider import ALLOWED_FIELDS, FakeChatProvider, text_chunks, tool_call_chunks
from proxy_process import ROOT, write_pack

GEMINI = os.environ.get("SWITCHYARD_GEMINI") or (
    str(ROOT / "node_modules" / ".bin" / "gemini") if (ROOT / "node_modules" / ".bin" / "gemini").exists() else None
)

# Each shipped Chat pack, with a model it serves. The fake is DashScope-strict about roles, message
# order and tool pairing; its field allowlist is widened to the fields each provider documents.
PACKS = {
    "qwen": "qwen3-coder-plus",
    "deepseek": "deepseek-chat",
    "kimi": "kimi-k2.6",
    "glm": "glm-5.1",
    "minimax": "MiniMax-M2.7",
    "openai-compatible": "local/qwen3-coder:30b",
}
EXTRA_FIELDS = {"thinking", "reasoning_effort", "reasoning_split", "do_sample", "tool_stream", "request_id",
                "user_id", "max_completion_tokens", "user", "prompt_truncate_len", "repetition_penalty"}  # fmt: skip


async def run_gemini(tmp_path, base_url: str, model: str | None) -> tuple[int, str, str]:
    """Gemini CLI's one non-interactive turn in a work folder with two files; (exit code, stdout, stderr)."""
    home = tmp_path / "home"
    (home / ".gemini").mkdir(parents=True)
    (home / ".gemini" / "settings.json").write_text(
        json.dumps({"security": {"auth": {"selectedType": "gemini-api-key"}}})
    )
    work = tmp_path / "work"
    work.mkdir()
    (work / "a.txt").write_text("a")
    (work / "b.txt").write_text("b")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("GEMINI_", "GOOGLE_"))},
        "GEMINI_API_KEY": "test-key",
        "GOOGLE_GEMINI_BASE_URL": base_url,
        "GEMINI_CLI_TRUST_WORKSPACE": "true",
        "HOME": str(home),
        "NO_COLOR": "1",
    }
    cmd = [GEMINI, "-p", "list the files here", "--yolo", "--output-format", "json"]
    if model:
        cmd += ["--model", model]
    proc = await asyncio.create_subprocess_exec(
        *cmd, cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout=150)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return -1, "", "timed out after 150 s"
    return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")


def script_the_loop(fake: FakeChatProvider) -> None:
    fake.reply_stream(tool_call_chunks(("list_directory", '{"dir_path": "."}'), pieces=3))
    fake.reply_stream(text_chunks("The files are ", "a.txt and b.txt."))


def assert_the_loop_ran(fake: FakeChatProvider, code: int, out: str, err: str, proxy) -> None:
    output = out + err
    assert code == 0, output + "\nproxy log:\n" + proxy.log()
    assert "The files are a.txt and b.txt." in json.loads(out)["response"], output
    chats = [r for r in fake.received if r.body.get("tools")]
    assert len(chats) >= 2, [r.body.get("model") for r in fake.received]
    tool_messages = [m for m in chats[-1].body["messages"] if m["role"] == "tool"]
    assert tool_messages and "a.txt" in tool_messages[-1]["content"], chats[-1].body["messages"][-2:]
    call = chats[-1].body["messages"][-2]["tool_calls"][0]
    assert call["id"] == tool_messages[-1]["tool_call_id"]  # the id the proxy gave came back on both


@pytest.mark.clients
@pytest.mark.skipif(GEMINI is None, reason="Gemini CLI is not installed: run `make clients` (needs npm)")
@pytest.mark.parametrize("pack", sorted(PACKS))
async def test_gemini_cli_runs_its_tool_loop_through_every_shipped_chat_pack(
    aiohttp_server, start_proxy, tmp_path, pack
):
    fake = FakeChatProvider(allowed_fields=ALLOWED_FIELDS | EXTRA_FIELDS)
    server = await aiohttp_server(fake.app)
    rules = tmp_path / "rules"
    rules.mkdir()
    shutil.copy(ROOT / "rules" / f"{pack}.yaml", rules / f"{pack}.yaml")
    prefix = pack.upper().replace("-", "_")
    env = {f"{prefix}_BASE_URL": str(server.make_url("/v1")), f"{prefix}_API_KEY": "sk-pack"}
    proxy = start_proxy(rules, env=env)
    script_the_loop(fake)
    code, out, err = await run_gemini(tmp_path, proxy.url, PACKS[pack])
    assert_the_loop_ran(fake, code, out, err, proxy)


@pytest.mark.clients
@pytest.mark.skipif(GEMINI is None, reason="Gemini CLI is not installed: run `make clients` (needs npm)")
async def test_gemini_cli_with_its_own_model_names_runs_through_a_pack_that_serves_them(
    aiohttp_server, start_proxy, tmp_path
):
    # No --model: Gemini CLI picks its models itself (the router's classifier, then its default), and a
    # pack that matches Gemini's names sends them all to the Chat provider, as a gateway would.
    fake = FakeChatProvider()
    server = await aiohttp_server(fake.app)
    rules = tmp_path / "rules"
    write_pack(
        rules,
        "gemini-names",
        f"""
        pack: gemini-names
        match: "starts_with(model, 'gemini')"
        upstream: {{url: "{server.make_url("/v1")}", protocol: chat, api_key: sk-pack}}
        request:
          - set: {{model: fake-model}}
          - match: "!stream"
            drop: stream_options
          - keep: [model, messages, stream, stream_options, temperature, top_p, top_k, max_tokens, stop, tools,
                   tool_choice, response_format]
        """,
    )
    proxy = start_proxy(rules)
    fake.reply_json(
        {"id": "c", "object": "chat.completion", "created": 0, "model": "fake-model",
         "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant",
                      "content": '{"complexity_reasoning": "A listing.", "complexity_score": 5}'}}]}
    )  # fmt: skip
    script_the_loop(fake)
    code, out, err = await run_gemini(tmp_path, proxy.url, None)
    assert_the_loop_ran(fake, code, out, err, proxy)
    router = fake.received[0].body
    assert router["response_format"]["json_schema"]["schema"]["properties"]["complexity_score"]["type"] == "integer"
