"""Claude Code itself (`claude -p`), through `switchyard serve` and every shipped Chat pack, to a strict Chat fake.

Claude Code 2.1.197 (npm `@anthropic-ai/claude-code`, installed by `make claude`, skipped with the
reason when it is not) runs non-interactively against the proxy with `ANTHROPIC_BASE_URL`: the
model (the strict DashScope-like fake) asks for `Bash` with `ls`, Claude Code runs it, sends the
result back, and prints the model's final answer. Environment as in the captures' README.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess

import pytest
from fakes.chat_provider import ALLOWED_FIELDS, FakeChatProvider, text_chunks, tool_call_chunks
from proxy_process import ROOT

CLAUDE = os.environ.get("SWITCHYARD_CLAUDE") or (
    str(ROOT / "node_modules" / ".bin" / "claude") if (ROOT / "node_modules" / ".bin" / "claude").exists() else None
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


@pytest.mark.clients
@pytest.mark.skipif(CLAUDE is None, reason="Claude Code is not installed: run `make clients` (needs npm)")
@pytest.mark.parametrize("pack", sorted(PACKS))
async def test_claude_code_runs_its_tool_loop_through_every_shipped_chat_pack(
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
    work = tmp_path / "work"
    work.mkdir()
    (work / "a.txt").write_text("a")
    (work / "b.txt").write_text("b")
    fake.reply_stream(tool_call_chunks(("Bash", '{"command": "ls", "description": "List files"}'), pieces=3))
    fake.reply_stream(text_chunks("The files are ", "a.txt and b.txt."))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CLAUDE_"))},
        "ANTHROPIC_BASE_URL": proxy.url,
        "ANTHROPIC_API_KEY": "sk-test",
        "HOME": str(tmp_path / "home"),
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_AUTOUPDATER": "1",
        "IS_SANDBOX": "1",
    }
    cmd = [CLAUDE, "-p", "list the files here", "--output-format", "json", "--dangerously-skip-permissions",
           "--model", PACKS[pack]]  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        *cmd, cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        pytest.fail(f"claude did not finish in 120 s; proxy log:\n{proxy.log()}")
    output = out.decode(errors="replace") + err.decode(errors="replace")
    assert proc.returncode == 0, output + "\nproxy log:\n" + proxy.log()
    assert "The files are a.txt and b.txt." in out.decode(errors="replace"), output
    assert len(fake.received) >= 2, output
    tool_messages = [m for m in fake.received[-1].body["messages"] if m["role"] == "tool"]
    assert tool_messages and "a.txt" in tool_messages[-1]["content"], fake.received[-1].body["messages"][-2:]
