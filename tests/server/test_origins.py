"""switchyard/server/origins.py through a real `switchyard serve`: what a web page (cross-origin, a simple
request, DNS rebinding) can make a browser send is refused before any provider is called, in the route's
error shape; an allowed origin gets its CORS answers. (tests/server/test_browser.py drives a real browser.)"""

from __future__ import annotations

import aiohttp
import orjson
import pytest
from aiohttp import web
from proxy_process import free_port, write_pack
from server_kit import assert_error_shape

from switchyard.server.origins import normal_origin

BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
CHOICE = {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
COMPLETION = {"id": "c", "object": "chat.completion", "created": 0, "model": "m", "choices": [CHOICE]}
MESSAGES = {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
GEMINI = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


async def serving(start_proxy, tmp_path, aiohttp_server, *args):
    """A proxy with one pack sending everything to a provider that records each call it gets."""
    seen: list = []

    async def handle(request: web.Request) -> web.Response:
        seen.append(request.path)
        return web.json_response(COMPLETION)

    app = web.Application()
    app.router.add_route("*", "/{path:.*}", handle)
    url = (await aiohttp_server(app)).make_url("/v1")
    write_pack(tmp_path / "rules", "p", f'pack: p\nmatch: "`true`"\nupstream: {{url: "{url}", protocol: chat}}\n')
    return start_proxy(tmp_path / "rules", args=args), seen


async def post(http, url, body, **headers):
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    async with http.post(url, data=data, headers=headers) as r:
        return r.status, r.headers, orjson.loads(await r.read())


async def test_a_request_from_a_web_origin_is_refused_in_the_routes_error_shape(start_proxy, tmp_path, aiohttp_server):
    proxy, seen = await serving(start_proxy, tmp_path, aiohttp_server)
    origin = {"Origin": "https://evil.example", "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as http:
        status, _, body = await post(http, f"{proxy.base_url}/chat/completions", BODY, **origin)
        assert status == 403 and assert_error_shape(body)["code"] == "origin_not_allowed"
        assert "https://evil.example" in body["error"]["message"] and "--cors-origin" in body["error"]["message"]
        status, _, body = await post(http, f"{proxy.base_url}/messages", MESSAGES, **origin)
        assert status == 403 and body["type"] == "error" and body["error"]["type"] == "permission_error"
        async with http.get(proxy.url + "/-/rules", headers=origin) as r:
            assert r.status == 403
        status, _, _ = await post(
            http, f"{proxy.base_url}/chat/completions", BODY, **{"Content-Type": "application/json"}
        )
        assert status == 200  # the same request without a browser's Origin
    assert len(seen) == 1
    assert (
        "refused POST /v1/chat/completions with 403: requests from the web origin https://evil.example" in proxy.log()
    )


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "text/plain;charset=UTF-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        None,
    ],
)
async def test_a_body_not_declared_json_is_refused_415(start_proxy, tmp_path, aiohttp_server, content_type):
    proxy, seen = await serving(start_proxy, tmp_path, aiohttp_server)
    async with aiohttp.ClientSession(skip_auto_headers=["Content-Type"]) as http:
        headers = {"Content-Type": content_type} if content_type else {}
        status, _, body = await post(http, f"{proxy.base_url}/chat/completions", BODY, **headers)
        assert status == 415 and assert_error_shape(body)["code"] == "unsupported_media_type"
        assert "application/json" in body["error"]["message"]
        status, _, body = await post(http, f"{proxy.base_url}/messages", MESSAGES, **headers)
        assert status == 415 and body["error"]["type"] == "invalid_request_error"
        # a route that names its model in the path (Gemini's), in Google's error shape
        status, _, body = await post(http, f"{proxy.url}/v1beta/models/m:generateContent", GEMINI, **headers)
        assert status == 415 and body["error"]["status"] == "INVALID_ARGUMENT"
    assert seen == []


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8", "Application/JSON"])
async def test_a_body_declared_json_as_the_sdks_and_clis_declare_it_is_served(
    start_proxy, tmp_path, aiohttp_server, content_type
):
    proxy, seen = await serving(start_proxy, tmp_path, aiohttp_server)
    async with aiohttp.ClientSession() as http:
        status, _, _ = await post(http, f"{proxy.base_url}/chat/completions", BODY, **{"Content-Type": content_type})
        assert status == 200
        async with http.post(proxy.url + "/-/reload") as r:  # admin POSTs carry no body to declare
            assert r.status == 200
    assert len(seen) == 1


@pytest.mark.parametrize(
    ("host", "served"),
    [
        ("127.0.0.1:{port}", True),
        ("localhost:{port}", True),
        ("LOCALHOST", True),
        ("app.localhost:{port}", True),
        ("[::1]:{port}", True),
        ("127.3.4.5", True),
        ("evil.example:{port}", False),
        ("evil.example", False),
        ("10.0.0.8:{port}", False),
        ("localhost.evil.example:{port}", False),
    ],
)
async def test_on_loopback_only_loopback_host_names_are_served_on_every_listener(
    start_proxy, tmp_path, aiohttp_server, host, served
):
    admin = free_port()
    proxy, _ = await serving(start_proxy, tmp_path, aiohttp_server, "--admin-port", str(admin))
    async with aiohttp.ClientSession() as http:
        for url in (f"{proxy.url}/healthz", f"http://127.0.0.1:{admin}/-/rules"):
            async with http.get(url, headers={"Host": host.format(port=proxy.port)}) as r:
                body = await r.json()
                assert (r.status == 200) == served, (url, r.status, body)
                if not served:
                    assert r.status == 403 and assert_error_shape(body)["code"] == "host_not_allowed"
                    assert "--allowed-host" in body["error"]["message"]


async def test_an_allowed_host_name_is_served_and_others_still_refused(start_proxy, tmp_path, aiohttp_server):
    proxy, seen = await serving(start_proxy, tmp_path, aiohttp_server, "--allowed-host", "proxy.internal")
    async with aiohttp.ClientSession() as http:
        json = {"Content-Type": "application/json"}
        status, _, _ = await post(http, f"{proxy.base_url}/chat/completions", BODY, Host="proxy.internal:80", **json)
        assert status == 200
        status, _, body = await post(http, f"{proxy.base_url}/chat/completions", BODY, Host="evil.example", **json)
        assert status == 403 and body["error"]["code"] == "host_not_allowed"
    assert len(seen) == 1


async def test_an_allowed_origin_gets_its_preflight_and_its_answer_with_cors_headers(
    start_proxy, tmp_path, aiohttp_server
):
    proxy, seen = await serving(start_proxy, tmp_path, aiohttp_server, "--cors-origin", "https://App.example/")
    origin = "https://app.example"
    asked = "authorization, content-type, x-stainless-os"
    async with aiohttp.ClientSession() as http:
        preflight = {
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": asked,
        }
        async with http.options(f"{proxy.base_url}/chat/completions", headers=preflight) as r:
            assert r.status == 204
            assert r.headers["Access-Control-Allow-Origin"] == origin
            assert "POST" in r.headers["Access-Control-Allow-Methods"]
            assert r.headers["Access-Control-Allow-Headers"] == asked
            assert "Origin" in r.headers["Vary"]
        async with http.options(
            f"{proxy.base_url}/chat/completions", headers={**preflight, "Origin": "https://other.example"}
        ) as r:
            assert r.status == 403
        headers = {"Origin": origin, "Content-Type": "application/json"}
        status, answer, body = await post(http, f"{proxy.base_url}/chat/completions", BODY, **headers)
        assert status == 200 and body["choices"]
        assert answer["Access-Control-Allow-Origin"] == origin and answer["Vary"] == "Origin"
        assert "x-request-id" in answer["Access-Control-Expose-Headers"]
        status, _, _ = await post(http, f"{proxy.base_url}/chat/completions", b"{}", Origin=origin)
        assert status == 415  # an allowed page still declares its body JSON
    assert len(seen) == 1


@pytest.mark.parametrize("given", ["app.example", "https://app.example/path", "null", ""])
def test_an_origin_flag_that_is_no_origin_is_refused(given):
    with pytest.raises(ValueError, match="not an origin"):
        normal_origin(given)


async def test_a_bad_cors_origin_is_a_one_line_usage_error(tmp_path):
    import asyncio
    import sys

    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "switchyard", "serve", "--cors-origin", "app.example", "--rules", str(tmp_path),
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await proc.communicate()
    assert proc.returncode == 2
    assert (
        err.decode().strip() == "switchyard serve: --cors-origin: not an origin (scheme://host[:port]): 'app.example'"
    )
