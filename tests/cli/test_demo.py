"""`switchyard demo`: the whole path with no key and no network, as a newcomer runs it."""

from __future__ import annotations

import os
import subprocess
import sys

import golden_files


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
