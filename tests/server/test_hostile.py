"""Hostile input against a real `switchyard serve`: each case a failure found by a hostile run, now held.

- A body of tens of megabytes is parsed and stepped off the event loop, so other requests (even
  `/healthz`) are answered while it is worked on, not after.
- A body nested deeper than orjson writes (255 to 1,024 levels) is a 400 in the client's error shape,
  not a 500 with a traceback.
"""

from __future__ import annotations

import asyncio
import io
import json
import time
from pathlib import Path

import aiohttp
import orjson
import pytest
from aiohttp import web
from proxy_process import write_pack
from server_kit import assert_error_shape, post_json

# Steps whose cost grows with the body: filters and a sort over every message, in JMESPath's interpreter.
SLOW_PACK = """
    pack: slow-steps
    match: "`true`"
    upstream: {{url: "{url}", protocol: chat}}
    request:
      - compute: {{hits: "length(messages[?contains(content, 'needle')])"}}
      - compute: {{order: "length(sort_by(messages, &content))"}}
      - compute: {{more: "length(messages[?contains(content, 'other')])"}}
      - compute: {{by_role: "length(sort_by(messages, &role))"}}
      - compute: {{again: "length(sort_by(reverse(messages), &content))"}}
"""


async def test_a_huge_body_does_not_stall_other_requests_while_it_is_worked_on(start_proxy, tmp_path, aiohttp_server):
    arrived: list[float] = []

    async def upstream(request: web.Request) -> web.Response:
        arrived.append(time.monotonic())  # the big request's steps are done
        await request.read()
        return web.json_response({"error": {"message": "no", "type": "invalid_request_error"}}, status=400)

    app = web.Application(client_max_size=256 * 1024 * 1024)
    app.router.add_post("/v1/chat/completions", upstream)
    server = await aiohttp_server(app)
    write_pack(tmp_path / "rules", "slow", SLOW_PACK.format(url=server.make_url("/v1")))
    proxy = start_proxy(tmp_path / "rules", args=("--max-body", str(128 * 1024 * 1024)))
    messages = [{"role": "user", "content": f"message {i} " + "x" * 60} for i in range(300_000)]
    body = orjson.dumps({"model": "m", "messages": messages})  # 31 MB; the steps take seconds on it
    async with aiohttp.ClientSession() as http:
        big = asyncio.create_task(post_json(http, f"{proxy.base_url}/chat/completions", io.BytesIO(body)))
        await asyncio.sleep(1.0)  # the body is sent and being worked on
        async with http.get(proxy.url + "/healthz") as r:
            assert r.status == 200
        answered = time.monotonic()
        status, _, _ = await big
    assert status == 400 and len(arrived) == 1
    # The health check was answered well before the steps on the big body were done, not after them:
    # a loop busy with the steps could not have answered it before they ended.
    assert arrived[0] - answered > 0.5, arrived[0] - answered


async def test_a_body_nested_deeper_than_can_be_written_is_a_400(proxy, http, chat_upstream):
    nested: object = "leaf"
    for _ in range(300):
        nested = {"n": nested}
    body = {"model": "chat-small", "messages": [{"role": "user", "content": "hi"}], "metadata": nested}
    # orjson (which post_json uses) would refuse to write it too: the standard library writes it.
    status, _, answer = await post_json(http, f"{proxy.base_url}/chat/completions", json.dumps(body).encode())
    assert status == 400
    error = assert_error_shape(answer)
    assert (error["code"], error["message"]) == (
        "invalid_json",
        "request body is nested too deeply (at most 254 levels)",
    )
    assert chat_upstream.received == []


# -- misbehaving upstreams (a small aiohttp app per test, doing one wrong thing)


def peak_memory_mb(pid: int) -> float:
    """The process's peak resident memory (Linux `VmHWM`), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def pack_for(url: str, protocol: str = "chat") -> str:
    return f"""
        pack: bad-upstream
        match: "`true`"
        upstream: {{url: "{url}", protocol: {protocol}}}
    """


async def misbehaving(aiohttp_server, handler) -> str:
    app = web.Application()
    app.router.add_post("/v1/{path:.*}", handler)
    return str((await aiohttp_server(app)).make_url("/v1"))


async def test_a_huge_upstream_error_body_is_read_only_up_to_its_cap(start_proxy, tmp_path, aiohttp_server):
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=500, headers={"Content-Type": "text/html"})
        await response.prepare(request)
        for _ in range(50):  # 50 MB of an error page
            await response.write(b"<p>" + b"x" * (1024 * 1024 - 3))
        return response

    write_pack(tmp_path / "rules", "bad", pack_for(await misbehaving(aiohttp_server, handler)))
    proxy = start_proxy(tmp_path / "rules")
    peak_before = peak_memory_mb(proxy.proc.pid)
    async with aiohttp.ClientSession() as http:
        status, _, answer = await post_json(http, f"{proxy.base_url}/chat/completions", {"model": "m", "messages": []})
    assert status == 500
    message = assert_error_shape(answer)["message"]
    assert message.startswith("upstream answered 500: <p>xxx") and len(message) < 1000
    # The proxy's peak memory did not grow by the page's 50 MB: it read 64 KiB of it.
    assert peak_memory_mb(proxy.proc.pid) - peak_before < 20


async def test_an_upstream_line_over_the_decoders_bound_ends_the_stream_with_an_error_not_a_traceback(
    start_proxy, tmp_path, aiohttp_server
):
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b'data: {"choices": [{"index": 0, "delta": {"content": "')
        for _ in range(20):  # one line of 20 MB, never ended
            await response.write(b"y" * (1024 * 1024))
        return response

    write_pack(tmp_path / "rules", "bad", pack_for(await misbehaving(aiohttp_server, handler)))
    proxy = start_proxy(tmp_path / "rules")
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    async with aiohttp.ClientSession() as http, http.post(f"{proxy.base_url}/chat/completions", json=body) as r:
        assert r.status == 200
        text = (await r.read()).decode()
    chunks = [line[6:] for line in text.splitlines() if line.startswith("data: ")]
    assert chunks[-1] == "[DONE]" and "upstream stream broke" in orjson.loads(chunks[-2])["error"]["message"]
    assert "Traceback" not in proxy.log()


async def test_a_malformed_upstream_event_in_a_bridged_stream_fails_the_stream_instead_of_dropping_text(
    start_proxy, tmp_path, aiohttp_server
):
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        choice = {"index": 0, "delta": {"role": "assistant", "content": "Hel"}, "finish_reason": None}
        first = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m", "choices": [choice]}
        await response.write(b"data: " + orjson.dumps(first) + b"\n\n")
        await response.write(b'data: {"choices": [{"index": 0, "delta": {"content": "lo, wor\n\n')  # truncated JSON
        await response.write(b"data: [DONE]\n\n")
        return response

    write_pack(tmp_path / "rules", "bad", pack_for(await misbehaving(aiohttp_server, handler)))
    proxy = start_proxy(tmp_path / "rules")
    body = {"model": "m", "input": "hi", "stream": True}
    async with aiohttp.ClientSession() as http, http.post(f"{proxy.base_url}/responses", json=body) as r:
        assert r.status == 200
        text = (await r.read()).decode()
    events = [orjson.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]
    assert events[-1]["type"] == "response.failed"
    assert events[-1]["response"]["error"]["message"] == "the upstream sent an event that is not JSON"
    assert "response.completed" not in text


async def test_admin_endpoints_judge_the_peer_address_not_x_forwarded_for(proxy, http):
    # From loopback, a forwarded header must change nothing: neither grant nor deny.
    for forwarded in ("203.0.113.9", "127.0.0.1"):
        async with http.get(proxy.url + "/-/rules", headers={"X-Forwarded-For": forwarded}) as r:
            assert r.status == 200


@pytest.mark.parametrize("model", [None, True, ["qwen"], {"name": "qwen"}])
async def test_a_model_that_is_not_a_string_is_a_400_naming_model_not_a_404(proxy, http, model):
    body = {"messages": [{"role": "user", "content": "hi"}]}
    if model is not None:
        body["model"] = model
    status, _, answer = await post_json(http, f"{proxy.base_url}/chat/completions", body)
    error = assert_error_shape(answer)
    assert (status, error["param"], error["code"]) == (400, "model", "invalid_model")


@pytest.mark.parametrize(
    "raw",
    [b'{"model": "chat-small", "x": NaN}', b'{"model": "chat-small\\ud800"}', b'{"model": "\\xff\\xfe"}'],
    ids=["nan", "lone-surrogate", "invalid-utf8"],
)
async def test_json_that_is_not_json_is_a_400_in_the_clients_shape(proxy, http, raw):
    status, _, answer = await post_json(http, f"{proxy.base_url}/chat/completions", raw)
    assert status == 400 and assert_error_shape(answer)["code"] == "invalid_json"
