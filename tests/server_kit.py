"""Wiring shared by the server tests: one proxy process serving many packs, fakes on fixed ports.

Starting `switchyard serve` costs about half a second, so the tests of traffic, errors and
endpoints share one process per module (`proxy`). That needs the fake upstreams at addresses
known before any test runs, while pytest-aiohttp's `aiohttp_server` is function-scoped: the
ports are therefore picked once per module (`ports`), the packs point at them, and each test
starts its own fresh fake on the same port (`chat_upstream`, `responses_upstream`), so no
scripted reply or recorded request leaks from one test into the next. Each pack serves its own
model names, which keeps the tests independent inside the shared process; metrics are compared
before and after, never as absolute values.

Tests that change the rules folder (reloads) start their own process with `start_proxy`.

The test modules that use the fixtures here import them (`from server_kit import proxy_fixture`); pytest
finds them by their `name`, so a test's parameter does not shadow the imported function.
"""

from __future__ import annotations

import asyncio
import io
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import openai
import orjson
import pytest
from fakes.chat_provider import FakeChatProvider
from fakes.responses_provider import FakeResponsesProvider
from prometheus_client.parser import text_string_to_metric_families
from proxy_process import ProxyProcess, free_port, rebindable_port, write_pack

# Distinctive strings, so that a test can grep every output of the proxy for them.
PACK_KEY = "sk-pack-SWITCHYARD-7f3c9e-TESTKEY"
CLIENT_KEY = "sk-client-SWITCHYARD-4b1d2a-TESTKEY"
URL_SECRET = "url-SECRET-91e0b7"
MAX_BODY = 64 * 1024
# One pack problem as the loader reports it: FILE:LINE:COLUMN: message.
PROBLEM = re.compile(r"^(?P<file>\S+\.yaml):(?P<line>\d+):(?P<column>\d+): .+", re.MULTILINE)


@dataclass(frozen=True)
class Ports:
    chat: int
    responses: int
    closed: int  # nothing listens here: the "upstream unreachable" case


def shared_packs(folder: Path, ports: Ports) -> None:
    """The packs of the shared proxy; each serves its own model names."""
    chat = f"http://127.0.0.1:{ports.chat}/v1"
    write_pack(
        folder,
        "chat",
        f"""
        pack: chat
        description: same protocol, Chat Completions
        match: "starts_with(model, 'chat-')"
        models: [chat-small, chat-large]
        upstream:
          url: {chat}
          protocol: chat
          headers: {{X-Source: sidecar}}
        request:
          - drop: vendor_hint
          - rename: {{max_completion_tokens: max_tokens}}
          - match: "n > `1`"
            reject: "this model returns one choice only (n must be 1)"
        response:
          - rename: {{"choices[].delta.reasoning": reasoning_content}}
          - rename: {{"choices[].message.reasoning": reasoning_content}}
        """,
    )
    write_pack(
        folder,
        "keyed",
        f"""
        pack: keyed
        match: "starts_with(model, 'keyed-')"
        models: [keyed-model]
        upstream:
          url: {chat}
          protocol: chat
          api_key: ${{SWITCHYARD_TEST_PACK_KEY}}
        """,
    )
    write_pack(
        folder,
        "numbers",
        f"""
        pack: numbers
        priority: 10
        match: "type(model) == 'number'"
        upstream:
          url: {chat}
          protocol: chat
        request:
          - compute: {{model_length: "length(model)"}}
        """,
    )
    write_pack(
        folder,
        "forced-chat",
        f"""
        pack: forced-chat
        match: "model == 'forced-chat'"
        upstream:
          url: {chat}
          protocol: chat
          force_stream: true
        """,
    )
    write_pack(
        folder,
        "slow",
        f"""
        pack: slow
        match: "model == 'slow'"
        upstream:
          url: {chat}
          protocol: chat
          timeout: {{read: 0.5}}
        """,
    )
    write_pack(
        folder,
        "down",
        f"""
        pack: down
        match: "model == 'down'"
        upstream:
          url: http://127.0.0.1:{ports.closed}/v1
          protocol: chat
        """,
    )
    write_pack(
        folder,
        "redacted",
        f"""
        pack: redacted
        match: "model == 'redacted'"
        upstream:
          url: http://alice:{URL_SECRET}@127.0.0.1:{ports.chat}/v1?key={URL_SECRET}
          protocol: chat
        """,
    )
    write_pack(
        folder,
        "versioned",
        f"""
        pack: versioned
        match: "model == 'versioned'"
        upstream:
          url: {chat}/?api-version=2024-10-21
          protocol: chat
        """,
    )
    responses = f"http://127.0.0.1:{ports.responses}/v1"
    write_pack(
        folder,
        "responses",
        f"""
        pack: responses
        match: "starts_with(model, 'resp-')"
        models: [resp-model]
        upstream:
          url: {responses}
          protocol: responses
        request:
          - drop: vendor_hint
        response:
          - set: {{proxied: true}}
        """,
    )
    write_pack(
        folder,
        "forced-responses",
        f"""
        pack: forced-responses
        priority: 1
        match: "model == 'resp-forced'"
        upstream:
          url: {responses}
          protocol: responses
          force_stream: true
        """,
    )


@pytest.fixture(name="ports", scope="module")
def ports_fixture() -> Ports:
    return Ports(chat=rebindable_port(), responses=rebindable_port(), closed=free_port())


@pytest.fixture(name="proxy", scope="module")
def proxy_fixture(ports, tmp_path_factory):
    """The shared `switchyard serve`, with JSON logs and a small body limit."""
    rules = tmp_path_factory.mktemp("shared") / "rules"
    shared_packs(rules, ports)
    process = ProxyProcess(
        rules,
        env={"SWITCHYARD_TEST_PACK_KEY": PACK_KEY},
        args=("--log-format", "json", "--max-body", str(MAX_BODY)),
    )
    try:
        yield process.wait_ready()
    finally:
        process.stop()


@pytest.fixture(name="chat_upstream")
async def chat_upstream_fixture(aiohttp_server, ports) -> FakeChatProvider:
    fake = FakeChatProvider()
    await aiohttp_server(fake.app, port=ports.chat)
    return fake


@pytest.fixture(name="responses_upstream")
async def responses_upstream_fixture(aiohttp_server, ports) -> FakeResponsesProvider:
    fake = FakeResponsesProvider()
    await aiohttp_server(fake.app, port=ports.responses)
    return fake


@pytest.fixture(name="client")
async def client_fixture(proxy):
    async with openai.AsyncOpenAI(base_url=proxy.base_url, api_key=CLIENT_KEY, max_retries=0) as sdk:
        yield sdk


@pytest.fixture(name="http")
async def http_fixture():
    async with aiohttp.ClientSession() as session:
        yield session


# --- helpers ------------------------------------------------------------------------------------------


def hi(**fields) -> dict:
    """A small chat body."""
    return {"messages": [{"role": "user", "content": "hi"}], **fields}


def sse_data(text: str) -> list[str]:
    """The `data:` payloads of an event stream, in order (one line each: the proxy writes one per event)."""
    return [line[len("data: ") :] for line in text.splitlines() if line.startswith("data: ")]


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text, 0 when absent (a counter not yet incremented)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


async def get_metrics(http: aiohttp.ClientSession, proxy: ProxyProcess) -> str:
    async with http.get(proxy.url + "/metrics") as resp:
        assert resp.status == 200
        return await resp.text()


async def post_json(http: aiohttp.ClientSession, url: str, body: object, **kwargs) -> tuple[int, Mapping, dict]:
    """POST a JSON body; (status, headers (case-insensitive), parsed body)."""
    data = body if isinstance(body, bytes | io.BytesIO) else orjson.dumps(body)
    headers = {"Content-Type": "application/json", **kwargs.pop("headers", {})}
    async with http.post(url, data=data, headers=headers, **kwargs) as resp:
        return resp.status, resp.headers, orjson.loads(await resp.read())


async def assert_healthy(http: aiohttp.ClientSession, proxy: ProxyProcess) -> None:
    """The process survived whatever the test did to it."""
    assert proxy.proc.poll() is None, proxy.log()
    async with http.get(proxy.url + "/healthz") as resp:
        assert resp.status == 200


def assert_error_shape(body: dict) -> dict:
    """The OpenAI error shape both client protocols share; returns the inner object."""
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert isinstance(error["message"], str) and error["message"]
    return error


async def wait_for(predicate, timeout: float = 5.0, interval: float = 0.05):
    """Poll `predicate` (sync or async) until it returns something truthy; return that."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


def log_lines(proxy: ProxyProcess, request_id: str) -> list[dict]:
    """The JSON log lines of the proxy that carry this request id."""
    lines = []
    for line in proxy.log().splitlines():
        if request_id in line and line.startswith("{"):
            lines.append(orjson.loads(line))
    return lines
