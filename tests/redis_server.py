"""A real Redis for the tests that need one: Debian's `redis-server`, started on a free port, stopped after.

`make test` installs the package when it is missing and it can (as root); here, as a last resort, the
same install is tried once, and a test is skipped, saying why, only when Redis truly cannot run.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
from proxy_process import free_port

_INSTALL = ["apt-get", "install", "-y", "-qq", "-o", "DPkg::Lock::Timeout=600", "redis-server"]


def redis_binary() -> str | None:
    found = shutil.which("redis-server") or (os.path.exists("/usr/bin/redis-server") and "/usr/bin/redis-server")
    if found or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found or None
    if subprocess.run(_INSTALL, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True)
        subprocess.run(_INSTALL, capture_output=True)
    return shutil.which("redis-server")


class RedisServer:
    def __init__(self, binary: str, folder: Path):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.proc = subprocess.Popen(
            [binary, *args, "--dir", str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@pytest.fixture
def redis_server(tmp_path):
    binary = redis_binary()
    if binary is None:
        pytest.skip("redis-server is not installed and cannot be (Debian's package: apt-get install redis-server)")
    server = RedisServer(binary, tmp_path)
    yield server
    server.stop()
