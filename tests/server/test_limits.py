"""Limits per client and per pack (switchyard/server/limits.py), through a real `switchyard serve`.

Requests over a limit get 429 with Retry-After in the client's own protocol's error shape; the count
is by client token name (`name:token` lines in --client-token-file), or by address without tokens.
"""

from __future__ import annotations

import aiohttp
import pytest
from fakes.pool_provider import PoolProvider
from proxy_process import write_pack
from server_kit import metric, post_json

from switchyard.language.loader import load_text
from switchyard.language.pack import compile_pack
from switchyard.server.limits import Limits, LocalStore, Over

HI = {"messages": [{"role": "user", "content": "hi"}]}
BODIES = {
    "chat": ("/chat/completions", {"model": "p", **HI}),
    "messages": ("/messages", {"model": "p", "max_tokens": 16, **HI}),
    "responses": ("/responses", {"model": "p", "input": "hi"}),
}


async def limited(start_proxy, tmp_path, aiohttp_server, limits: str, args: tuple = (), fake=None):
    fake = fake or PoolProvider(keys={"k"})
    url = (await aiohttp_server(fake.endpoint_app("a"))).make_url("/v1")
    write_pack(
        tmp_path / "rules",
        "p",
        f"""
        pack: p
        match: "model == 'p'"
        upstream: {{url: "{url}", protocol: chat, api_key: k}}
        limits:
        {limits}
        """,
    )
    return fake, start_proxy(tmp_path / "rules", args=args)


def tokens_file(tmp_path, *lines: str) -> str:
    path = tmp_path / "tokens"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


async def send(http, proxy, client: str = "chat", token: str | None = None, **extra):
    path, body = BODIES[client]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return await post_json(http, f"{proxy.base_url}{path}", {**body, **extra}, headers=headers)


async def test_requests_per_minute_per_named_client_token(start_proxy, tmp_path, aiohttp_server):
    tokens = tokens_file(tmp_path, "# agents", "alice:tok-alice", "bob:tok-bob")
    limit = "  - {per: client, requests_per_minute: 2}"
    _, proxy = await limited(start_proxy, tmp_path, aiohttp_server, limit, ("--client-token-file", tokens))
    async with aiohttp.ClientSession() as http:
        alice = [(await send(http, proxy, token="tok-alice"))[0] for _ in range(3)]
        bob = [(await send(http, proxy, token="tok-bob"))[0] for _ in range(2)]
        status, headers, body = await send(http, proxy, token="tok-alice")
        async with http.get(proxy.url + "/metrics") as r:
            text = await r.text()
    assert (alice, bob, status) == ([200, 200, 429], [200, 200], 429)
    assert 20 <= int(headers["Retry-After"]) <= 30  # one request's share of the minute
    assert body["error"]["code"] == "rate_limit_exceeded" and body["error"]["type"] == "requests"
    assert "client alice" in body["error"]["message"]
    assert metric(text, "switchyard_rate_limited_total", pack="p", per="client") == 2
    log = proxy.log()
    assert "client alice" in log and "tok-alice" not in log and "tok-bob" not in log


@pytest.mark.parametrize("client", ["chat", "messages", "responses"])
async def test_over_a_limit_the_429_is_in_the_clients_protocol(start_proxy, tmp_path, aiohttp_server, client):
    _, proxy = await limited(start_proxy, tmp_path, aiohttp_server, "  - {per: pack, requests_per_minute: 1}")
    async with aiohttp.ClientSession() as http:
        first, _, _ = await send(http, proxy, client)
        status, headers, body = await send(http, proxy, client)
    assert (first, status) == (200, 429) and int(headers["Retry-After"]) >= 1
    if client == "messages":
        assert body["type"] == "error" and body["error"]["type"] == "rate_limit_error"
    else:
        assert body["error"]["code"] == "rate_limit_exceeded"


async def test_without_client_tokens_a_client_is_its_address(start_proxy, tmp_path, aiohttp_server):
    _, proxy = await limited(start_proxy, tmp_path, aiohttp_server, "  - {per: client, requests_per_minute: 1}")
    async with aiohttp.ClientSession() as http:
        statuses = [(await send(http, proxy))[0] for _ in range(2)]
    assert statuses == [200, 429]
    assert "client 127.0.0.1" in proxy.log()


async def test_a_refused_request_never_reaches_the_upstream(start_proxy, tmp_path, aiohttp_server):
    fake, proxy = await limited(start_proxy, tmp_path, aiohttp_server, "  - {per: pack, requests_per_minute: 2}")
    async with aiohttp.ClientSession() as http:
        statuses = [(await send(http, proxy))[0] for _ in range(5)]
    assert statuses == [200, 200, 429, 429, 429] and len(fake.calls) == 2


@pytest.mark.parametrize(
    ("client", "extra"),
    [
        ("chat", {}),
        ("chat", {"stream": True, "stream_options": {"include_usage": True}}),
        ("messages", {"stream": True}),
        ("responses", {}),
    ],
    ids=["chat", "chat-stream", "messages-stream", "responses"],
)
async def test_tokens_per_minute_count_the_usage_the_provider_reported(
    start_proxy, tmp_path, aiohttp_server, client, extra
):
    # Every answer reports 7 + 3 tokens. A budget of 25 a minute admits a request while one more token
    # fits: the third overshoots it (30), the fourth waits until the debt is paid.
    limit = "  - {per: client, tokens_per_minute: 25}"
    _, proxy = await limited(start_proxy, tmp_path, aiohttp_server, limit)
    statuses = []
    async with aiohttp.ClientSession() as http:
        for _ in range(4):
            path, body = BODIES[client]
            async with http.post(f"{proxy.base_url}{path}", json={**body, **extra}) as r:
                statuses.append(r.status)
                text = await r.text()
                headers = r.headers
    assert statuses == [200, 200, 200, 429], proxy.log()
    assert 10 <= int(headers["Retry-After"]) <= 16
    if client == "messages":
        assert '"rate_limit_error"' in text
    else:
        assert '"rate_limit_exceeded"' in text and '"tokens"' in text


# -- GCRA itself, with a clock the test moves


def limits_of(text: str, clock) -> tuple[Limits, object]:
    doc, problems = load_text(
        f'pack: p\nmatch: "`true`"\nupstream: {{url: "https://a.example/v1", protocol: chat}}\n{text}', "p.yaml"
    )
    assert doc is not None, problems
    pack, problems = compile_pack(doc, env={})
    assert pack is not None, [str(p) for p in problems]
    return Limits(LocalStore(clock)), pack


def test_a_minutes_budget_may_be_used_at_once_then_the_steady_rate_with_no_window_edge() -> None:
    now = [100.0]
    limits, pack = limits_of("limits: [{per: client, requests_per_minute: 6}]", lambda: now[0])
    for _ in range(6):
        limits.admit_now(pack, "a")
    with pytest.raises(Over) as over:
        limits.admit_now(pack, "a")
    assert over.value.retry_after == 10  # one request's share of the minute
    now[0] += 9.9
    with pytest.raises(Over):
        limits.admit_now(pack, "a")
    now[0] += 0.2
    limits.admit_now(pack, "a")  # one more, not a fresh minute's worth
    with pytest.raises(Over):
        limits.admit_now(pack, "a")
    limits.admit_now(pack, "b")  # another client has its own budget


def test_tokens_are_charged_after_the_answer_and_a_request_over_the_budget_waits_for_the_debt() -> None:
    now = [0.0]
    limits, pack = limits_of("limits: [{per: pack, tokens_per_minute: 600}]", lambda: now[0])
    limits.admit_now(pack, "a").done(1200)  # two minutes' worth in one answer
    with pytest.raises(Over) as over:
        limits.admit_now(pack, "b")
    assert over.value.retry_after == 61 and over.value.kind == "t"
    now[0] = 60.2
    limits.admit_now(pack, "b")


def test_a_refused_request_charges_none_of_the_limits() -> None:
    now = [0.0]
    text = "limits: [{per: client, requests_per_minute: 1}, {per: pack, requests_per_minute: 2}]"
    limits, pack = limits_of(text, lambda: now[0])
    limits.admit_now(pack, "a")
    with pytest.raises(Over):
        limits.admit_now(pack, "a")  # refused by the client's limit: the pack's count is not touched
    limits.admit_now(pack, "b")
    with pytest.raises(Over) as over:
        limits.admit_now(pack, "c")
    assert over.value.per == "pack"


async def test_a_reload_keeps_the_counts_of_a_limit_that_did_not_change(start_proxy, tmp_path, aiohttp_server):
    _, proxy = await limited(start_proxy, tmp_path, aiohttp_server, "  - {per: pack, requests_per_minute: 2}")
    async with aiohttp.ClientSession() as http:
        assert [(await send(http, proxy))[0] for _ in range(2)] == [200, 200]
        path = tmp_path / "rules" / "p.yaml"
        path.write_text(path.read_text().replace("pack: p\n", "pack: p\ndescription: reloaded\n"))
        async with http.post(proxy.url + "/-/reload") as r:
            assert r.status == 200
        assert (await send(http, proxy))[0] == 429  # still the same minute's budget
