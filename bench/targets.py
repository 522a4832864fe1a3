"""What the side-by-side benchmark compares: the scenarios, and each target as a process with its requests.

Every target is its own process in front of the one fake upstream (`bench.fast_upstream`), and each
is given the request it needs to do a scenario's job, or a reason why it cannot (shown as n/a):

- `direct`: the upstream alone; the floor every added latency is measured from.
- `bare`: `bench.baseline_proxy`, Starlette + aiohttp relaying bytes, no rules: the ceiling of this stack.
  In the bridge scenarios it relays the same upstream stream (nothing to translate), so its figures
  are the cost of the hop alone.
- `switchyard` (1 worker) and `switchyard-N` (`--workers N`, when this build has the flag).
- with `--peers`: LiteLLM proxy and Portkey gateway, installed by `make bench-peers` into `.bench/peers`
  (never project dependencies). LiteLLM reads a config made here: one model per scenario pointing at
  the fake upstream, no database, telemetry and the remote cost map off. Portkey needs no config: its
  `x-portkey-provider: openai` and `x-portkey-custom-host` headers send a request to the fake upstream.

Scenarios:
1. `chat`: the small chat request of `bench.bench_server`, which Switchyard rewrites with its 5-step pack;
2. `codex`: Codex CLI's 40 KB turn-1 `POST /v1/responses`, streamed, bridged to a Chat upstream that
   answers with 200 chunks (Switchyard: the shipped qwen pack; LiteLLM: its Responses-to-Chat bridge,
   taken for a `custom_openai/` model);
3. `chat_over_responses`: a streaming chat client in front of a Responses upstream that answers with
   200 text deltas (Switchyard: the shipped openai pack; LiteLLM: an `openai/responses/` model).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import orjson

try:
    from bench.bench_server import BODY as SMALL_CHAT
    from bench.bench_server import PACK as SMALL_PACK
    from bench.loadgen import Request
except ImportError:  # run as a script: bench/ itself is on sys.path
    from bench_server import BODY as SMALL_CHAT  # type: ignore[no-redef]
    from bench_server import PACK as SMALL_PACK  # type: ignore[no-redef]
    from loadgen import Request  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parent.parent
PEERS = ROOT / ".bench" / "peers"
LITELLM = PEERS / "litellm" / "bin" / "litellm"
PORTKEY = PEERS / "portkey" / "node_modules" / "@portkey-ai" / "gateway"
CODEX = (ROOT / "tests" / "fixtures" / "codex-cli-0.169.0" / "turn1-request.json").read_bytes()
CODEX_MODEL = orjson.loads(CODEX)["model"]  # a Qwen model: the shipped qwen pack takes it
RESPONSES_MODEL = "gpt-5.4"  # the shipped openai pack takes it
CHAT_STREAM = orjson.dumps(
    {"model": RESPONSES_MODEL, "stream": True, "messages": [{"role": "user", "content": "ping"}]}
)
RESPONSES_STREAM = orjson.dumps({"model": RESPONSES_MODEL, "stream": True, "input": "ping"})

SCENARIOS = {
    "chat": "1. small chat request, 5-step pack",
    "codex": "2. Codex turn 1 (40 KB), Responses client -> Chat upstream, 200 streamed chunks",
    "chat_over_responses": "3. chat client -> Responses upstream, 200 streamed deltas",
}
STREAMED = ("codex", "chat_over_responses")

# What a correct answer contains, by the protocol the client speaks.
CHAT_JSON, CHAT_SSE, RESPONSES_SSE = b'"choices"', b"[DONE]", b"response.completed"
# The same job without translation: the bytes the bridging targets get, relayed as they are.
CHAT_PATH, RESPONSES_PATH = "/v1/chat/completions", "/v1/responses"
RELAYED = {
    "chat": Request(CHAT_PATH, SMALL_CHAT, expect=CHAT_JSON, upstream=CHAT_PATH),
    "codex": Request(CHAT_PATH, CODEX, expect=CHAT_SSE, upstream=CHAT_PATH),
    "chat_over_responses": Request(RESPONSES_PATH, RESPONSES_STREAM, expect=RESPONSES_SSE, upstream=RESPONSES_PATH),
}
BRIDGED = {
    "chat": Request(CHAT_PATH, SMALL_CHAT, expect=CHAT_JSON, upstream=CHAT_PATH),
    "codex": Request(RESPONSES_PATH, CODEX, expect=RESPONSES_SSE, upstream=CHAT_PATH),
    "chat_over_responses": Request(CHAT_PATH, CHAT_STREAM, expect=CHAT_SSE, upstream=RESPONSES_PATH),
}


def paced(req: Request) -> Request:
    """The same request, marked so that the fake upstream sends its events one per millisecond."""
    body = req.body.replace(b"list the files here", b"list the files here (paced)")
    body = body.replace(b'"ping"', b'"ping (paced)"')
    assert body != req.body, "no text to mark in the request"
    return Request(req.path, body, req.headers, req.method, req.expect, req.upstream)


@dataclass
class Target:
    name: str
    label: str
    command: list[str] | None  # None: the upstream itself (`direct`)
    port: int
    requests: dict[str, Request | str]  # a scenario's request, or why the target cannot do its job
    version: str = ""
    env: dict = field(default_factory=dict)
    proc: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, logs: Path) -> None:
        if self.command is None:
            return
        log = open(logs / f"{self.name}.log", "wb")  # noqa: SIM115 - the process owns it until it ends
        env = {**os.environ, **self.env}
        self.proc = subprocess.Popen(self.command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float) -> None:
        """Until the small chat request gets a 200 (LiteLLM takes seconds to import itself)."""
        req = self.requests["chat"]
        assert isinstance(req, Request)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}")
            try:
                call(self.base, req)
                return
            except (OSError, RuntimeError):
                time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not answer within {timeout:.0f} s")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def upstream_counts(upstream: str) -> dict:
    """Requests per path the fake upstream has had (`upstream` is its base, `.../v1`)."""
    with urllib.request.urlopen(upstream.removesuffix("/v1") + "/-/counts", timeout=10) as resp:
        return json.loads(resp.read())


def check(base: str, req: Request, upstream: str) -> None:
    """One request: a 200 that contains what the scenario expects, having called the upstream path it needs."""
    before = upstream_counts(upstream).get(req.upstream, 0)
    call(base, req)
    if upstream_counts(upstream).get(req.upstream, 0) <= before:
        raise RuntimeError(f"answered without calling the upstream's {req.upstream}")


def call(base: str, req: Request) -> bytes:
    """One request; its body when the answer is a 200 that contains what the scenario expects."""
    headers = {"Content-Type": "application/json", **req.headers}
    http = urllib.request.Request(base + req.path, data=req.body, headers=headers, method=req.method)
    try:
        with urllib.request.urlopen(http, timeout=30) as resp:
            body = resp.read()
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"{exc.code}: {exc.read()[:300]!r}") from exc
    if req.expect not in body:
        raise RuntimeError(f"200 without {req.expect!r}: {body[:300]!r}")
    return body


def python_version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def workers_flag() -> bool:
    """Whether this build's `switchyard serve` takes `--workers` (it lands from another branch)."""
    out = subprocess.run([sys.executable, "-m", "switchyard", "serve", "--help"], capture_output=True, text=True)
    return "--workers" in out.stdout


def switchyard_rules(folder: Path, upstream: str) -> dict:
    """The rules folder Switchyard serves: the 5-step bench pack and the shipped qwen and openai packs."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "bench.yaml").write_text(textwrap.dedent(SMALL_PACK).format(url=upstream))
    for name in ("qwen", "openai"):
        shutil.copy(ROOT / "rules" / f"{name}.yaml", folder / f"{name}.yaml")
    return {"QWEN_BASE_URL": upstream, "QWEN_API_KEY": "bench", "OPENAI_BASE_URL": upstream, "OPENAI_API_KEY": "bench"}


def bare(port: int, upstream: str) -> Target:
    cmd = [sys.executable, "-m", "uvicorn", "bench.baseline_proxy:app", "--port", str(port)]
    cmd += ["--loop", "uvloop", "--http", "httptools", "--log-level", "warning", "--no-access-log"]
    label = "bare pass-through (Starlette + aiohttp)"
    return Target("bare", label, cmd, port, dict(RELAYED), "-", {"BASELINE_UPSTREAM": upstream})


def switchyard(port: int, rules: Path, env: dict, workers: int = 1) -> Target:
    cmd = [sys.executable, "-m", "switchyard", "serve", "--rules", str(rules), "--port", str(port)]
    name, label = "switchyard", "Switchyard, 1 worker"
    if workers > 1:
        cmd += ["--workers", str(workers)]
        name, label = f"switchyard-{workers}", f"Switchyard, {workers} workers"
    return Target(name, label, cmd, port, dict(BRIDGED), python_version("switchyard"), env)


def litellm_config(upstream: str) -> str:
    """One model per scenario, each pointing at the fake upstream; nothing that needs a database."""
    models = [
        ("bench-model", "openai/bench-model"),  # chat: passed through as it is
        (CODEX_MODEL, f"custom_openai/{CODEX_MODEL}"),  # a provider without Responses: /v1/responses is bridged
        (RESPONSES_MODEL, f"openai/responses/{RESPONSES_MODEL}"),  # chat sent to a Responses upstream
    ]
    config = {
        "model_list": [
            {"model_name": name, "litellm_params": {"model": model, "api_base": upstream, "api_key": "bench"}}
            for name, model in models
        ],
        "litellm_settings": {"telemetry": False, "drop_params": True, "set_verbose": False, "callbacks": []},
        # No client key, as Switchyard on loopback without --client-token: the same job, no auth on either side.
        "general_settings": {
            "disable_spend_logs": True,
            "disable_error_logs": True,
            "dangerously_permit_weak_or_unset_master_key": True,
        },
    }
    return json.dumps(config, indent=2)  # JSON is YAML


def litellm(port: int, folder: Path, upstream: str) -> Target | str:
    if not LITELLM.exists():
        return "not installed (`make bench-peers` installs it into .bench/peers)"
    config = folder / "litellm.yaml"
    config.write_text(litellm_config(upstream))
    cmd = [str(LITELLM), "--config", str(config), "--host", "127.0.0.1", "--port", str(port), "--num_workers", "1"]
    cmd += ["--telemetry", "False"]
    env = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR", "NO_DOCS": "True"}
    version = subprocess.run(
        [str(LITELLM.parent / "python"), "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    return Target("litellm", "LiteLLM proxy", cmd, port, dict(BRIDGED), version, env)


def portkey(port: int, upstream: str) -> Target | str:
    start = PORTKEY / "build" / "start-server.js"
    if not start.exists() or shutil.which("node") is None:
        return "not installed (`make bench-peers` installs it into .bench/peers; it needs node)"
    headers = {"x-portkey-provider": "openai", "x-portkey-custom-host": upstream, "Authorization": "Bearer bench"}
    chat = Request(CHAT_PATH, SMALL_CHAT, headers, expect=CHAT_JSON, upstream=CHAT_PATH)
    requests: dict[str, Request | str] = {
        "chat": chat,
        "codex": "no Responses-to-Chat bridge: Portkey sends /v1/responses to the provider's own /responses",
        "chat_over_responses": "no Chat-to-Responses bridge: Portkey sends /v1/chat/completions to /chat/completions",
    }
    version = json.loads((PORTKEY / "package.json").read_text())["version"]
    cmd = ["node", str(start), f"--port={port}", "--headless"]
    return Target("portkey", "Portkey gateway", cmd, port, requests, version, {"NODE_ENV": "production"})
