"""A newcomer's first run: where the server listens is logged, a bad folder or an unwritable temporary
folder is one line instead of a traceback, and `switchyard trace` finds the server from the settings
`serve` reads (as it must in a pod, where they are SWITCHYARD_* variables)."""

from __future__ import annotations

import os
import subprocess
import sys

import aiohttp
import pytest
from proxy_process import free_port, lenient_chat_upstream

from switchyard.cli.common import admin_server, admin_token


def switchyard(*args: str, env: dict | None = None, code: str | None = None) -> subprocess.CompletedProcess:
    argv = ["-c", code, *args] if code else ["-m", "switchyard", *args]
    return subprocess.run([sys.executable, *argv], capture_output=True, text=True, env=env, timeout=120)


async def test_start_up_logs_the_address_it_listens_on(start_proxy, aiohttp_server, tmp_path) -> None:
    await lenient_chat_upstream(aiohttp_server, tmp_path / "rules")
    admin = free_port()
    proxy = start_proxy(tmp_path / "rules", args=("--admin-port", str(admin)))
    assert f"listening on {proxy.url} (the API: {proxy.url}/v1), admin on http://127.0.0.1:{admin}" in proxy.log()


@pytest.mark.parametrize(
    ("folder", "said"),
    [
        ("missing", "switchyard demo: no such file or folder: {path}"),
        ("broken", "switchyard demo: 1 problem(s) in the rules; run `switchyard check`"),
        ("empty", "switchyard demo: no pack in {path} takes the demo's model qwen3-coder-plus"),
    ],
)
def test_demo_with_a_bad_rules_folder_says_why_in_one_line(tmp_path, folder, said) -> None:
    path = tmp_path / folder
    if folder != "missing":
        path.mkdir()
    if folder == "broken":
        (path / "x.yaml").write_text(
            "pack: x\nmatch: model\nupstream: {url: 'https://x.example', protocol: chat}\nrequest: [{kepp: [a]}]\n"
        )
    result = switchyard("demo", "--once", "--port", "0", "--rules", str(path))
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert said.format(path=path) in result.stderr.splitlines()[-1]
    if folder == "broken":
        assert result.stderr.startswith(f"{path}/x.yaml:4:")  # the problem itself, FILE:LINE:COL


def test_workers_without_a_writable_temporary_folder_is_one_line(tmp_path) -> None:
    """A read-only root file system leaves no temporary folder: `--workers` says what to mount."""
    code = (
        "import sys, tempfile; tempfile.tempdir = sys.argv[1]; from switchyard.cli.main import main; "
        "sys.exit(main(['serve', '--workers', '2', '--port', '0', '--rules', sys.argv[2]]))"
    )
    rules = tmp_path / "rules"
    rules.mkdir()
    result = switchyard(str(tmp_path / "read-only" / "tmp"), "rules", code=code)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    [line] = [line for line in result.stderr.splitlines() if line.startswith("switchyard serve:")]
    assert "--workers 2 needs a writable temporary folder" in line and "TMPDIR" in line


@pytest.mark.parametrize(
    ("env", "server"),
    [
        ({}, "http://127.0.0.1:8080"),
        ({"SWITCHYARD_PORT": "9000"}, "http://127.0.0.1:9000"),
        ({"SWITCHYARD_HOST": "0.0.0.0", "SWITCHYARD_PORT": "9000"}, "http://127.0.0.1:9000"),
        ({"SWITCHYARD_PORT": "8080", "SWITCHYARD_ADMIN_PORT": "9090"}, "http://127.0.0.1:9090"),
        ({"SWITCHYARD_ADMIN_HOST": "::", "SWITCHYARD_ADMIN_PORT": "9090"}, "http://[::1]:9090"),
        ({"SWITCHYARD_SERVER": "http://10.0.0.5:9090", "SWITCHYARD_ADMIN_PORT": "1"}, "http://10.0.0.5:9090"),
    ],
)
def test_the_admin_server_comes_from_the_settings_serve_reads(env, server) -> None:
    assert admin_server(env) == server


def test_the_admin_token_comes_from_its_variable_or_its_file(tmp_path) -> None:
    (tmp_path / "token").write_text("# mounted Secret\nsy-admin\n")
    assert admin_token({"SWITCHYARD_ADMIN_TOKEN_FILE": str(tmp_path / "token")}) == "sy-admin"
    assert admin_token({"SWITCHYARD_ADMIN_TOKEN": "a", "SWITCHYARD_ADMIN_TOKEN_FILE": "/nowhere"}) == "a"
    assert admin_token({}) is None


async def test_trace_in_a_server_configured_by_variables_works_as_it_is(start_proxy, aiohttp_server, tmp_path):
    await lenient_chat_upstream(aiohttp_server, tmp_path / "rules")
    admin = free_port()
    settings = {"SWITCHYARD_ADMIN_PORT": str(admin), "SWITCHYARD_ADMIN_HOST": "0.0.0.0"}
    proxy = start_proxy(tmp_path / "rules", env=settings)
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    async with aiohttp.ClientSession() as http, http.post(proxy.base_url + "/chat/completions", json=body) as r:
        request_id = r.headers["X-Request-Id"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHYARD_")} | settings
    listed = switchyard("trace", "--list", env=env)
    assert listed.returncode == 0 and request_id in listed.stdout, listed.stderr
    # Without the admin port, the API listener is asked, which has no admin endpoints when there is one.
    api = {k: v for k, v in env.items() if k != "SWITCHYARD_ADMIN_PORT"} | {"SWITCHYARD_PORT": str(proxy.port)}
    without = switchyard("trace", "--list", env=api)
    assert without.returncode == 2 and "answered 404: no such endpoint on this port" in without.stderr
