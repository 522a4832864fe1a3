"""The strict fakes the probe is tested against refuse what their docstrings say, in their own styles."""

from __future__ import annotations

import aiohttp
import pytest

from fakes.strict_providers import CHAT_PROVIDERS, KEY, FakeResponsesLite

HEADERS = {"Authorization": f"Bearer {KEY}"}
USER = [{"role": "user", "content": "hi"}]


async def post(server, body: dict, path: str = "/v1/chat/completions", headers: dict = HEADERS):
    async with aiohttp.ClientSession() as session, session.post(server.make_url(path), json=body, headers=headers) as r:
        return r.status, await r.text()


@pytest.mark.parametrize(
    ("name", "body", "status", "said"),
    [
        ("dashscope", {"messages": [{"role": "developer", "content": "x"}, *USER]}, 400, "'developer'"),
        ("dashscope", {"messages": USER, "store": False}, 400, "supplied: store"),
        ("opaque", {"messages": [*USER, {"role": "system", "content": "x"}, *USER]}, 400, '"invalid request"'),
        ("opaque", {"messages": USER, "seed": 1}, 400, '"invalid request"'),
        ("renames", {"messages": USER, "max_tokens": 5}, 400, "Use 'max_completion_tokens' instead"),
        ("thoughts", {"messages": USER, "tool_choice": {"type": "function", "function": {"name": "f"}}}, 422, "detail"),
        ("thoughts", {"messages": USER, "stream": True}, 200, '"thoughts"'),
        ("renames", {"messages": USER, "max_completion_tokens": 5}, 200, '"OK"'),
    ],
)
async def test_each_fake_refuses_what_it_documents(aiohttp_server, name, body, status, said):
    server = await aiohttp_server(CHAT_PROVIDERS[name]().app)
    got, text = await post(server, {"model": "m", **body})
    assert got == status and said in text, text


@pytest.mark.parametrize("name", sorted(CHAT_PROVIDERS))
async def test_a_wrong_key_is_a_401(aiohttp_server, name):
    server = await aiohttp_server(CHAT_PROVIDERS[name]().app)
    assert (await post(server, {"model": "m", "messages": USER}, headers={"Authorization": "Bearer no"}))[0] == 401


async def test_the_responses_fake_refuses_codex_only_fields_and_namespace_tools(aiohttp_server):
    server = await aiohttp_server(FakeResponsesLite().app)
    ok = await post(server, {"model": "m", "input": "hi"}, "/v1/responses")
    metadata = await post(server, {"model": "m", "input": "hi", "client_metadata": {}}, "/v1/responses")
    namespace = await post(server, {"model": "m", "input": "hi", "tools": [{"type": "namespace"}]}, "/v1/responses")
    assert ok[0] == 200 and metadata[0] == namespace[0] == 400
    assert "client_metadata" in metadata[1] and "namespace" in namespace[1]
