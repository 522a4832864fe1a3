"""The secrets sweep, and what a client cannot steer, through the fault suite's rig with a keyed pack.

Every fault of the matrix, in every direction, is sent with the client's own Authorization to packs
that hold a key of their own; then everything the proxy produced (each answer, its log, /metrics,
/-/rules) is searched for either secret: none may appear. The upstream did get the pack's key,
so the search is not vacuous.

A client cannot steer where the call goes: a model name with `/`, `..`, `@`, `?`, `#` or a
percent-encoded dot, or a Host / X-Forwarded-* header, changes neither the upstream's host nor
its path. `/-/` endpoints judge the peer address, never forwarded headers.
"""

from __future__ import annotations

import asyncio
import socket

import aiohttp
import pytest
from aiohttp import web
from client_protocols import ROUTES, body_for
from fakes.faulty import FAULTS
from fault_kit import DIRECTIONS, fault_packs
from proxy_process import ProxyProcess, write_pack

PACK_KEY = "sk-pack-SWEEP-5d1e0c-SECRET"
CLIENT_KEY = "sk-client-SWEEP-a93f4b-SECRET"
SECRETS = (PACK_KEY, CLIENT_KEY)


@pytest.fixture(name="keyed_proxy", scope="module")
def keyed_proxy_fixture(faulty, tmp_path_factory):
    rules = tmp_path_factory.mktemp("secrets") / "rules"
    fault_packs(rules, faulty[1], api_key="${SWEEP_PACK_KEY}")
    process = ProxyProcess(rules, env={"SWEEP_PACK_KEY": PACK_KEY}, args=("--log-format", "json", "--grace", "0"))
    try:
        yield process.wait_ready()
    finally:
        process.stop()


async def test_no_secret_appears_in_any_answer_log_metric_or_rules_output_through_the_whole_matrix(faulty, keyed_proxy):
    produced: list[str] = []
    auth = {"Authorization": f"Bearer {CLIENT_KEY}", "x-api-key": CLIENT_KEY}
    async with aiohttp.ClientSession(headers=auth) as http:

        async def one(direction: str, client: str, fault: str) -> None:
            stream = fault not in ("ok_whole", "reset_mid_body", "not_json_200")
            body = body_for(client, f"{direction}.{fault}", stream)
            async with http.post(keyed_proxy.url + ROUTES[client], json=body) as r:
                produced.append((await r.read()).decode(errors="replace"))
                produced.append(str(dict(r.headers)))

        # five_mb_line is 5 MB of letters, nothing secret: not worth holding in memory here
        faults = [f for f in [*FAULTS, "refused"] if f != "five_mb_line"]
        await asyncio.gather(*(one(d, c, f) for d, (c, _) in DIRECTIONS.items() for f in faults))
        for path in ("/metrics", "/-/rules", "/v1/models", "/readyz"):
            async with http.get(keyed_proxy.url + path) as r:
                produced.append(await r.text())
    produced.append(keyed_proxy.log())
    leaks = [(secret, text[max(0, text.find(secret) - 200) :][:400]) for text in produced for secret in SECRETS
             if secret in text]  # fmt: skip
    assert leaks == []
    # Not vacuous: the upstream got the pack's key, in place of the client's.
    carried = {c.headers.get("authorization") for c in faulty[0].connections if c.headers}
    assert f"Bearer {PACK_KEY}" in carried and not any(CLIENT_KEY in (h or "") for h in carried)


STEERING_MODELS = ["ok/../../admin", "ok/..%2f..%2fadmin", "ok@evil.example", "ok?x=1&model=y", "ok#frag",
                   "ok/%2e%2e/%2e%2e/", "ok:80@evil.example/x", "ok\\..\\x"]  # fmt: skip


@pytest.mark.parametrize("direction", ["c2c", "c2r"])
@pytest.mark.parametrize("suffix", STEERING_MODELS)
async def test_the_model_name_cannot_steer_the_upstream_host_or_path(faulty, keyed_proxy, direction, suffix):
    fake, _url = faulty
    client, upstream = DIRECTIONS[direction]
    model = f"{direction}.{suffix}"
    body = body_for(client, model, True)
    async with aiohttp.ClientSession() as http, http.post(keyed_proxy.url + ROUTES[client], json=body) as r:
        assert r.status == 200
        await r.read()
    [conn] = [c for c in fake.connections if c.body.get("model") == model]
    assert conn.path == ("/v1/chat/completions" if upstream == "chat" else "/v1/responses")
    assert conn.headers["host"] == f"127.0.0.1:{fake.port}"


async def test_host_and_forwarded_headers_cannot_steer_the_upstream(faulty, keyed_proxy):
    fake, _ = faulty
    model = "c2c.ok"
    # (A Host the proxy serves: a name it does not serve is refused before anything, tests/server/test_origins.py.)
    steering = {"Host": "localhost:1", "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https",
                "X-Forwarded-For": "203.0.113.7", "Forwarded": "host=evil.example"}  # fmt: skip
    async with (
        aiohttp.ClientSession() as http,
        http.post(keyed_proxy.url + ROUTES["chat"], json=body_for("chat", model, False), headers=steering) as r,
    ):
        assert r.status == 200
    conn = [c for c in fake.connections if c.body.get("model") == model][-1]
    # The call went to the pack's host and path, with the pack's Host (other headers pass on as sent).
    assert conn.headers["host"] == f"127.0.0.1:{fake.port}" and conn.path == "/v1/chat/completions"


def non_loopback_address() -> str | None:
    """An address of this machine that is not loopback (no packet is sent), or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))
            address = s.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


async def test_admin_endpoints_judge_the_peer_address_even_when_it_claims_to_be_loopback(faulty, tmp_path):
    address = non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback address to connect from")
    fault_packs(tmp_path / "rules", faulty[1])
    proxy = ProxyProcess(tmp_path / "rules", args=("--host", "0.0.0.0", "--client-token", "tok", "--grace", "0"))
    try:
        proxy.wait_ready()
        claims = {"X-Forwarded-For": "127.0.0.1", "X-Real-IP": "127.0.0.1", "Forwarded": "for=127.0.0.1"}
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://{address}:{proxy.port}/-/rules", headers=claims) as r:
                assert r.status == 403
            async with http.post(f"http://{address}:{proxy.port}/-/reload", headers=claims) as r:
                assert r.status == 403
            async with http.get(f"http://127.0.0.1:{proxy.port}/-/rules") as r:  # from loopback: admitted
                assert r.status == 200
    finally:
        proxy.stop()


async def test_a_provider_echoing_the_packs_key_and_its_url_in_an_error_gives_neither_to_the_client_or_log(
    tmp_path, aiohttp_server
):
    # Providers echo what they were sent: the key in Authorization, or the URL with a key in its query.
    query_key = "qk-SWEEP-77e1-SECRET"
    seen: list[str] = []

    async def refuse(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization", ""))
        message = f"Invalid key {request.headers.get('Authorization')} for {request.url}"
        return web.json_response({"error": {"message": message, "type": "invalid_request_error"}}, status=401)

    app = web.Application()
    app.router.add_post("/v1/chat/completions", refuse)
    upstream = await aiohttp_server(app)
    write_pack(
        tmp_path / "rules",
        "echo",
        f"""
        pack: echo
        match: "`true`"
        upstream:
          url: http://127.0.0.1:{upstream.port}/v1?api-key={query_key}
          protocol: chat
          api_key: ${{SWEEP_PACK_KEY}}
        """,
    )
    process = ProxyProcess(tmp_path / "rules", env={"SWEEP_PACK_KEY": PACK_KEY}, args=("--log-format", "json"))
    try:
        proxy = process.wait_ready()
        async with aiohttp.ClientSession() as http:
            body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
            async with http.post(proxy.url + "/v1/chat/completions", json=body) as r:
                status, answer = r.status, await r.text()
        log = proxy.log()
    finally:
        process.stop()

    assert seen == [f"Bearer {PACK_KEY}"]  # the provider did get (and echo) the key
    assert status == 401 and "Invalid key" in answer and "[key]" in answer
    for secret in (PACK_KEY, query_key):
        assert secret not in answer and secret not in log
