"""Several keys and endpoints per pack (switchyard/server/pool.py), through a real `switchyard serve`.

The upstream is a pool fake (tests/fakes/pool_provider.py): one aiohttp app per endpoint, all recording
which endpoint and which key each call used, answering as scripted per key or per endpoint.
"""

from __future__ import annotations

import collections
import os
import subprocess
import sys

import aiohttp
import pytest
from fakes.pool_provider import PoolProvider
from proxy_process import write_pack
from server_kit import metric, post_json

from switchyard.language.loader import load_text
from switchyard.language.pack import compile_pack
from switchyard.server.pool import Pool, affinity_hash

HI = {"messages": [{"role": "user", "content": "hi"}]}


async def endpoints(aiohttp_server, fake: PoolProvider, *names: str) -> dict[str, str]:
    return {name: str((await aiohttp_server(fake.endpoint_app(name))).make_url("/v1")) for name in names}


def pool_pack(upstream: str, name: str = "p") -> str:
    return f"""
        pack: {name}
        match: "model == '{name}'"
        upstream:
          protocol: chat
          timeout: {{connect: 2, read: 5}}
        {upstream}
    """


async def call(http, proxy, body: dict, path: str = "/chat/completions", **kwargs):
    return await post_json(http, f"{proxy.base_url}{path}", body, **kwargs)


async def calls(proxy, n: int, model: str = "p", **extra) -> list[int]:
    async with aiohttp.ClientSession() as http:
        return [(await call(http, proxy, {"model": model, **HI, **extra}))[0] for _ in range(n)]


async def test_keys_of_a_pack_are_used_in_turn(start_proxy, tmp_path, aiohttp_server):
    fake = PoolProvider(keys={"k1", "k2", "k3"})
    url = (await endpoints(aiohttp_server, fake, "a"))["a"]
    write_pack(tmp_path / "rules", "p", pool_pack(f"  url: {url}\n          api_key: [k1, k2, k3]"))
    proxy = start_proxy(tmp_path / "rules")
    assert await calls(proxy, 6) == [200] * 6
    assert [key for _, key in fake.used()] == ["k1", "k2", "k3", "k1", "k2", "k3"]


async def test_keys_from_the_environment_in_a_flow_list_as_the_contract_writes_them(
    start_proxy, tmp_path, aiohttp_server
):
    fake = PoolProvider(keys={"sk-env-a", "sk-env-b"})
    url = (await endpoints(aiohttp_server, fake, "a"))["a"]
    write_pack(tmp_path / "rules", "p", pool_pack(f"  url: {url}\n          api_key: [${{KEY_A}}, ${{KEY_B}}]"))
    proxy = start_proxy(tmp_path / "rules", env={"KEY_A": "sk-env-a", "KEY_B": "sk-env-b"})
    assert await calls(proxy, 2) == [200, 200]
    assert [key for _, key in fake.used()] == ["sk-env-a", "sk-env-b"]
    assert "sk-env-a" not in proxy.log() and "sk-env-b" not in proxy.log()


async def test_a_key_answered_429_rests_and_no_client_call_fails(start_proxy, tmp_path, aiohttp_server):
    fake = PoolProvider(keys={"k1", "k2"}, key_status={"k1": (429, {"Retry-After": "30"})})
    url = (await endpoints(aiohttp_server, fake, "a"))["a"]
    write_pack(tmp_path / "rules", "p", pool_pack(f"  url: {url}\n          api_key: [k1, k2]"))
    proxy = start_proxy(tmp_path / "rules")
    assert await calls(proxy, 6) == [200] * 6  # retries: 0, yet the 429 was retried with the other key
    assert [key for _, key in fake.used()] == ["k1", "k2", "k2", "k2", "k2", "k2", "k2"]
    async with aiohttp.ClientSession() as http, http.get(proxy.url + "/metrics") as r:
        text = await r.text()
    assert metric(text, "switchyard_upstream_rests_total", pack="p", endpoint="0", key="0") == 1
    assert metric(text, "switchyard_upstream_calls_total", pack="p", endpoint="0", key="1") == 6
    assert "k1" not in text.replace("pack", "")  # indexes only, never a key
    assert "retried=p:429" in proxy.log() and " key=1" in proxy.log()


async def test_a_key_answered_401_rests_and_the_retry_uses_another(start_proxy, tmp_path, aiohttp_server):
    fake = PoolProvider(keys={"good"})
    url = (await endpoints(aiohttp_server, fake, "a"))["a"]
    write_pack(tmp_path / "rules", "p", pool_pack(f"  url: {url}\n          api_key: [revoked, good]"))
    proxy = start_proxy(tmp_path / "rules")
    assert await calls(proxy, 3) == [200] * 3
    assert [key for _, key in fake.used()] == ["revoked", "good", "good", "good"]


async def test_a_3_to_1_weight_splits_60_calls_within_bounds(start_proxy, tmp_path, aiohttp_server):
    fake = PoolProvider(keys={"k"})
    urls = await endpoints(aiohttp_server, fake, "a", "b")
    eps = f"""  api_key: k
          endpoints:
            - {{url: "{urls["a"]}", weight: 3}}
            - {{url: "{urls["b"]}", weight: 1}}"""
    write_pack(tmp_path / "rules", "p", pool_pack(eps))
    proxy = start_proxy(tmp_path / "rules")
    assert await calls(proxy, 60) == [200] * 60
    split = collections.Counter(endpoint for endpoint, _ in fake.used())
    assert 40 <= split["a"] <= 50 and split["a"] + split["b"] == 60, split


async def test_an_endpoint_with_keys_of_its_own_uses_them(start_proxy, tmp_path, aiohttp_server):
    fake = PoolProvider(keys={"pack-key", "a-key"})
    urls = await endpoints(aiohttp_server, fake, "a", "b")
    eps = f"""  api_key: pack-key
          endpoints:
            - {{url: "{urls["a"]}", api_key: a-key}}
            - {{url: "{urls["b"]}"}}"""
    write_pack(tmp_path / "rules", "p", pool_pack(eps))
    proxy = start_proxy(tmp_path / "rules")
    assert await calls(proxy, 4) == [200] * 4
    assert sorted(set(fake.used())) == [("a", "a-key"), ("b", "pack-key")]


async def test_four_conversations_by_prompt_cache_key_each_stay_on_one_endpoint_and_key(
    start_proxy, tmp_path, aiohttp_server
):
    fake = PoolProvider(keys={"k1", "k2"})
    urls = await endpoints(aiohttp_server, fake, "a", "b")
    eps = f"""  api_key: [k1, k2]
          endpoints:
            - {{url: "{urls["a"]}"}}
            - {{url: "{urls["b"]}"}}
          affinity: "prompt_cache_key || metadata.user_id"
          rest: {{after: 1, for: 60}}"""
    write_pack(tmp_path / "rules", "p", pool_pack(eps))
    proxy = start_proxy(tmp_path / "rules")
    conversations = [f"conversation-{i}" for i in range(4)]
    async with aiohttp.ClientSession() as http:
        for _ in range(5):
            for conversation in conversations:
                body = {"model": "p", **HI, "prompt_cache_key": conversation}
                assert (await call(http, proxy, body))[0] == 200
    where = collections.defaultdict(set)
    for c in fake.calls:
        where[c.body["prompt_cache_key"]].add((c.endpoint, c.key))
    assert all(len(places) == 1 for places in where.values()), where
    # An endpoint that rests moves its own conversations only.
    before = {conversation: next(iter(places)) for conversation, places in where.items()}
    resting = before["conversation-0"][0]
    fake.endpoint_status[resting] = (503, {})
    fake.calls.clear()
    async with aiohttp.ClientSession() as http:
        for conversation in conversations:
            await call(http, proxy, {"model": "p", **HI, "prompt_cache_key": conversation})
        fake.calls.clear()
        for conversation in conversations:
            assert (await call(http, proxy, {"model": "p", **HI, "prompt_cache_key": conversation}))[0] == 200
    after = {c.body["prompt_cache_key"]: (c.endpoint, c.key) for c in fake.calls}
    for conversation, place in before.items():
        if place[0] != resting:
            assert after[conversation] == place  # untouched
        else:
            assert after[conversation][0] != resting


async def test_a_request_without_an_affinity_value_goes_by_weight(start_proxy, tmp_path, aiohttp_server):
    fake = PoolProvider(keys={"k"})
    urls = await endpoints(aiohttp_server, fake, "a", "b")
    eps = f"""  api_key: k
          endpoints: [{{url: "{urls["a"]}"}}, {{url: "{urls["b"]}"}}]
          affinity: prompt_cache_key"""
    write_pack(tmp_path / "rules", "p", pool_pack(eps))
    proxy = start_proxy(tmp_path / "rules")
    assert await calls(proxy, 4) == [200] * 4
    assert [endpoint for endpoint, _ in fake.used()] == ["a", "b", "a", "b"]


async def test_an_endpoint_answering_503_rests_after_rest_after_failures(start_proxy, tmp_path, aiohttp_server):
    fake = PoolProvider(keys={"k"}, endpoint_status={"a": (503, {})})
    urls = await endpoints(aiohttp_server, fake, "a", "b")
    eps = f"""  api_key: k
          endpoints: [{{url: "{urls["a"]}"}}, {{url: "{urls["b"]}"}}]
          rest: {{after: 2, for: 60}}"""
    write_pack(tmp_path / "rules", "p", pool_pack(eps))
    proxy = start_proxy(tmp_path / "rules")
    statuses = await calls(proxy, 10)
    assert statuses == [503, 200, 503] + [200] * 7  # retries: 0, so the two failures reach their clients
    assert [endpoint for endpoint, _ in fake.used()] == ["a", "b", "a"] + ["b"] * 7
    async with aiohttp.ClientSession() as http, http.get(proxy.url + "/-/rules") as r:
        [pack] = (await r.json())["packs"]
    a, b = pack["upstream"]["endpoints"]
    assert (a["state"], b["state"]) == ("resting", "ok") and 55 < a["resting_for"] <= 60
    assert a["keys"] == [{"index": 0, "state": "ok"}] and "k" not in str(a["url"]).split("/")[-1]


async def test_with_retries_a_failing_endpoint_is_retried_on_the_other(start_proxy, tmp_path, aiohttp_server):
    fake = PoolProvider(keys={"k"}, endpoint_status={"a": (502, {})})
    urls = await endpoints(aiohttp_server, fake, "a", "b")
    eps = f"""  api_key: k
          retries: 1
          endpoints: [{{url: "{urls["a"]}"}}, {{url: "{urls["b"]}"}}]"""
    write_pack(tmp_path / "rules", "p", pool_pack(eps))
    proxy = start_proxy(tmp_path / "rules")
    assert await calls(proxy, 4) == [200] * 4
    assert [endpoint for endpoint, _ in fake.used()][:3] == ["a", "b", "b"]


@pytest.mark.parametrize("client", ["chat", "messages"])
async def test_when_everything_rests_the_client_gets_503_with_retry_after_in_its_protocol(
    start_proxy, tmp_path, aiohttp_server, client
):
    fake = PoolProvider(keys={"k"}, key_status={"k": (429, {"Retry-After": "40"})})
    url = (await endpoints(aiohttp_server, fake, "a"))["a"]
    write_pack(tmp_path / "rules", "p", pool_pack(f"  url: {url}\n          api_key: k\n          rest: {{after: 3}}"))
    proxy = start_proxy(tmp_path / "rules")
    path, body = ("/chat/completions", {"model": "p", **HI})
    if client == "messages":
        path, body = "/messages", {"model": "p", "max_tokens": 16, **HI}
    async with aiohttp.ClientSession() as http:
        first, _, _ = await call(http, proxy, body, path)
        status, headers, answer = await call(http, proxy, body, path)
    assert (first, status, len(fake.calls)) == (429, 503, 1)  # the provider's 429, then the pack's own 503
    assert 38 <= int(headers["Retry-After"]) <= 40
    if client == "messages":
        assert answer["type"] == "error" and "resting" in answer["error"]["message"]
    else:
        assert answer["error"]["code"] == "upstream_resting"


async def test_when_everything_rests_the_fallback_answers(start_proxy, tmp_path, aiohttp_server):
    fake = PoolProvider(keys={"k", "spare"}, key_status={"k": (401, {})})
    url = (await endpoints(aiohttp_server, fake, "a"))["a"]
    pack = pool_pack(f"  url: {url}\n          api_key: k\n          rest: {{for: 60}}")
    write_pack(tmp_path / "rules", "p", pack + "    fallback: [{pack: spare}]\n")
    write_pack(tmp_path / "rules", "spare", pool_pack(f"  url: {url}\n          api_key: spare", "spare"))
    proxy = start_proxy(tmp_path / "rules")
    # A 401 is no failure another call fixes, so its client hears it; but the key now rests, and while
    # it does the requests go to the fallback instead.
    assert await calls(proxy, 3) == [401, 200, 200]
    assert [key for _, key in fake.used()] == ["k", "spare", "spare"]


async def test_a_reload_keeps_the_state_of_a_pack_whose_upstream_did_not_change(start_proxy, tmp_path, aiohttp_server):
    fake = PoolProvider(keys={"k1", "k2"}, key_status={"k1": (429, {})})
    url = (await endpoints(aiohttp_server, fake, "a"))["a"]
    rules = tmp_path / "rules"
    text = pool_pack(f"  url: {url}\n          api_key: [k1, k2]\n          rest: {{for: 120}}")
    write_pack(rules, "p", text)
    proxy = start_proxy(rules)
    assert await calls(proxy, 2) == [200, 200]
    write_pack(rules, "p", text.replace("match:", "description: changed\n        match:"))
    async with aiohttp.ClientSession() as http, http.post(proxy.url + "/-/reload") as r:
        assert r.status == 200
    fake.calls.clear()
    assert await calls(proxy, 3) == [200] * 3
    assert [key for _, key in fake.used()] == ["k2", "k2", "k2"]  # k1 still rests


# -- the choice itself, on a Pool with a clock the test moves


def compiled_pool(upstream: str, clock) -> Pool:
    doc, problems = load_text(f'pack: p\nmatch: "`true`"\nupstream:\n  protocol: chat\n{upstream}', "p.yaml")
    assert doc is not None, problems
    pack, problems = compile_pack(doc, env={})
    assert pack is not None, [str(p) for p in problems]
    return Pool(pack.name, pack.upstream, clock=clock)


THREE = """\
  api_key: [k1, k2]
  endpoints: [{url: "https://a.example/v1", weight: 2}, {url: "https://b.example/v1"}, {url: "https://c.example/v1"}]
  rest: {after: 1, for: 30}
"""


def test_rendezvous_moves_only_the_conversations_of_a_resting_endpoint_and_brings_them_back() -> None:
    now = [1000.0]
    pool = compiled_pool(THREE, lambda: now[0])
    keys = [f"conversation-{i}" for i in range(300)]
    before = {k: (p.endpoint, p.key) for k in keys for p in [pool.pick(k)]}
    shares = collections.Counter(endpoint for endpoint, _ in before.values())
    assert 120 <= shares[0] <= 180 and shares[1] > 50 and shares[2] > 50, shares  # weights 2:1:1
    pool.answered(pool.picks[1][0], 503)  # endpoint 1 fails once: with after 1, it rests
    during = {k: (p.endpoint, p.key) for k in keys for p in [pool.pick(k)]}
    for k in keys:
        if before[k][0] == 1:
            assert during[k][0] != 1
        else:
            assert during[k] == before[k]
    now[0] += 31
    assert {k: (p.endpoint, p.key) for k in keys for p in [pool.pick(k)]} == before


def test_the_affinity_hash_is_the_same_in_another_process() -> None:
    # Python's own hash of a string changes with every process; the pool's must not, or two workers (or
    # two replicas) would send one conversation to two endpoints.
    code = (
        "from switchyard.server.pool import affinity_hash\n"
        "print([affinity_hash(f'conversation-{i}', 12) for i in range(5)])"
    )
    seen = {
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": seed}
        ).stdout
        for seed in ("1", "2")
    }
    assert len(seen) == 1 and seen != {""}
    assert seen == {str([affinity_hash(f"conversation-{i}", 12) for i in range(5)]) + "\n"}


def test_a_retry_after_decides_how_long_a_key_rests_and_all_resting_says_when_one_is_back() -> None:
    now = [0.0]
    pool = compiled_pool('  url: "https://a.example/v1"\n  api_key: [k1, k2]\n', lambda: now[0])
    pool.answered(pool.picks[0][0], 429, "7")
    pool.answered(pool.picks[0][1], 401)  # no Retry-After: rest.for, 30 s by default
    assert pool.pick() is None and pool.retry_after() == 7
    now[0] = 7.5
    assert (pool.pick().key, pool.pick().key) == (0, 0)


def test_one_endpoint_and_one_key_without_rest_is_not_pooled() -> None:
    pool = compiled_pool('  url: "https://a.example/v1"\n  api_key: k\n', lambda: 0.0)
    for _ in range(5):
        pool.answered(pool.first, 503)
    assert not pool.active and pool.pick() is pool.first and pool.first.upstream is pool.upstream
