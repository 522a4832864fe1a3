"""Running `switchyard probe` as users do (a separate process) against a fake provider served by the test."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from fakes.strict_providers import KEY
from proxy_process import ROOT

KEY_ENV = "PROBE_TEST_KEY"
MODEL = "fake-coder"


@dataclass
class Probed:
    returncode: int
    stdout: str
    stderr: str
    pack: Path

    @property
    def text(self) -> str:
        return self.pack.read_text(encoding="utf-8") if self.pack.exists() else ""

    def used(self) -> int:
        found = re.search(r"switchyard probe: (\d+) of (\d+) requests", self.stderr)
        assert found, self.stderr
        return int(found.group(1))


async def probe(url: str, tmp_path: Path, *args: str, protocol: str = "chat", key: str = KEY) -> Probed:
    out = tmp_path / "rules" / "fake-coder.yaml"
    command = [sys.executable, "-m", "switchyard", "probe", "--url", url, "--protocol", protocol]
    command += ["--key-env", KEY_ENV, "--model", MODEL, "--out", str(out), *args]
    env = {**os.environ, KEY_ENV: key}
    proc = await asyncio.create_subprocess_exec(*command, cwd=ROOT, env=env, stdout=-1, stderr=-1)
    stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout=120)
    return Probed(proc.returncode, stdout.decode(), stderr.decode(), out)
