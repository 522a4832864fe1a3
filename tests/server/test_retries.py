"""Retries and fallbacks (switchyard/server/attempts.py) through a real `switchyard serve`.

Each test scripts a small aiohttp upstream that fails on cue and counts its calls. The rule under
test: a call is made again only while nothing has reached the client; then the pack's fallbacks,
each through its own bridge and steps, with the model the entry names.
"""

from __future__ import annotations

import time

import aiohttp
import orjson
import pytest
from aiohttp import web
from fakes.responses_provider import FakeResponsesProvider
from proxy_process import free_port, write_pack
from server_kit import post_json

HI = {"messages": [{"role": "user", "content": "hi"}]}


def completion(text: str) -> dict:
    message = {"role": "assistant", "content": text}
    return {"id": "c", "object": "chat.completion", "created": 0, "model": "m",
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}  # fmt: skip


def chunk(delta: dict, finish: str | None = None) -> bytes:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return b"data: " + orjson.dumps({"id": "c", "object": "chat.completion.chunk", "choices": [choice]}) + b"\n\n"


class Scripted:
    """An upstream answering each call with the next scripted reply; `calls` counts them."""

    def __init__(self, *replies):
        self.replies = list(replies)
        self.calls = 0
        self.bodies: list[dict] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.calls += 1
        self.bodies.append(orjson.loads(await request.read()))
        reply = self.replies.pop(0)
        if isinstance(reply, tuple):  # (status, headers)
            status, headers = reply
            return web.json_response({"error": {"message": f"busy ({status})", "type": "server_error"}},
                                     status=status, headers=headers)  # fmt: skip
        if isinstance(reply, list):  # SSE frames; the connection is cut after them unless they end in [DONE]
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await response.prepare(request)
            for frame in reply:
                await response.write(frame)
            if not reply or not reply[-1].startswith(b"data: [DONE]"):
                request.transport.close()
            return response
        return web.json_response(reply)


async def upstream(aiohttp_server, scripted: Scripted) -> str:
    app = web.Application()
    app.router.add_post("/v1/chat/completions", scripted.handle)
    return str((await aiohttp_server(app)).make_url("/v1"))


def chat_pack(name: str, url: str, retries: int = 0, fallback: str = "", priority: int = 0) -> str:
    return f"""
        pack: {name}
        priority: {priority}
        match: "model == '{name}'"
        upstream: {{url: "{url}", protocol: chat, retries: {retries}, timeout: {{connect: 2, read: 5}}}}
        {fallback}
    """


async def serve(start_proxy, tmp_path, **packs: str):
    for name, text in packs.items():
        write_pack(tmp_path / "rules", name, text)
    return start_proxy(tmp_path / "rules")


async def test_a_503_is_retried_and_the_client_sees_only_the_success(start_proxy, tmp_path, aiohttp_server):
    scripted = Scripted((503, {}), (503, {}), completion("third time"))
    proxy = await serve(start_proxy, tmp_path, a=chat_pack("a", await upstream(aiohttp_server, scripted), retries=2))
    async with aiohttp.ClientSession() as http:
        status, headers, body = await post_json(http, f"{proxy.base_url}/chat/completions", {"model": "a", **HI})
    assert (status, body["choices"][0]["message"]["content"], scripted.calls) == (200, "third time", 3)
    assert headers["X-Switchyard-Pack"] == "a"
    assert 'retried="a:503 a:503"' in proxy.log()


async def test_retries_spent_answer_with_the_last_failure(start_proxy, tmp_path, aiohttp_server):
    scripted = Scripted((503, {}), (502, {}))
    proxy = await serve(start_proxy, tmp_path, a=chat_pack("a", await upstream(aiohttp_server, scripted), retries=1))
    async with aiohttp.ClientSession() as http:
        status, _, body = await post_json(http, f"{proxy.base_url}/chat/completions", {"model": "a", **HI})
    assert (status, body["error"]["message"], scripted.calls) == (502, "busy (502)", 2)


@pytest.mark.parametrize("status", [400, 401, 404, 422, 500])
async def test_a_failure_another_call_would_not_fix_is_not_retried(start_proxy, tmp_path, aiohttp_server, status):
    scripted = Scripted((status, {}), completion("never"))
    proxy = await serve(start_proxy, tmp_path, a=chat_pack("a", await upstream(aiohttp_server, scripted), retries=3))
    async with aiohttp.ClientSession() as http:
        answered, _, _ = await post_json(http, f"{proxy.base_url}/chat/completions", {"model": "a", **HI})
    assert (answered, scripted.calls) == (status, 1)


async def test_a_retry_after_longer_than_a_retry_is_worth_gives_the_pack_up_at_once(
    start_proxy, tmp_path, aiohttp_server
):
    scripted = Scripted((429, {"Retry-After": "120"}), completion("too late"))
    proxy = await serve(start_proxy, tmp_path, a=chat_pack("a", await upstream(aiohttp_server, scripted), retries=2))
    started = time.monotonic()
    async with aiohttp.ClientSession() as http:
        status, _, _ = await post_json(http, f"{proxy.base_url}/chat/completions", {"model": "a", **HI})
    assert (status, scripted.calls) == (429, 1)
    assert time.monotonic() - started < 60  # not waited for


async def test_a_short_retry_after_is_honoured(start_proxy, tmp_path, aiohttp_server):
    scripted = Scripted((429, {"Retry-After": "0"}), completion("after the pause"))
    proxy = await serve(start_proxy, tmp_path, a=chat_pack("a", await upstream(aiohttp_server, scripted), retries=1))
    async with aiohttp.ClientSession() as http:
        status, _, _ = await post_json(http, f"{proxy.base_url}/chat/completions", {"model": "a", **HI})
    assert (status, scripted.calls) == (200, 2)


async def test_a_stream_cut_before_its_first_event_is_retried(start_proxy, tmp_path, aiohttp_server):
    whole = [chunk({"role": "assistant", "content": "Hello"}), chunk({}, "stop"), b"data: [DONE]\n\n"]
    scripted = Scripted([], whole)
    proxy = await serve(start_proxy, tmp_path, a=chat_pack("a", await upstream(aiohttp_server, scripted), retries=1))
    body = {"model": "a", **HI, "stream": True}
    async with aiohttp.ClientSession() as http, http.post(f"{proxy.base_url}/chat/completions", json=body) as r:
        text = (await r.read()).decode()
    assert r.status == 200 and scripted.calls == 2
    assert '"content":"Hello"' in text and text.endswith("data: [DONE]\n\n") and '"error"' not in text


async def test_a_stream_cut_after_its_first_event_is_not_retried_the_client_sees_the_error(
    start_proxy, tmp_path, aiohttp_server
):
    scripted = Scripted([chunk({"role": "assistant", "content": "Hel"})], [chunk({"content": "never"})])
    proxy = await serve(start_proxy, tmp_path, a=chat_pack("a", await upstream(aiohttp_server, scripted), retries=3))
    body = {"model": "a", **HI, "stream": True}
    async with aiohttp.ClientSession() as http, http.post(f"{proxy.base_url}/chat/completions", json=body) as r:
        text = (await r.read()).decode()
    assert scripted.calls == 1
    assert '"content":"Hel"' in text and '"error"' in text and "never" not in text


async def test_a_fallback_gets_the_clients_request_with_its_model_through_its_own_bridge(
    start_proxy, tmp_path, aiohttp_server
):
    responses = FakeResponsesProvider()
    server = await aiohttp_server(responses.app)
    fallback = "fallback:\n          - {pack: backup, model: gpt-backup}"
    proxy = await serve(
        start_proxy,
        tmp_path,
        a=chat_pack("a", f"http://127.0.0.1:{free_port()}/v1", retries=1, fallback=fallback),
        backup=f"""
            pack: backup
            match: "`false`"
            upstream: {{url: "{server.make_url("/v1")}", protocol: responses}}
        """,
    )
    async with aiohttp.ClientSession() as http:
        status, headers, body = await post_json(http, f"{proxy.base_url}/chat/completions", {"model": "a", **HI})
    assert status == 200 and headers["X-Switchyard-Pack"] == "backup"
    assert body["object"] == "chat.completion"  # the Chat client got its own protocol back
    [request] = responses.requests
    assert request["body"]["model"] == "gpt-backup" and request["body"]["input"][0]["role"] == "user"
    assert 'retried="a:upstream_unreachable a:upstream_unreachable"' in proxy.log()
