"""Codex CLI in tests: finding the binary, its configuration for the proxy, and one `codex exec` tool loop.

Shared by every test that drives the real Codex CLI against a `switchyard serve` process (the
Responses -> Chat bridge's end-to-end tests, `switchyard probe`'s): the pinned install in
node_modules (`make clients`), or the one `SWITCHYARD_CODEX` names (`make test-clients CLIENTS=latest`).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess

import pytest
from proxy_process import ROOT, ProxyProcess

CLIENT_KEY = "sk-client-e2e"


def codex_binary() -> str | None:
    # `make test-clients CLIENTS=latest` points this at the newest release; otherwise the pinned install.
    if os.environ.get("SWITCHYARD_CODEX"):
        return os.environ["SWITCHYARD_CODEX"]
    local = ROOT / "node_modules" / ".bin" / "codex"
    if local.exists():
        return str(local)
    return shutil.which("codex")


CODEX = codex_binary()
CODEX_CONFIG = """\
model = "{model}"
model_provider = "switchyard"
approval_policy = "never"
sandbox_mode = "danger-full-access"

[model_providers.switchyard]
name = "Switchyard"
base_url = "{base_url}"
env_key = "SWITCHYARD_E2E_KEY"
wire_api = "responses"
request_max_retries = 0
stream_max_retries = 0
stream_idle_timeout_ms = 20000
"""


async def run_codex_exec(proxy: ProxyProcess, tmp_path, model: str) -> str:
    """Run `codex exec` against `proxy`, asking it to run `echo switchyard-ok`; the provider's replies are queued.

    Returns Codex's output after asserting that it exited 0 and printed the model's final answer.
    """
    home = tmp_path / "codex-home"
    home.mkdir()
    (home / "config.toml").write_text(CODEX_CONFIG.format(model=model, base_url=proxy.base_url))
    work = tmp_path / "work"
    work.mkdir()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CODEX_"))},
        "CODEX_HOME": str(home),
        "SWITCHYARD_E2E_KEY": CLIENT_KEY,
        "NO_COLOR": "1",
    }
    cmd = [CODEX, "exec", "--skip-git-repo-check", "--dangerously-bypass-approvals-and-sandbox"]
    cmd += ["-C", str(work), "run `echo switchyard-ok` and tell me what it printed"]
    proc = await asyncio.create_subprocess_exec(
        *cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        pytest.fail(f"codex exec did not finish in 60 s; proxy log:\n{proxy.log()}")
    output = out.decode(errors="replace") + err.decode(errors="replace")
    assert proc.returncode == 0, output + "\nproxy log:\n" + proxy.log()
    assert "The command printed switchyard-ok." in out.decode(errors="replace"), output
    return output
