"""The package as a user gets it: `python -m build` makes a wheel and an sdist (once per session), `twine
check --strict` passes them, and the wheel installed alone into an empty virtualenv serves, demos, inits
and checks from an empty folder, with the packs it ships.

The virtualenv has nothing but the wheel and its dependencies (from the package index, as `pip install`
gets them); every command runs in an empty folder with no `SWITCHYARD_*` variable and no provider key.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tarfile
import time
import urllib.request
import zipfile
from pathlib import Path

import golden_files
import pytest

from switchyard import __version__

ROOT = golden_files.ROOT
BIN = Path(sys.executable).parent
SHIPPED = sorted(p.relative_to(ROOT / "rules").as_posix() for p in (ROOT / "rules").rglob("*.yaml"))


@pytest.fixture(scope="session")
def dist(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run(
        [sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    [wheel] = out.glob("*.whl")
    [sdist] = out.glob("*.tar.gz")
    return {"wheel": wheel, "sdist": sdist}


@pytest.fixture(scope="session")
def venv(dist, tmp_path_factory) -> Path:
    """An empty virtualenv with the wheel installed: its bin folder."""
    where = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True, timeout=120)
    done = subprocess.run(
        [str(where / "bin" / "python"), "-m", "pip", "install", "--quiet", str(dist["wheel"])],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return where / "bin"


def user_env(venv: Path) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHYARD_")}
    keep = {k: v for k, v in keep.items() if not k.endswith(("_API_KEY", "_BASE_URL")) and k != "PYTHONPATH"}
    return {**keep, "PATH": f"{venv}{os.pathsep}{keep.get('PATH', '')}"}


def run(venv: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(venv / "switchyard"), *args], cwd=cwd, env=user_env(venv), capture_output=True, text=True, timeout=120
    )


def test_the_wheel_and_the_sdist_are_named_for_the_distribution_and_pass_twine_check_strict(dist):
    assert dist["wheel"].name == f"switchyard_proxy-{__version__}-py3-none-any.whl"
    assert dist["sdist"].name == f"switchyard_proxy-{__version__}.tar.gz"
    done = subprocess.run(
        [str(BIN / "twine"), "check", "--strict", str(dist["wheel"]), str(dist["sdist"])],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and done.stdout.count("PASSED") == 2, done.stdout + done.stderr


def test_the_wheel_carries_the_shipped_packs_once_and_no_tests(dist):
    names = zipfile.ZipFile(dist["wheel"]).namelist()
    packs = sorted(n.removeprefix("switchyard/rules/") for n in names if n.endswith(".yaml"))
    assert packs == SHIPPED and {"qwen.yaml", "extra/deepseek-anthropic.yaml"} <= set(packs)
    assert not [n for n in names if n.startswith(("tests/", "rules/", "bench/"))]
    with tarfile.open(dist["sdist"]) as sdist:  # the sdist has them where the repository has them
        top = f"switchyard_proxy-{__version__}/"
        assert {top + "rules/" + p for p in SHIPPED} <= set(sdist.getnames())


def test_the_installed_command_says_the_one_version(venv, tmp_path):
    assert run(venv, tmp_path, "--version").stdout.strip() == f"switchyard {__version__}"


def test_init_writes_the_shipped_packs_and_a_readme_then_check_passes_and_a_second_init_refuses(venv, tmp_path):
    before = run(venv, tmp_path, "check")
    assert before.returncode == 2 and "no such file or folder: rules (`switchyard init`" in before.stderr
    done = run(venv, tmp_path, "init")
    assert done.returncode == 0, done.stderr
    written = sorted(p.relative_to(tmp_path / "rules").as_posix() for p in (tmp_path / "rules").rglob("*.yaml"))
    assert written == SHIPPED
    readme = (tmp_path / "rules" / "README.md").read_text()
    assert "switchyard check rules" in readme and __version__ in readme
    checked = run(venv, tmp_path, "check")
    assert checked.returncode == 0 and checked.stdout.strip().endswith("packs OK"), checked.stdout + checked.stderr

    (tmp_path / "rules" / "qwen.yaml").write_text("# ours now\n")
    again = run(venv, tmp_path, "init")
    assert again.returncode == 2 and "--force" in again.stderr and "qwen.yaml" in again.stderr
    assert (tmp_path / "rules" / "qwen.yaml").read_text() == "# ours now\n"  # nothing replaced
    forced = run(venv, tmp_path, "init", "--force")
    assert forced.returncode == 0 and (tmp_path / "rules" / "qwen.yaml").read_text().startswith("#")
    assert "pack: qwen" in (tmp_path / "rules" / "qwen.yaml").read_text()


def test_init_into_a_named_folder(venv, tmp_path):
    done = run(venv, tmp_path, "init", "mine")
    assert done.returncode == 0 and (tmp_path / "mine" / "qwen.yaml").is_file(), done.stderr
    assert not (tmp_path / "rules").exists()


def test_demo_from_an_empty_folder_serves_the_shipped_packs_and_says_so_first(venv, tmp_path):
    done = run(venv, tmp_path, "demo", "--once", "--port", "0")
    assert done.returncode == 0, done.stdout + done.stderr
    first = done.stdout.splitlines()[0]
    assert first.startswith("using the packs shipped with switchyard") and "site-packages" in first
    assert "What the client got back: HTTP 200" in done.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_from_an_empty_folder_serves_the_shipped_packs_and_says_so_in_its_first_log_line(venv, tmp_path):
    port = free_port()
    proc = subprocess.Popen(
        [str(venv / "switchyard"), "serve", "--port", str(port)],
        cwd=tmp_path,
        env=user_env(venv),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, "did not start"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=1) as r:
                    models = {m["id"] for m in json.load(r)["data"]}
                break
            except OSError:
                time.sleep(0.1)
        assert {"qwen3-coder-plus", "deepseek-chat"} <= models
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/rules", timeout=2) as r:
            rules = json.load(r)
        assert rules["switchyard"] == __version__ and "site-packages" in rules["folder"]
    finally:
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=60)[0]
    assert "using the packs shipped with switchyard" in out.splitlines()[0], out
