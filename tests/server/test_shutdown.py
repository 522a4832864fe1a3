"""SIGTERM drains (switchyard/server/lifecycle.py), through a real `switchyard serve` and a stream in flight.

/readyz turns 503 at once; the listener keeps accepting for --shutdown-delay; in-flight streams run
on for --grace and, if still running then, end with an error event in the client's protocol; the
process exits 0. Also: --admin-port, and flags from the environment.
"""

from __future__ import annotations

import asyncio
import signal

import aiohttp
import orjson
from fakes.chat_provider import chunk
from proxy_process import free_port, lenient_chat_upstream

BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}


async def rig(aiohttp_server, start_proxy, tmp_path, *args: str, env: dict | None = None):
    fake = await lenient_chat_upstream(aiohttp_server, tmp_path / "rules")
    return fake, start_proxy(tmp_path / "rules", args=args, env=env)


def data_lines(text: str) -> list:
    return [line[6:] for line in text.splitlines() if line.startswith("data: ")]


async def test_sigterm_turns_readyz_503_at_once_lets_a_stream_finish_and_exits_0(aiohttp_server, start_proxy, tmp_path):
    release = asyncio.Event()
    fake, proxy = await rig(aiohttp_server, start_proxy, tmp_path, "--shutdown-delay", "1", "--grace", "10")
    fake.reply_stream([chunk({"role": "assistant", "content": "Hel"}), chunk({"content": "lo"}), chunk({}, "stop")],
                      hold=(1, release))  # fmt: skip
    async with aiohttp.ClientSession() as http, http.post(f"{proxy.base_url}/chat/completions", json=BODY) as r:
        first = await r.content.readuntil(b"\n\n")  # the stream is in flight
        proxy.signal(signal.SIGTERM)
        await asyncio.sleep(0.3)
        async with http.get(proxy.url + "/readyz") as ready:
            assert ready.status == 503 and (await ready.json())["status"] == "draining"
        async with http.get(proxy.url + "/healthz") as alive:  # still accepting during the delay
            assert alive.status == 200
        release.set()
        rest = (await r.read()).decode()
    assert b"Hel" in first and '"content":"lo"' in rest and rest.endswith("data: [DONE]\n\n") and '"error"' not in rest
    assert await asyncio.to_thread(proxy.proc.wait, 20) == 0


async def test_a_stream_outliving_the_grace_ends_with_an_error_event_not_a_cut(aiohttp_server, start_proxy, tmp_path):
    never = asyncio.Event()
    fake, proxy = await rig(aiohttp_server, start_proxy, tmp_path, "--shutdown-delay", "0.2", "--grace", "1")
    fake.reply_stream([chunk({"role": "assistant", "content": "Hel"}), chunk({}, "stop")], hold=(1, never))
    async with aiohttp.ClientSession() as http, http.post(f"{proxy.base_url}/chat/completions", json=BODY) as r:
        await r.content.readuntil(b"\n\n")
        proxy.signal(signal.SIGTERM)
        text = (await r.read()).decode()  # the body ends properly: no broken chunked encoding
    events = data_lines(text)
    assert events[-1] == "[DONE]"
    assert "shutting down" in orjson.loads(events[-2])["error"]["message"]
    assert await asyncio.to_thread(proxy.proc.wait, 20) == 0
    assert "source=proxy" in proxy.log() and "ended by the shutdown" in proxy.log()
    never.set()


async def test_the_admin_port_serves_metrics_and_admin_and_the_main_port_does_not(
    aiohttp_server, start_proxy, tmp_path
):
    admin = free_port()
    _, proxy = await rig(aiohttp_server, start_proxy, tmp_path, "--admin-port", str(admin))
    admin_url = f"http://127.0.0.1:{admin}"
    async with aiohttp.ClientSession() as http:
        for url, path, status in [
            (admin_url, "/metrics", 200), (proxy.url, "/metrics", 404), (admin_url, "/-/rules", 200),
            (proxy.url, "/-/rules", 404), (admin_url, "/readyz", 200), (proxy.url, "/readyz", 200),
        ]:  # fmt: skip
            async with http.get(url + path) as r:
                assert r.status == status, (url, path)
        async with http.post(f"{admin_url}/v1/chat/completions", json=BODY) as r:
            assert r.status == 404


async def test_every_flag_can_come_from_the_environment_and_a_flag_wins(aiohttp_server, start_proxy, tmp_path):
    env = {"SWITCHYARD_LOG_FORMAT": "json", "SWITCHYARD_LOG_LEVEL": "error"}
    _, proxy = await rig(aiohttp_server, start_proxy, tmp_path, "--log-level", "info", env=env)
    assert proxy.log().splitlines()[0].startswith("{")  # JSON from the environment; info from the flag
    assert '"level":"info"' in proxy.log()


async def test_beyond_max_concurrency_a_request_gets_503_with_retry_after_at_once_and_readyz_says_saturated(
    aiohttp_server, start_proxy, tmp_path
):
    release = asyncio.Event()
    fake, proxy = await rig(aiohttp_server, start_proxy, tmp_path, "--max-concurrency", "1")
    fake.reply_stream([chunk({"role": "assistant", "content": "Hel"}), chunk({}, "stop")], hold=(1, release))
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{proxy.base_url}/chat/completions", json=BODY) as held:
            await held.content.readuntil(b"\n\n")  # one stream in flight: the limit
            async with http.post(f"{proxy.base_url}/chat/completions", json=BODY) as refused:
                assert refused.status == 503 and refused.headers["Retry-After"] == "1"
                assert (await refused.json())["error"]["code"] == "overloaded"
            async with http.get(proxy.url + "/readyz") as ready:
                assert ready.status == 503 and (await ready.json())["status"] == "saturated"
            release.set()
            await held.read()
        fake.reply_stream([chunk({"role": "assistant", "content": "again"}), chunk({}, "stop")])
        async with http.post(f"{proxy.base_url}/chat/completions", json=BODY) as r:  # the place is free again
            assert r.status == 200 and b"again" in await r.read()
        async with http.get(proxy.url + "/readyz") as ready:
            assert ready.status == 200
