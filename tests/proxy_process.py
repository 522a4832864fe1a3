"""Shared fixtures: a real `switchyard serve` process on a free loopback port.

End-to-end tests run the proxy exactly as users do, as a separate uvicorn process started by the
console entry point, and talk to it over TCP. The fake upstreams run inside the test's event loop
(pytest-aiohttp's `aiohttp_server`), so a test wires them together through a rules folder whose
`upstream.url` points at the fake.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rebindable_port() -> int:
    """A free port below the kernel's ephemeral range, for a fake that each test binds again.

    A port from `free_port()` is an ephemeral one: between two tests, while nothing listens on it, an
    outgoing connection (the proxy's to another upstream, say) may get it as its local port, and the
    next test's bind fails with "Address already in use". Below the range, only a listener takes it.
    """
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return free_port()
    for _ in range(100):
        port = random.randrange(max(1024, low // 2), low)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    return free_port()


class ProxyProcess:
    """A running `switchyard serve`; `url` is its base, `log()` what it wrote to stderr."""

    def __init__(self, rules: Path, env: dict | None = None, args: tuple = (), log_path: Path | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path or rules.parent / f"proxy-{self.port}.log"
        cmd = [sys.executable, "-m", "switchyard", "serve", "--rules", str(rules), "--port", str(self.port), *args]
        full_env = {**os.environ, **(env or {})}
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=full_env, stdout=self._log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 15.0) -> ProxyProcess:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"proxy exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=0.5) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"proxy did not become healthy:\n{self.log()}")

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def signal(self, sig: int = signal.SIGHUP) -> None:
        self.proc.send_signal(sig)

    def log(self) -> str:
        if self.proc.poll() is None:
            # The proxy writes its access lines at the end of a turn of its event loop, just after the
            # answers of that turn went out: one more request makes sure that turn is over.
            with contextlib.suppress(OSError), urllib.request.urlopen(self.url + "/healthz", timeout=5):
                pass
            time.sleep(0.02)  # with --workers, the request above may have reached another worker
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            # SIGINT stops at once; SIGTERM would drain (tests/server/test_shutdown.py tests that).
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


@pytest.fixture
def start_proxy(tmp_path):
    """`start_proxy(rules_dir, env=..., args=...)` -> a healthy ProxyProcess, stopped after the test."""
    started: list[ProxyProcess] = []

    def start(rules: Path, env: dict | None = None, args: tuple = (), wait: bool = True) -> ProxyProcess:
        proc = ProxyProcess(rules, env, args)
        started.append(proc)
        return proc.wait_ready() if wait else proc

    yield start
    for proc in started:
        proc.stop()


def write_pack(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(textwrap.dedent(text).lstrip())
    return path


async def lenient_chat_upstream(aiohttp_server, rules: Path):
    """A fake Chat provider that takes any field, and one pack `p` sending every request to it: the rig of
    tests about the server itself (streams, shutdown, clean-up), not about what a provider accepts."""
    from fakes.chat_provider import FakeChatProvider  # tests/fakes: only the tests that start one need it

    fake = FakeChatProvider(allowed_fields=None)
    server = await aiohttp_server(fake.app)
    write_pack(
        rules,
        "p",
        f"""
        pack: p
        match: "`true`"
        upstream: {{url: "{server.make_url("/v1")}", protocol: chat}}
        """,
    )
    return fake
