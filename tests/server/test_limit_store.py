"""Limits shared through Redis (switchyard/server/limit_store.py): two `serve` processes, one real Redis."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import aiohttp
from fakes.pool_provider import PoolProvider
from proxy_process import ROOT, free_port, write_pack
from server_kit import metric, post_json

HI = {"model": "p", "messages": [{"role": "user", "content": "hi"}]}


async def rules(tmp_path, aiohttp_server, limit: str):
    fake = PoolProvider(keys={"k"})
    url = (await aiohttp_server(fake.endpoint_app("a"))).make_url("/v1")
    write_pack(
        tmp_path / "rules",
        "p",
        f"""
        pack: p
        match: "model == 'p'"
        upstream: {{url: "{url}", protocol: chat, api_key: k}}
        limits: [{limit}]
        """,
    )
    return fake, tmp_path / "rules"


async def statuses(proxy, n: int) -> list[int]:
    async with aiohttp.ClientSession() as http:
        return [(await post_json(http, f"{proxy.base_url}/chat/completions", HI))[0] for _ in range(n)]


async def test_two_serve_processes_share_a_limit_through_redis(start_proxy, tmp_path, aiohttp_server, redis_server):
    fake, folder = await rules(tmp_path, aiohttp_server, "{per: pack, requests_per_minute: 3}")
    store = ("--rate-limit-store", redis_server.url)
    one, two = start_proxy(folder, args=store), start_proxy(folder, args=store)
    answered = await statuses(one, 2) + await statuses(two, 2) + await statuses(one, 1)
    assert answered == [200, 200, 200, 429, 429]  # three a minute for the pack, whichever process serves
    assert len(fake.calls) == 3


async def test_tokens_counted_by_one_process_limit_the_other(start_proxy, tmp_path, aiohttp_server, redis_server):
    _, folder = await rules(tmp_path, aiohttp_server, "{per: client, tokens_per_minute: 15}")
    store = ("--rate-limit-store", redis_server.url)
    one, two = start_proxy(folder, args=store), start_proxy(folder, args=store)
    assert await statuses(one, 2) == [200, 200]  # 10 tokens, then 20: over the budget
    await asyncio.sleep(0.2)  # the tokens are counted in Redis just after the answer went out
    assert await statuses(two, 1) == [429]


async def test_an_unreachable_store_stops_serve_at_start_up_with_a_message(tmp_path, aiohttp_server):
    _, folder = await rules(tmp_path, aiohttp_server, "{per: pack, requests_per_minute: 3}")
    url = f"redis://127.0.0.1:{free_port()}/0"
    result = subprocess.run(
        [sys.executable, "-m", "switchyard", "serve", "--rules", str(folder), "--port", str(free_port()),
         "--rate-limit-store", url],
        cwd=ROOT, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 2
    assert f"the rate-limit store {url} is unreachable" in result.stderr


async def test_when_redis_goes_away_open_admits_and_closed_answers_503(
    start_proxy, tmp_path, aiohttp_server, redis_server
):
    _, folder = await rules(tmp_path, aiohttp_server, "{per: pack, requests_per_minute: 100}")
    store = ("--rate-limit-store", redis_server.url)
    opened = start_proxy(folder, args=(*store, "--rate-limit-on-store-error", "open"))
    closed = start_proxy(folder, args=(*store, "--rate-limit-on-store-error", "closed"))
    assert await statuses(opened, 1) + await statuses(closed, 1) == [200, 200]
    redis_server.stop()
    assert await statuses(opened, 1) + await statuses(closed, 1) == [200, 503]
    async with aiohttp.ClientSession() as http, http.get(opened.url + "/metrics") as r:
        assert metric(await r.text(), "switchyard_rate_limit_store_errors_total") == 1
    assert "rate-limit store failed" in opened.log()
