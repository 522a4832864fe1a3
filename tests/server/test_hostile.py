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

import aiohttp
import orjson
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
