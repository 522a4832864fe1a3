"""Hot reload through the real process: SIGHUP, `POST /-/reload` and `--watch` swap all packs or none.

Each test starts its own `switchyard serve` (the rules folder is what it changes), with one pack
whose `models:` tell from outside which version of the file is in force.
"""

from __future__ import annotations

import asyncio
import re

import orjson
import pytest
from fakes.chat_provider import FakeChatProvider, chunk
from proxy_process import write_pack
from server_kit import (
    PROBLEM,
    assert_healthy,
    get_metrics,
    hi,
    metric,
    sse_data,
    wait_for,
)

TRIGGERS = ["SIGHUP", "POST /-/reload", "--watch"]


def pack(models: str, url: str = "http://127.0.0.1:9/v1", rename_to: str = "reasoning_content") -> str:
    return f"""
        pack: alpha
        match: "starts_with(model, 'alpha')"
        models: [{models}]
        upstream:
          url: {url}
          protocol: chat
        response:
          - rename: {{"choices[].delta.reasoning": {rename_to}}}
        """


# Two problems in one file: a reload reports every problem, each at its FILE:LINE:COLUMN.
BROKEN = """
    pack: alpha
    match: "starts_with(model, 'alpha')"
    upstream:
      url: http://127.0.0.1:9/v1
      protocol: chat
    response:
      - renam: {a: b}
    tets: []
    """


async def models(http, proxy) -> list[str]:
    async with http.get(f"{proxy.base_url}/models") as r:
        return [m["id"] for m in (await r.json())["data"]]


async def rules_status(http, proxy) -> dict:
    async with http.get(proxy.url + "/-/rules") as r:
        return await r.json()


async def trigger(how: str, http, proxy) -> None:
    if how == "SIGHUP":
        proxy.signal()
    elif how == "POST /-/reload":
        async with http.post(proxy.url + "/-/reload") as r:
            await r.read()
    # --watch: changing the file was the trigger


def start(start_proxy, rules, how: str):
    return start_proxy(rules, args=("--watch",) if how == "--watch" else ())


@pytest.mark.parametrize("how", TRIGGERS)
async def test_a_reload_swaps_the_packs_when_every_file_is_valid(start_proxy, tmp_path, http, how):
    rules = tmp_path / "rules"
    write_pack(rules, "alpha", pack("alpha-1"))
    proxy = start(start_proxy, rules, how)
    assert await models(http, proxy) == ["alpha-1"]

    write_pack(rules, "alpha", pack("alpha-2, alpha-3"))  # a different size too: --watch compares mtime and size
    write_pack(rules, "beta", pack("beta-1").replace("pack: alpha", "pack: beta"))
    await trigger(how, http, proxy)

    # SIGHUP and --watch are asynchronous: wait for the effect rather than for a fixed time.
    await wait_for(lambda: _has(http, proxy, "beta-1"))
    assert sorted(await models(http, proxy)) == ["alpha-2", "alpha-3", "beta-1"]
    metrics = await get_metrics(http, proxy)
    assert metric(metrics, "switchyard_reloads_total", result="success") == 1
    assert metric(metrics, "switchyard_reloads_total", result="failure") == 0
    assert metric(metrics, "switchyard_packs_loaded") == 2
    assert metric(metrics, "switchyard_last_reload_success") == 1
    # The log names what changed, with the old and new content hashes.
    [reloaded] = [line for line in proxy.log().splitlines() if "reload (" in line]
    assert re.search(r"alpha [0-9a-f]{12} -> [0-9a-f]{12}; added beta [0-9a-f]{12}", reloaded), reloaded


async def _has(http, proxy, model: str) -> bool:
    return model in await models(http, proxy)


@pytest.mark.parametrize("how", TRIGGERS)
async def test_a_reload_with_a_broken_file_keeps_the_running_packs_and_reports_the_problems(
    start_proxy, tmp_path, http, how
):
    rules = tmp_path / "rules"
    write_pack(rules, "alpha", pack("alpha-1"))
    write_pack(rules, "beta", pack("beta-1").replace("pack: alpha", "pack: beta"))
    proxy = start(start_proxy, rules, how)
    hash_before = {p["name"]: p["hash"] for p in (await rules_status(http, proxy))["packs"]}

    write_pack(rules, "beta", pack("beta-2").replace("pack: alpha", "pack: beta"))  # valid, but must not go in
    broken = write_pack(rules, "alpha", BROKEN)
    await trigger(how, http, proxy)

    status = await wait_for(lambda: _failed(http, proxy))
    problems = status["last_reload"]["problems"]
    assert len(problems) == 2
    for problem in problems:
        found = PROBLEM.match(problem)
        assert found and found["file"].endswith(broken.name), problem
    assert any("renam" in p for p in problems) and any("tets" in p for p in problems)
    # Every pack stays as it was, the valid file's new version included: all packs or none.
    assert {p["name"]: p["hash"] for p in status["packs"]} == hash_before
    assert sorted(await models(http, proxy)) == ["alpha-1", "beta-1"]
    metrics = await get_metrics(http, proxy)
    assert metric(metrics, "switchyard_reloads_total", result="failure") == 1
    assert metric(metrics, "switchyard_last_reload_success") == 0
    assert metric(metrics, "switchyard_reloads_total", result="success") == 0
    await wait_for(lambda: all(p in proxy.log() for p in problems))  # logged too
    await assert_healthy(http, proxy)


async def _failed(http, proxy) -> dict | None:
    status = await rules_status(http, proxy)
    return status if status["last_reload"]["ok"] is False else None


async def test_post_reload_answers_with_the_outcome(start_proxy, tmp_path, http):
    rules = tmp_path / "rules"
    write_pack(rules, "alpha", pack("alpha-1"))
    proxy = start_proxy(rules)

    async with http.post(proxy.url + "/-/reload") as r:
        assert (r.status, await r.json()) == (200, {"ok": True, "packs": 1, "problems": []})
    write_pack(rules, "alpha", BROKEN)
    async with http.post(proxy.url + "/-/reload") as r:
        assert r.status == 422
        body = await r.json()
    assert body["ok"] is False and body["packs"] == 1 and len(body["problems"]) == 2


async def test_a_reload_after_a_failed_one_clears_the_reported_problems(start_proxy, tmp_path, http):
    rules = tmp_path / "rules"
    write_pack(rules, "alpha", pack("alpha-1"))
    proxy = start_proxy(rules)
    write_pack(rules, "alpha", BROKEN)
    async with http.post(proxy.url + "/-/reload") as r:
        assert r.status == 422

    write_pack(rules, "alpha", pack("alpha-2"))
    async with http.post(proxy.url + "/-/reload") as r:
        assert r.status == 200

    last = (await rules_status(http, proxy))["last_reload"]
    assert (last["ok"], last["problems"]) == (True, [])
    assert await models(http, proxy) == ["alpha-2"]


async def test_a_stream_keeps_the_pack_it_started_with_across_a_reload(start_proxy, tmp_path, http, aiohttp_server):
    fake = FakeChatProvider()
    server = await aiohttp_server(fake.app)
    url = str(server.make_url("/v1"))
    rules = tmp_path / "rules"
    write_pack(rules, "alpha", pack("alpha-1", url))
    proxy = start_proxy(rules)

    reasoning = [chunk({"role": "assistant"})] + [chunk({"reasoning": f"r{i}"}) for i in range(4)]
    release = asyncio.Event()
    fake.reply_stream([*reasoning, chunk({}, "stop")], hold=(3, release))  # held after two reasoning events
    fake.reply_stream([*reasoning, chunk({}, "stop")])
    body = {"model": "alpha-1", **hi(stream=True)}
    try:
        async with http.post(f"{proxy.base_url}/chat/completions", json=body) as first:
            head = b"".join([await first.content.readuntil(b"\n\n") for _ in range(3)])

            # Reload to a pack that renames the same field to something else, while the stream is held.
            old_hash = (await rules_status(http, proxy))["packs"][0]["hash"]
            write_pack(rules, "alpha", pack("alpha-1", url, rename_to="thinking"))
            proxy.signal()
            await wait_for(lambda: _hash_changed(http, proxy, old_hash))

            # A new request gets the new pack ...
            async with http.post(f"{proxy.base_url}/chat/completions", json=body) as second:
                new = [orjson.loads(d) for d in sse_data(await second.text())[:-1]]
            assert [e["choices"][0]["delta"].get("thinking") for e in new[1:5]] == ["r0", "r1", "r2", "r3"]

            # ... while the one in flight keeps the old pack to its last event.
            release.set()
            rest = await first.read()
    finally:
        release.set()  # never leave the fake's handler waiting, even when an assertion failed

    data = sse_data((head + rest).decode())
    assert data[-1] == "[DONE]"
    deltas = [orjson.loads(d)["choices"][0]["delta"] for d in data[:-1]]
    assert [d.get("reasoning_content") for d in deltas[1:5]] == ["r0", "r1", "r2", "r3"]
    assert not any("thinking" in d or "reasoning" in d for d in deltas)


async def _hash_changed(http, proxy, old: str) -> bool:
    return (await rules_status(http, proxy))["packs"][0]["hash"] != old


def test_an_invalid_pack_at_start_up_is_fatal_with_every_problem(start_proxy, tmp_path):
    rules = tmp_path / "rules"
    write_pack(rules, "alpha", pack("alpha-1"))
    broken = write_pack(rules, "broken", BROKEN.replace("pack: alpha", "pack: broken"))

    proxy = start_proxy(rules, wait=False)
    assert proxy.proc.wait(timeout=15) == 1

    output = proxy.log()
    problems = [m for m in PROBLEM.finditer(output)]
    assert len(problems) == 2
    assert all(m["file"].endswith(broken.name) for m in problems)
    assert re.search(r"2 problem\(s\) in .*; not starting", output)
    assert "Traceback" not in output


async def test_with_partial_a_broken_file_is_left_out_and_the_others_serve(start_proxy, tmp_path, http):
    rules = tmp_path / "rules"
    write_pack(rules, "alpha", pack("alpha-1"))
    write_pack(
        rules, "broken", pack("beta-1").replace("pack: alpha", "pack: beta").replace("protocol: chat", "protocol: ftp")
    )
    proxy = start_proxy(rules, args=("--partial",))
    assert await models(http, proxy) == ["alpha-1"]
    async with http.get(proxy.url + "/readyz") as r:
        ready = await r.json()
    assert r.status == 200 and ready["left_out"][0]["file"].endswith("broken.yaml")
    assert "'ftp' is not one of chat, responses" in ready["left_out"][0]["problems"][0]
    assert (await rules_status(http, proxy))["left_out"] == ready["left_out"]
    assert metric(await get_metrics(http, proxy), "switchyard_packs_left_out") == 1
    assert "left out (--partial)" in proxy.log()

    write_pack(rules, "broken", pack("beta-1").replace("pack: alpha", "pack: beta").replace("alpha'", "beta'"))
    async with http.post(proxy.url + "/-/reload") as r:
        assert r.status == 200
    assert sorted(await models(http, proxy)) == ["alpha-1", "beta-1"]
    assert metric(await get_metrics(http, proxy), "switchyard_packs_left_out") == 0
