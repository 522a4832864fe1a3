"""`switchyard demo`: the whole path with no key and no network, as a newcomer runs it."""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import tomllib
from importlib import resources

import aiohttp
import golden_files
import openai
import pytest
from proxy_process import free_port


def test_the_demo_shows_every_part_of_the_path_with_no_key_and_exits_with_once() -> None:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    env.update(HTTP_PROXY="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9")  # no network would be used anyway
    result = subprocess.run(
        [sys.executable, "-m", "switchyard", "demo", "--once", "--port", "0"],
        cwd=golden_files.ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "1. What the client sent: Codex CLI 0.169.0's first request" in out
    assert "bridge responses -> chat:" in out and "request step 13 (keep)" in out
    assert "without the pack's steps it would have answered 400: Unrecognized request argument supplied" in out
    assert "the same as `switchyard apply` said it would be: True" in out
    assert "4. What the client got back: HTTP 200" in out and "response.completed x1" in out
    assert 'text: "Hello from the demo model.' in out
    assert 'wire_api = "responses"' in out and "OpenAI(base_url=" in out
    assert "Traceback" not in result.stderr


def demo_env() -> dict:
    return {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}


def loopback_only_namespace_works() -> bool:
    if shutil.which("unshare") is None or shutil.which("ip") is None or os.geteuid() != 0:
        return False
    return subprocess.run(["unshare", "--net", "ip", "link", "set", "lo", "up"], capture_output=True).returncode == 0


@pytest.mark.skipif(not loopback_only_namespace_works(), reason="unshare --net needs root and a kernel that allows it")
def test_the_demo_needs_nothing_but_loopback_it_runs_in_a_network_namespace_without_any_other_interface() -> None:
    # A fresh network namespace has no route anywhere: a demo that reached for the network would fail here.
    probe = "import socket; socket.create_connection(('192.0.2.1', 443), timeout=2)"
    offline = subprocess.run(["unshare", "--net", sys.executable, "-c", probe], capture_output=True, text=True)
    assert offline.returncode != 0 and "unreachable" in offline.stderr  # the namespace really is offline
    script = f"ip link set lo up && exec {sys.executable} -m switchyard demo --once --port 0"
    result = subprocess.run(
        ["unshare", "--net", "sh", "-c", script],
        cwd=golden_files.ROOT,
        env=demo_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4. What the client got back: HTTP 200" in result.stdout and "response.completed x1" in result.stdout


def test_the_demos_request_is_the_codex_capture_in_the_tests_fixtures() -> None:
    packaged = resources.files("switchyard.demo").joinpath("codex-turn1-request.json").read_bytes()
    captured = (golden_files.ROOT / "tests" / "fixtures" / "codex-cli-0.169.0" / "turn1-request.json").read_bytes()
    assert json.loads(packaged) == json.loads(captured)


async def test_the_mock_model_refuses_like_a_strict_provider_and_streams_what_it_accepts(aiohttp_server) -> None:
    from switchyard.demo.mock import MockModel

    mock = MockModel()
    server = await aiohttp_server(mock.app)
    url = str(server.make_url("/v1/chat/completions"))
    user = {"role": "user", "content": "hi"}
    async with aiohttp.ClientSession() as http:
        for body, param in [
            ({"model": "m", "messages": [user], "store": False}, "store"),
            ({"model": "m", "messages": [{"role": "developer", "content": "x"}, user]}, "messages[0].role"),
            ([user], None),
        ]:
            async with http.post(url, json=body) as r:
                error = (await r.json())["error"]
                assert r.status == 400 and error["param"] == param and error["type"] == "invalid_request_error", body
        async with http.post(url, json={"model": "m", "messages": [user], "stream": True}) as r:
            text = (await r.read()).decode()
    assert r.status == 200 and text.endswith("data: [DONE]\n\n") and '"finish_reason":"stop"' in text
    assert mock.received == [{"model": "m", "messages": [user], "stream": True}]  # the refused ones are not kept


def read_until(proc: subprocess.Popen, marker: str, timeout: float = 60) -> str:
    """The demo's output up to the line holding `marker` (it keeps serving after that, so no EOF comes)."""
    out = ""
    deadline = time.monotonic() + timeout
    while marker not in out:
        assert time.monotonic() < deadline, f"no {marker!r} in time:\n{out}"
        if select.select([proc.stdout], [], [], 0.2)[0]:
            chunk = os.read(proc.stdout.fileno(), 65536).decode()
            assert chunk, f"the demo ended early ({proc.poll()}):\n{out}"
            out += chunk
    return out


def test_the_running_demo_answers_the_sdk_line_and_the_codex_config_it_prints_and_stops_on_ctrl_c() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "switchyard", "demo", "--port", str(port)],
        cwd=golden_files.ROOT,
        env=demo_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        out = read_until(proc, "Serving until Ctrl-C.")
        [line] = [line for line in out.splitlines() if line.strip().startswith("python: ")]
        code = line.split("python: ", 1)[1]
        assert f"http://127.0.0.1:{port}/v1" in code
        response = eval(code, {"OpenAI": openai.OpenAI})  # the line exactly as printed, against the running demo
        assert response.status == "completed" and response.output_text.startswith("Hello from the demo model.")

        config_lines = out.split("~/.codex/config.toml:\n", 1)[1].split("   python: ", 1)[0]
        config = tomllib.loads(textwrap.dedent(config_lines))
        provider = config["model_providers"][config["model_provider"]]
        assert provider["base_url"] == f"http://127.0.0.1:{port}/v1" and provider["wire_api"] == "responses"
        assert config["model"] in {
            m.id for m in openai.OpenAI(base_url=provider["base_url"], api_key="x").models.list()
        }
    finally:
        proc.send_signal(signal.SIGINT)
        err = proc.communicate(timeout=30)[1].decode()
    assert proc.returncode in (0, 130) and "Traceback" not in err, err  # 130: the usual code for Ctrl-C
