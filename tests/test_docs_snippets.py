"""The YAML snippets in the docs are real packs: each is checked and its `tests:` cases run.

Every ```yaml block in the listed pages that starts with `pack:` is written to a folder of its own
(a block of several packs separated by `---` as one file each) and goes through `switchyard check`
and `switchyard test`, as a reader who copies it would run them. The cookbook's "new provider in ten
minutes" is also run line by line: check, test, apply --explain and serve, against a strict fake provider.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import signal
import subprocess
import sys

import aiohttp
import golden_files
import pytest
from fakes.chat_provider import FakeChatProvider
from proxy_process import free_port

JSON = {"Content-Type": "application/json"}  # what every client sends (415 otherwise)

PAGES = ["docs/new-strict-provider.md", "docs/cookbook.md", "docs/on-call.md"]
BLOCK = re.compile(r"```yaml\n(.*?)```", re.S)


def snippets() -> list[tuple[str, int, str]]:
    found = []
    for page in PAGES:
        text = (golden_files.ROOT / page).read_text(encoding="utf-8")
        for match in BLOCK.finditer(text):
            if match.group(1).lstrip().startswith("pack:"):
                found.append((page, text[: match.start()].count("\n") + 2, match.group(1)))
    return found


def switchyard(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACME_")}
    return subprocess.run([sys.executable, "-m", "switchyard", *args], capture_output=True, text=True, env=env)


@pytest.mark.parametrize(("page", "line", "text"), snippets(), ids=lambda v: str(v) if isinstance(v, int) else None)
def test_a_pack_snippet_in_the_docs_checks_and_passes_its_tests(tmp_path, page, line, text):
    for i, document in enumerate(text.split("\n---\n")):  # a block may hold several packs, one file each
        (tmp_path / f"pack{i}.yaml").write_text(document, encoding="utf-8")
    checked = switchyard("check", str(tmp_path))
    assert checked.returncode == 0, f"{page}:{line}: {checked.stdout}{checked.stderr}"
    tested = switchyard("test", str(tmp_path))
    assert tested.returncode == 0 and tested.stdout.endswith(" 0 failed\n"), f"{page}:{line}: {tested.stdout}"


def test_the_pages_have_snippets() -> None:
    assert len(snippets()) >= 5


def blocks(page: str, language: str) -> list[str]:
    text = (golden_files.ROOT / page).read_text(encoding="utf-8")
    return re.findall(rf"```{language}\n(.*?)```", text, re.S)


def test_the_codex_configuration_in_the_docs_parses_and_uses_only_keys_codex_documents() -> None:
    import tomllib

    for page in ("docs/getting-started.md", "README.md"):
        [config] = blocks(page, "toml")
        parsed = tomllib.loads(config)
        provider = parsed["model_providers"][parsed["model_provider"]]
        # protocols.md D.2: the keys of Codex's ModelProviderInfo used here
        assert set(provider) <= {"name", "base_url", "env_key", "wire_api", "request_max_retries", "stream_max_retries"}
        assert provider["wire_api"] == "responses" and provider["base_url"].endswith("/v1")


def test_the_python_snippets_in_the_docs_compile() -> None:
    for page in ("docs/getting-started.md",):
        for code in blocks(page, "python"):
            compile(code, page, "exec")


async def test_the_sdk_snippet_of_getting_started_runs_against_the_shipped_packs(tmp_path, aiohttp_server) -> None:
    """`make run` (the shipped rules/) with the Qwen pack pointed at a strict fake, and the snippet run as written
    but for the port: the SDK gets its answer, and the provider got the pack's key."""
    [code] = blocks("docs/getting-started.md", "python")
    qwen = FakeChatProvider()
    upstream = await aiohttp_server(qwen.app)
    port = free_port()
    env = {**os.environ, "QWEN_BASE_URL": str(upstream.make_url("/v1")), "QWEN_API_KEY": "sk-from-the-pack"}
    argv = [sys.executable, "-m", "switchyard", "serve", "--rules", "rules", "--port", str(port)]
    proc = subprocess.Popen(argv, cwd=golden_files.ROOT, env=env, stderr=subprocess.PIPE)
    try:
        await wait_ready(port, proc)
        assert "http://127.0.0.1:8080/v1" in code
        code = code.replace("http://127.0.0.1:8080/v1", f"http://127.0.0.1:{port}/v1")
        last = code.rstrip().rsplit("\n", 1)
        namespace: dict = {}
        await asyncio.to_thread(exec, f"{last[0]}\nresult = {last[1]}", namespace)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=40)
    assert namespace["result"].choices[0].message.content  # the fake's echo, through the proxy
    [received] = qwen.received
    assert received.headers["Authorization"] == "Bearer sk-from-the-pack"
    assert received.body["model"] == "qwen3-coder-plus"


async def wait_ready(port: int, proc: subprocess.Popen, timeout: float = 15) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(int(timeout / 0.05)):
            try:
                async with http.get(f"http://127.0.0.1:{port}/readyz") as ready:
                    if ready.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                assert proc.poll() is None, proc.stderr.read().decode()
            await asyncio.sleep(0.05)
    raise AssertionError("the server was not ready in time")


def section(page: str, heading: str) -> str:
    text = (golden_files.ROOT / page).read_text(encoding="utf-8")
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


async def test_the_ten_minute_provider_recipe_runs_as_written(tmp_path, aiohttp_server) -> None:
    """The cookbook's last recipe: its pack, and each line of its shell block run in order on it."""
    recipe = section("docs/cookbook.md", "A new provider in ten minutes")
    [pack] = re.findall(r"```yaml\n(.*?)```", recipe, re.S)
    [shell] = re.findall(r"```sh\n(.*?)```", recipe, re.S)
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "acme.yaml").write_text(pack, encoding="utf-8")
    codex = json.loads((golden_files.ROOT / "tests/fixtures/codex-cli-0.169.0/turn1-request.json").read_text())
    (tmp_path / "request.json").write_text(json.dumps({**codex, "model": "acme-coder"}), encoding="utf-8")
    acme = FakeChatProvider()  # strict: an unknown field or the developer role is a 400
    upstream = await aiohttp_server(acme.app)
    lines = [shlex.split(line, comments=True) for line in shell.splitlines()]
    assert [words[words.index("switchyard") + 1] for words in lines] == ["check", "test", "apply", "serve"]
    base = {k: v for k, v in os.environ.items() if not k.startswith("ACME_")}
    for words in lines:
        at = words.index("switchyard")
        env = {**base, **dict(word.split("=", 1) for word in words[:at])}
        argv = [sys.executable, "-m", "switchyard", *words[at + 1 :]]
        if words[at + 1] != "serve":
            done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, f"{shlex.join(words)}: {done.stdout}{done.stderr}"
            if words[at + 1] == "apply":
                sent = json.loads(done.stdout)
                assert {"store", "include", "prompt_cache_key"}.isdisjoint(sent) and re.search(
                    r"request step \d+ \(keep\).*: removed", done.stderr
                )
                assert "developer" not in {m["role"] for m in sent["messages"]}
            continue
        port = free_port()
        env["ACME_BASE_URL"] = str(upstream.make_url("/v1"))
        proc = subprocess.Popen([*argv, "--port", str(port)], cwd=tmp_path, env=env, stderr=subprocess.PIPE)
        try:
            await wait_ready(port, proc)
            async with aiohttp.ClientSession() as http:
                url = f"http://127.0.0.1:{port}/v1/responses"
                async with http.post(url, data=(tmp_path / "request.json").read_bytes(), headers=JSON) as r:
                    text = await r.text()
                    events = [json.loads(x[6:]) for x in text.splitlines() if x.startswith("data: ")]
        finally:
            proc.send_signal(signal.SIGINT)  # stop now: SIGTERM's drain is tested elsewhere
            proc.communicate(timeout=40)
        assert r.status == 200 and events[-1]["type"] == "response.completed", text[-500:]
        [received] = acme.received
        assert received.headers["Authorization"] == f"Bearer {env['ACME_API_KEY']}"
        assert received.body == sent  # what `apply` said Acme would get is what it got


async def test_the_header_per_provider_recipe_sends_its_headers(tmp_path, aiohttp_server) -> None:
    """`tests:` cases see bodies only; the headers of the cookbook's recipe are checked by serving it."""
    recipe = section("docs/cookbook.md", "A header per provider")
    [pack] = re.findall(r"```yaml\n(.*?)```", recipe, re.S)
    provider = FakeChatProvider()
    upstream = await aiohttp_server(provider.app)
    url = re.search(r'url: "(https://[^"]+)"', pack).group(1)
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "headers.yaml").write_text(pack.replace(url, str(upstream.make_url("/v1"))))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("TEAM_NAME", "HEADERS_API_KEY")}
    argv = [sys.executable, "-m", "switchyard", "serve", "--rules", str(tmp_path / "rules"), "--port", str(port)]
    proc = subprocess.Popen(argv, env={**env, "HEADERS_API_KEY": "sk-h"}, stderr=subprocess.PIPE)
    try:
        await wait_ready(port, proc)
        async with aiohttp.ClientSession() as http:
            body = {"model": "hdr-1", "messages": [{"role": "user", "content": "hi"}]}
            async with http.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=body) as r:
                assert r.status == 200, await r.text()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=40)
    [received] = provider.received
    assert received.headers["X-Team"] == "platform"  # ${TEAM_NAME:-platform}, unset
    assert received.headers["X-Provider-Region"] == "eu-west"
    assert received.headers["Authorization"] == "Bearer sk-h"
