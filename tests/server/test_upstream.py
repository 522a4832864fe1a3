"""switchyard/server/upstream.py: what goes to the upstream besides the body (headers, credentials, the URL)."""

from __future__ import annotations

import base64
from types import MappingProxyType

from aiohttp import web
from proxy_process import write_pack

from switchyard.language.pack import Upstream
from switchyard.server.upstream import endpoint, upstream_headers


def make(url: str = "https://api.example/v1", protocol: str = "chat", api_key: str = "", headers=None) -> Upstream:
    return Upstream(url=url, protocol=protocol, api_key=api_key, headers=MappingProxyType(headers or {}))


def test_the_pack_key_replaces_the_clients_authorization_whatever_its_case() -> None:
    out = upstream_headers({"authorization": "Bearer client"}, make(api_key="sk-pack"), "req_1", False)
    assert [v for k, v in out.items() if k.lower() == "authorization"] == ["Bearer sk-pack"]


def test_without_a_pack_key_the_clients_authorization_goes_unchanged() -> None:
    out = upstream_headers({"Authorization": "Bearer client"}, make(), "req_1", False)
    assert out["Authorization"] == "Bearer client"


def test_hop_by_hop_headers_and_those_named_in_connection_stop_at_the_proxy() -> None:
    client = {"Connection": "keep-alive, X-Secret-Hop", "X-Secret-Hop": "1", "Keep-Alive": "5", "TE": "trailers"}
    out = upstream_headers({**client, "X-Kept": "yes"}, make(), "req_1", True)
    assert {k.lower() for k in out} == {"x-kept", "content-type", "accept", "x-request-id"}
    assert out["Accept"] == "text/event-stream"


def test_the_clients_accept_and_request_id_in_lower_case_do_not_go_beside_the_hops_own() -> None:
    # Starlette gives header names in lower case; `Accept` and `X-Request-Id` are set by the hop.
    out = upstream_headers({"accept": "*/*", "x-request-id": "abc", "user-agent": "sdk"}, make(), "abc", True)
    assert sorted(k.lower() for k in out) == ["accept", "content-type", "user-agent", "x-request-id"]
    assert out["Accept"] == "text/event-stream" and out["X-Request-Id"] == "abc"


def test_pack_headers_come_last_and_win() -> None:
    out = upstream_headers({"X-Source": "client"}, make(headers={"X-Source": "sidecar"}), "req_1", False)
    assert out["X-Source"] == "sidecar"


def test_the_endpoint_path_goes_before_a_query_and_never_doubles_a_slash() -> None:
    assert endpoint(make("https://h.example/v1/")) == "https://h.example/v1/chat/completions"
    assert (
        endpoint(make("https://h.example/v1?api-version=2", "responses"))
        == "https://h.example/v1/responses?api-version=2"
    )


def test_a_path_made_for_the_call_replaces_the_protocols_and_its_query_joins_the_urls() -> None:
    # Gemini's calls name the model and the method in the path, and ask for SSE in the query.
    path = "/models/gemini-2.5-pro:streamGenerateContent?alt=sse"
    assert endpoint(make("https://h.example/v1beta/"), path) == (
        "https://h.example/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse"
    )
    assert endpoint(make("https://h.example/v1beta?tenant=a"), path).endswith(":streamGenerateContent?tenant=a&alt=sse")


def test_user_info_leaves_the_url_and_becomes_basic_auth_when_nothing_else_authenticates() -> None:
    up = make("https://u%40x:p%3Aw@h.example/v1")
    assert endpoint(up) == "https://h.example/v1/chat/completions"
    out = upstream_headers({}, up, "req_1", False)
    assert out["Authorization"] == "Basic " + base64.b64encode(b"u@x:p:w").decode()


def test_user_info_does_not_override_a_bearer_key_from_the_client_or_the_pack() -> None:
    up = make("https://u:p@h.example/v1")
    assert upstream_headers({"authorization": "Bearer c"}, up, "r", False) == {
        "Authorization": "Bearer c",  # the client's key, in the header the upstream protocol takes
        "Content-Type": "application/json",
        "Accept": "application/json",
        "X-Request-Id": "r",
    }
    assert (
        upstream_headers({}, make("https://u:p@h.example/v1", api_key="k"), "r", False)["Authorization"] == "Bearer k"
    )


def test_with_forward_client_auth_false_no_client_credential_goes_upstream() -> None:
    up = Upstream(url="https://api.example/v1", protocol="chat", forward_client_auth=False)
    client = {"Authorization": "Bearer sk-client", "x-api-key": "sk-client", "Api-Key": "k", "X-Trace": "t"}
    sent = upstream_headers(client, up, "req_1", False)
    assert not {k.lower() for k in sent} & {"authorization", "x-api-key", "api-key"}
    assert sent["X-Trace"] == "t"


def test_with_forward_client_auth_false_a_pack_key_is_still_sent() -> None:
    up = Upstream(url="https://api.example/v1", protocol="chat", api_key="sk-pack", forward_client_auth=False)
    sent = upstream_headers({"Authorization": "Bearer sk-client"}, up, "req_1", False)
    assert sent["Authorization"] == "Bearer sk-pack"


def test_a_clients_key_goes_in_the_header_the_upstream_protocol_reads() -> None:
    # Claude Code sends x-api-key; a Chat provider reads Authorization: Bearer; Anthropic the other way.
    chat = upstream_headers({"x-api-key": "sk-cc"}, make(), "r", False)
    assert chat["Authorization"] == "Bearer sk-cc" and "x-api-key" not in {k.lower() for k in chat}
    messages = upstream_headers({"Authorization": "Bearer sk-sdk"}, make(protocol="messages"), "r", False)
    assert messages["x-api-key"] == "sk-sdk" and "authorization" not in {k.lower() for k in messages}
    assert messages["anthropic-version"] == "2023-06-01"


def test_a_pack_key_for_an_anthropic_upstream_goes_as_x_api_key_and_a_clients_version_header_wins() -> None:
    up = make(protocol="messages", api_key="sk-pack")
    sent = upstream_headers({"anthropic-version": "2024-01-01", "x-api-key": "sk-client"}, up, "r", False)
    assert sent["x-api-key"] == "sk-pack" and sent["anthropic-version"] == "2024-01-01"


def test_an_authorization_of_another_scheme_is_passed_on_as_it_is() -> None:
    assert upstream_headers({"Authorization": "Basic dTpw"}, make(), "r", False)["Authorization"] == "Basic dTpw"


async def test_a_cookie_a_provider_set_goes_back_to_its_client_and_never_out_with_another_clients_request(
    aiohttp_server, start_proxy, tmp_path, http
) -> None:
    # A provider behind a CDN sets cookies (Cloudflare's `__cf_bm`). The proxy's one upstream session
    # serves every client: a cookie stored there would go out with everybody's requests.
    seen: list[str | None] = []

    async def provider(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Cookie"))
        message = {"role": "assistant", "content": "hi"}
        choice = {"index": 0, "message": message, "finish_reason": "stop"}
        body = {"id": "c", "object": "chat.completion", "created": 1, "model": "m", "choices": [choice]}
        response = web.json_response(body)
        response.set_cookie("__cf_bm", f"affinity-{len(seen)}")
        return response

    app = web.Application()
    app.router.add_post("/v1/chat/completions", provider)
    server = await aiohttp_server(app)
    rules = tmp_path / "rules"
    # A host name: aiohttp's jar keeps no cookie for an IP address, so with 127.0.0.1 the test would prove nothing.
    url = f"http://localhost:{server.port}/v1"
    write_pack(rules, "p", f'pack: p\nmatch: "`true`"\nupstream: {{url: "{url}", protocol: chat}}\n')
    proxy = start_proxy(rules)
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    async with http.post(f"{proxy.base_url}/chat/completions", json=body) as first:
        assert first.status == 200 and "__cf_bm=affinity-1" in first.headers.get("Set-Cookie", "")
    headers = {"Cookie": "mine=1"}
    async with http.post(f"{proxy.base_url}/chat/completions", json=body, headers=headers) as second:
        assert second.status == 200
    async with http.post(f"{proxy.base_url}/chat/completions", json=body) as third:
        assert third.status == 200
    assert seen == [None, "mine=1", None]
