"""The real image, run by a real Docker engine (marker `image`; `make test-image` builds the image, starts
an engine when none runs, and runs these; `make test` does not).

Each container runs on the host's network (`--network host`: the engine runs with no bridge), as the
non-root user of the image, on a read-only root with a tmpfs for /tmp, with `SWITCHYARD_ALLOW_OPEN=1`
(the image refuses to start open otherwise: tests/test_container.py) and a free port of its own. The
upstream is a fake provider on the host's loopback, which the container reaches as it would a
sidecar's neighbour. Mounted rules folders are laid out as the kubelet lays out a ConfigMap: the files
are symlinks through `..data`, a symlink to a timestamped folder, swapped atomically on an update.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import aiohttp
import pytest

from switchyard import __version__

pytestmark = pytest.mark.image

IMAGE = os.environ.get("SWITCHYARD_IMAGE")
if not IMAGE:
    pytestmark = [pytestmark, pytest.mark.skip(reason="SWITCHYARD_IMAGE is not set: `make test-image` builds it")]

PACK = 'pack: p\nmatch: "`true`"\nmodels: [{model}]\nupstream: {{url: "{url}", protocol: chat}}\n'
CONTAINER_UID = 10001


def docker(*args: str, timeout: float = 120) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"docker {' '.join(args)}: {done.stderr}"
    return done.stdout.strip()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def container(port: int, *args: str, env: dict[str, str] | None = None, mounts: tuple[str, ...] = ()):
    """A detached container of the image on the host's network; removed (and its log shown) afterwards."""
    env = {"SWITCHYARD_ALLOW_OPEN": "1", "SWITCHYARD_PORT": str(port), **(env or {})}
    flags = ["--network", "host", "--read-only", "--tmpfs", "/tmp"]
    flags += [f for key, value in env.items() for f in ("--env", f"{key}={value}")]
    flags += [f for mount in mounts for f in ("--volume", mount)]
    cid = docker("run", "--detach", *flags, IMAGE, *args)
    try:
        yield cid
    finally:
        print(docker("logs", cid)[-3000:])
        subprocess.run(["docker", "rm", "--force", "--volumes", cid], capture_output=True, timeout=60)


def wait_until(predicate, timeout: float = 60, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := predicate():
            return found
        time.sleep(every)
    raise AssertionError(f"not in {timeout} s")


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except OSError:
        return False


def health(cid: str) -> str:
    return docker("inspect", "--format", "{{.State.Health.Status}}", cid)


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.load(r)


@contextmanager
def configmap_folder(files: dict[str, str]):
    """A folder laid out like a mounted ConfigMap, readable by the container's user; `swap(files)` updates it."""
    root = Path(tempfile.mkdtemp(prefix="switchyard-configmap-"))
    root.chmod(0o755)
    generation = [0]

    def swap(new: dict[str, str]) -> None:
        generation[0] += 1
        data = root / f"..2026_12_07_00_00_0{generation[0]}.000000001"
        data.mkdir()
        data.chmod(0o755)
        for name, text in new.items():
            (data / name).write_text(text)
            (data / name).chmod(0o644)
        (root / "..data_tmp").symlink_to(data.name)
        (root / "..data_tmp").rename(root / "..data")  # the atomic swap, as the kubelet does it
        for name in new:
            if not (root / name).is_symlink():
                (root / name).symlink_to(f"..data/{name}")

    swap(files)
    try:
        yield root, swap
    finally:
        shutil.rmtree(root)


def test_the_container_is_healthy_by_its_own_health_check_as_a_non_root_user_on_a_read_only_root():
    port = free_port()
    started = time.monotonic()
    with container(port) as cid:
        wait_until(lambda: answers(f"http://127.0.0.1:{port}/healthz"))
        serving = time.monotonic() - started
        wait_until(lambda: health(cid) == "healthy", timeout=60, every=0.2)
        healthy = time.monotonic() - started
        figures = f"{IMAGE}: /healthz answers {serving:.1f} s after docker run; healthy after {healthy:.1f} s"
        if os.environ.get("SWITCHYARD_IMAGE_FIGURES"):  # make test-image prints them
            with open(os.environ["SWITCHYARD_IMAGE_FIGURES"], "a") as f:
                print(figures, file=f)
        pid = docker("inspect", "--format", "{{.State.Pid}}", cid)
        uids = next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("Uid:"))
        assert set(uids.split()[1:]) == {str(CONTAINER_UID)}  # real, effective, saved and filesystem
        assert docker("inspect", "--format", "{{.HostConfig.ReadonlyRootfs}}", cid) == "true"
        models = {m["id"] for m in get_json(f"http://127.0.0.1:{port}/v1/models")["data"]}
        assert {"qwen3-coder-plus", "deepseek-chat"} <= models  # the packs the image ships


def test_the_version_is_one_the_label_the_command_and_rules_endpoint_agree_with_the_package():
    label = docker("inspect", "--format", '{{index .Config.Labels "org.opencontainers.image.version"}}', IMAGE)
    command = docker("run", "--rm", IMAGE, "--version")
    port = free_port()
    with container(port):
        wait_until(lambda: answers(f"http://127.0.0.1:{port}/healthz"))
        served = get_json(f"http://127.0.0.1:{port}/-/rules")["switchyard"]
    assert label == served == __version__ and command == f"switchyard {__version__}"


async def test_a_request_goes_through_the_container_to_a_fake_upstream_on_the_host_network(aiohttp_server):
    from fakes.chat_provider import FakeChatProvider, chunk

    fake = FakeChatProvider(allowed_fields=None)
    upstream = await aiohttp_server(fake.app)
    fake.reply_stream([chunk({"role": "assistant", "content": "Hel"}), chunk({"content": "lo"}), chunk({}, "stop")])
    port = free_port()
    with (
        configmap_folder({"p.yaml": PACK.format(model="m", url=upstream.make_url("/v1"))}) as (rules, _),
        container(port, mounts=(f"{rules}:/etc/switchyard/rules:ro",)),
    ):
        await asyncio.to_thread(wait_until, lambda: answers(f"http://127.0.0.1:{port}/healthz"))
        body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=body) as r,
        ):
            text = await r.text()
    assert r.status == 200 and '"content":"lo"' in text and text.endswith("data: [DONE]\n\n")
    assert fake.received[-1].body["messages"] == [{"role": "user", "content": "hi"}]


async def test_a_mounted_rules_folder_swapped_the_way_a_configmap_is_reloads(aiohttp_server):
    from fakes.chat_provider import FakeChatProvider

    upstream = await aiohttp_server(FakeChatProvider(allowed_fields=None).app)
    url = upstream.make_url("/v1")
    port = free_port()
    with (
        configmap_folder({"p.yaml": PACK.format(model="before", url=url)}) as (rules, swap),
        container(port, mounts=(f"{rules}:/etc/switchyard/rules:ro",)),
    ):
        models = f"http://127.0.0.1:{port}/v1/models"
        await asyncio.to_thread(wait_until, lambda: answers(models))
        assert [m["id"] for m in get_json(models)["data"]] == ["before"]
        swap({"p.yaml": PACK.format(model="after", url=url)})
        await asyncio.to_thread(wait_until, lambda: [m["id"] for m in get_json(models)["data"]] == ["after"], 30)


async def test_docker_stop_drains_a_live_stream_and_the_container_exits_0_within_delay_plus_grace(aiohttp_server):
    from fakes.chat_provider import FakeChatProvider, chunk

    fake = FakeChatProvider(allowed_fields=None)
    upstream = await aiohttp_server(fake.app)
    release = asyncio.Event()
    fake.reply_stream(
        [chunk({"role": "assistant", "content": "Hel"}), chunk({"content": "lo"}), chunk({}, "stop")], hold=(1, release)
    )
    delay, grace = 1.0, 5.0
    port = free_port()
    env = {"SWITCHYARD_SHUTDOWN_DELAY": str(delay), "SWITCHYARD_GRACE": str(grace)}
    with (
        configmap_folder({"p.yaml": PACK.format(model="m", url=upstream.make_url("/v1"))}) as (rules, _),
        container(port, env=env, mounts=(f"{rules}:/etc/switchyard/rules:ro",)) as cid,
    ):
        await asyncio.to_thread(wait_until, lambda: answers(f"http://127.0.0.1:{port}/healthz"))
        body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=body) as r,
        ):
            await r.content.readuntil(b"\n\n")  # the stream is live
            started = time.monotonic()
            stopping = asyncio.create_task(asyncio.to_thread(docker, "stop", "--time", "60", cid))
            await asyncio.sleep(delay + 0.5)
            assert not stopping.done()  # still draining: the stream holds it
            release.set()
            rest = (await r.read()).decode()
        await stopping
        took = time.monotonic() - started
        state = json.loads(docker("inspect", "--format", "{{json .State}}", cid))
    assert '"content":"lo"' in rest and rest.endswith("data: [DONE]\n\n")
    assert state["ExitCode"] == 0 and not state["OOMKilled"]
    assert took < delay + grace, took
