"""switchyard/server/access.py through a real `switchyard serve`: client tokens, the open-bind guard,
the admin token from a file, and egress through an explicit upstream proxy."""

from __future__ import annotations

import aiohttp
from aiohttp import web
from proxy_process import write_pack
from server_kit import assert_error_shape, post_json

from switchyard.server.access import ClientGate, open_bind_refusal, read_tokens

BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
CHOICE = {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
COMPLETION = {"id": "c", "object": "chat.completion", "created": 0, "model": "m", "choices": [CHOICE]}


async def recording_upstream(aiohttp_server, seen: list) -> str:
    async def handle(request: web.Request) -> web.Response:
        seen.append({"url": str(request.url), "headers": dict(request.headers)})
        return web.json_response(COMPLETION)

    app = web.Application()
    app.router.add_route("*", "/{path:.*}", handle)
    return str((await aiohttp_server(app)).make_url("/v1"))


def chat_pack(url: str) -> str:
    return f"""
        pack: p
        match: "`true`"
        upstream: {{url: "{url}", protocol: chat}}
    """


async def test_client_tokens_gate_v1_and_are_never_forwarded(start_proxy, tmp_path, aiohttp_server):
    seen: list = []
    write_pack(tmp_path / "rules", "p", chat_pack(await recording_upstream(aiohttp_server, seen)))
    (tmp_path / "tokens").write_text("# one per line\nsy-team-b\n")
    proxy = start_proxy(
        tmp_path / "rules", args=("--client-token", "sy-team-a", "--client-token-file", str(tmp_path / "tokens"))
    )
    url = f"{proxy.base_url}/chat/completions"
    async with aiohttp.ClientSession() as http:
        status, _, body = await post_json(http, url, BODY)
        assert status == 401 and assert_error_shape(body)["code"] == "invalid_client_token"
        status, _, _ = await post_json(http, url, BODY, headers={"Authorization": "Bearer wrong"})
        assert status == 401
        status, _, _ = await post_json(http, url, BODY, headers={"Authorization": "Bearer sy-team-a"})
        assert status == 200
        status, _, _ = await post_json(http, url, BODY, headers={"x-api-key": "sy-team-b"})
        assert status == 200
        async with http.get(proxy.url + "/healthz") as r:  # only /v1 is gated
            assert r.status == 200
    assert len(seen) == 2
    for call in seen:  # the gateway's token is the gateway's: the provider gets none
        assert not {k.lower() for k in call["headers"]} & {"authorization", "x-api-key"}
    assert "sy-team-a" not in proxy.log() and "sy-team-b" not in proxy.log()


def test_a_non_loopback_host_without_client_tokens_is_refused_before_binding(start_proxy, tmp_path):
    write_pack(tmp_path / "rules", "p", chat_pack("http://127.0.0.1:9/v1"))
    proxy = start_proxy(tmp_path / "rules", args=("--host", "0.0.0.0"), wait=False)
    assert proxy.proc.wait(timeout=30) == 2
    assert "--client-token" in proxy.log() and "--allow-open" in proxy.log()


def test_the_open_bind_rule() -> None:
    assert open_bind_refusal("127.0.0.1", (), False) is None
    assert open_bind_refusal("::1", (), False) is None
    assert open_bind_refusal("localhost", (), False) is None
    assert open_bind_refusal("0.0.0.0", ("t",), False) is None
    assert open_bind_refusal("0.0.0.0", (), True) is None
    assert "anyone" in open_bind_refusal("10.0.0.5", (), False)


def test_tokens_come_from_flags_and_files_and_an_empty_file_is_an_error(tmp_path) -> None:
    (tmp_path / "a").write_text("x\n\n  y  \n")
    (tmp_path / "empty").write_text("# nothing\n")
    assert read_tokens(["t"], [str(tmp_path / "a")]) == ("t", "x", "y")
    try:
        read_tokens([], [str(tmp_path / "empty")])
    except Exception as exc:
        assert "holds no token" in str(exc)
    else:
        raise AssertionError("an empty token file must be refused")
    gate = ClientGate(("x",))
    assert gate.admits({"authorization": "bearer x"}) and not gate.admits({"authorization": "Bearer y"})
    assert ClientGate().admits({})


async def test_the_admin_token_can_come_from_a_file(start_proxy, tmp_path) -> None:
    write_pack(tmp_path / "rules", "p", chat_pack("http://127.0.0.1:9/v1"))
    (tmp_path / "admin").write_text("adm1n\n")
    proxy = start_proxy(tmp_path / "rules", args=("--admin-token-file", str(tmp_path / "admin")))
    async with aiohttp.ClientSession() as http, http.get(proxy.url + "/-/rules") as r:
        assert r.status == 200  # loopback, as always; the token file was read without complaint
    assert "adm1n" not in proxy.log()


async def test_upstream_calls_go_through_the_upstream_proxy_when_one_is_given(start_proxy, tmp_path, aiohttp_server):
    seen: list = []
    egress = await recording_upstream(aiohttp_server, seen)  # answers whatever it is asked to forward
    write_pack(tmp_path / "rules", "p", chat_pack("http://provider.invalid:8443/v1"))
    proxy = start_proxy(tmp_path / "rules", args=("--upstream-proxy", egress.removesuffix("/v1")))
    async with aiohttp.ClientSession() as http:
        status, _, _ = await post_json(http, f"{proxy.base_url}/chat/completions", BODY)
    assert status == 200
    assert seen[0]["url"] == "http://provider.invalid:8443/v1/chat/completions"
