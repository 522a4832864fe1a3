"""Tokens end to end: every client protocol over every upstream protocol, streamed and whole, through a
real `switchyard serve`; the access log line and `/metrics` say what the client received.

The fakes report usage as their providers do (Chat: 10 in, 5 out; Messages: 10 in, 5 out; Responses:
12 in, one out per word). What is counted is what the client got, after the bridge back, so a
Responses client over a Messages upstream sees Anthropic's figures in Responses' fields.
"""

from __future__ import annotations

import shutil

import aiohttp
import golden_files
import orjson
import pytest
from client_protocols import ROUTES, body_for
from fakes.chat_provider import FakeChatProvider, text_chunks, usage_chunk
from fakes.messages_provider import FakeMessagesProvider
from fakes.responses_provider import FakeResponsesProvider
from proxy_process import write_pack
from server_kit import get_metrics, log_lines, metric, wait_for

ROOT = golden_files.ROOT
# upstream -> (the model its pack serves, the tokens its fake reports for "hi": input, output)
UPSTREAMS = {
    "chat": ("chat-model", (10, 5)),
    "responses": ("resp-model", (12, 3)),
    "messages": ("claude-sonnet-4-5", (10, 5)),
}


@pytest.fixture
async def rig(aiohttp_server, start_proxy, tmp_path):
    chat, responses, messages = FakeChatProvider(allowed_fields=None), FakeResponsesProvider(), FakeMessagesProvider()
    urls = {}
    for name, fake in (("chat", chat), ("responses", responses), ("messages", messages)):
        urls[name] = str((await aiohttp_server(fake.app)).make_url("/v1"))
    rules = tmp_path / "rules"
    for name in ("chat", "responses"):
        model = UPSTREAMS[name][0]
        write_pack(
            rules,
            name,
            f"""
            pack: {name}
            match: "model == '{model}'"
            models: [{model}]
            upstream: {{url: "{urls[name]}", protocol: {name}}}
            """,
        )
    shutil.copy(ROOT / "rules" / "anthropic.yaml", rules / "anthropic.yaml")
    env = {"ANTHROPIC_BASE_URL": urls["messages"], "ANTHROPIC_API_KEY": "sk-ant-test"}
    proxy = start_proxy(rules, env=env, args=("--log-format", "json"))
    async with aiohttp.ClientSession() as http:
        yield proxy, http, chat


async def call(http, proxy, client: str, model: str, stream: bool, request_id: str, **extra) -> bytes:
    body = {**body_for(client, model, stream), **extra}
    headers = {"X-Request-Id": request_id, "x-api-key": "k", "anthropic-version": "2023-06-01"}
    async with http.post(proxy.url + ROUTES[client], json=body, headers=headers) as r:
        raw = await r.read()
        assert r.status == 200, raw
    return raw


async def test_every_bridge_logs_and_counts_the_tokens_its_client_received(rig):
    proxy, http, _ = rig
    before = await get_metrics(http, proxy)
    counted = {}
    for upstream, (model, (tokens_in, tokens_out)) in UPSTREAMS.items():
        for client in ("chat", "responses", "messages"):
            for stream in (False, True):
                request_id = f"tokens-{client}-over-{upstream}-{stream}"
                # A Chat client gets usage in a stream only when it asks, as the SDKs do.
                extra = {"stream_options": {"include_usage": True}} if client == "chat" and stream else {}
                await call(http, proxy, client, model, stream, request_id, **extra)
                [line] = await wait_for(lambda request_id=request_id: log_lines(proxy, request_id))
                assert (line["tokens_in"], line["tokens_out"]) == (tokens_in, tokens_out), request_id
                assert "tokens" not in line
                assert (line.get("first_token_ms") is not None) == stream
                counted[model] = counted.get(model, 0) + 1
    after = await get_metrics(http, proxy)
    for upstream, (model, (tokens_in, tokens_out)) in UPSTREAMS.items():
        pack = "anthropic" if upstream == "messages" else upstream
        moved = {
            kind: metric(after, "switchyard_tokens_total", pack=pack, model=model, type=kind)
            - metric(before, "switchyard_tokens_total", pack=pack, model=model, type=kind)
            for kind in ("input", "output")
        }
        assert moved == {"input": tokens_in * counted[model], "output": tokens_out * counted[model]}
    # Every stream had content: its time to the first token is observed, and its output rate.
    ttft = metric(after, "switchyard_time_to_first_token_seconds_count", pack="chat")
    assert ttft - metric(before, "switchyard_time_to_first_token_seconds_count", pack="chat") == 3
    assert metric(after, "switchyard_output_tokens_per_second_count", pack="anthropic") >= 3


async def test_cached_and_reasoning_tokens_are_counted_by_type_and_a_foreign_model_is_folded(rig):
    proxy, http, chat = rig
    details = {"prompt_tokens_details": {"cached_tokens": 8}, "completion_tokens_details": {"reasoning_tokens": 4}}
    chat.reply_stream([*text_chunks("Hello", usage=False), usage_chunk(40, 9, **details)])
    await call(http, proxy, "responses", "chat-model", True, "tokens-details")
    [line] = await wait_for(lambda: log_lines(proxy, "tokens-details"))
    assert (line["tokens_in"], line["tokens_out"], line["tokens_cached"], line["tokens_reasoning"]) == (40, 9, 8, 4)
    text = await get_metrics(http, proxy)
    assert metric(text, "switchyard_tokens_total", pack="chat", model="chat-model", type="cached") == 8
    assert metric(text, "switchyard_tokens_total", pack="chat", model="chat-model", type="reasoning") == 4


async def test_a_stream_whose_client_received_no_usage_logs_tokens_unknown_and_counts_none(rig):
    proxy, http, chat = rig
    chat.reply_stream(text_chunks("Hello", usage=False))
    raw = await call(http, proxy, "chat", "chat-model", True, "tokens-none")
    assert b"usage" not in raw.replace(b'"usage":null', b"")
    [line] = await wait_for(lambda: log_lines(proxy, "tokens-none"))
    assert line["tokens"] == "unknown"
    assert "tokens_in" not in line
    text = await get_metrics(http, proxy)
    assert metric(text, "switchyard_tokens_total", pack="chat", model="chat-model", type="input") == 0


async def test_a_packs_renamed_usage_counts_because_tokens_are_read_after_its_response_steps(
    aiohttp_server, start_proxy, tmp_path
):
    fake = FakeChatProvider(allowed_fields=None)
    url = str((await aiohttp_server(fake.app)).make_url("/v1"))
    rules = tmp_path / "rules"
    # A provider that spells its usage its own way; the pack renames it into Chat's fields.
    write_pack(
        rules,
        "odd",
        f"""
        pack: odd
        match: "model == 'odd-model'"
        models: [odd-model]
        upstream: {{url: "{url}", protocol: chat}}
        response:
          - rename: {{"usage.input": prompt_tokens, "usage.output": completion_tokens}}
        """,
    )
    odd = {"id": "c", "object": "chat.completion", "created": 0, "model": "odd-model",
           "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
           "usage": {"input": 21, "output": 2}}  # fmt: skip
    fake.reply_json(odd)
    proxy = start_proxy(rules, args=("--log-format", "json"))
    async with aiohttp.ClientSession() as http:
        raw = await call(http, proxy, "chat", "odd-model", False, "tokens-renamed")
        assert orjson.loads(raw)["usage"] == {"prompt_tokens": 21, "completion_tokens": 2}
        [line] = await wait_for(lambda: log_lines(proxy, "tokens-renamed"))
    assert (line["tokens_in"], line["tokens_out"]) == (21, 2)


async def test_with_named_client_tokens_the_tokens_are_counted_by_client_name(aiohttp_server, start_proxy, tmp_path):
    chat = FakeChatProvider(allowed_fields=None)
    url = (await aiohttp_server(chat.app)).make_url("/v1")
    rules = tmp_path / "rules"
    model = UPSTREAMS["chat"][0]
    pack = f'pack: chat\nmatch: "model == \'{model}\'"\nmodels: [{model}]\nupstream: {{url: "{url}", protocol: chat}}\n'
    write_pack(rules, "chat", pack)
    tokens = tmp_path / "tokens"
    tokens.write_text("alice:tok-alice\nbob:tok-bob\n")
    proxy = start_proxy(rules, args=("--client-token-file", str(tokens)))
    async with aiohttp.ClientSession() as http:
        for token, times in (("tok-alice", 2), ("tok-bob", 1)):
            for _ in range(times):
                headers = {"Authorization": f"Bearer {token}"}
                async with http.post(
                    proxy.url + ROUTES["chat"], json=body_for("chat", model, False), headers=headers
                ) as r:
                    assert r.status == 200, await r.read()
        text = await get_metrics(http, proxy)
    tokens_in, tokens_out = UPSTREAMS["chat"][1]
    assert metric(text, "switchyard_tokens_total", pack="chat", client="alice", type="input") == 2 * tokens_in
    assert metric(text, "switchyard_tokens_total", pack="chat", client="bob", type="output") == tokens_out
    assert "tok-alice" not in text and "tok-bob" not in text  # the name, never the token
