"""The sidecar server end to end: same-protocol traffic, credentials, endpoints and request logs.

Everything goes through a real `switchyard serve` process over TCP, with the openai SDK as the
client where a real client's view matters and raw aiohttp where the bytes or headers do. The
upstreams are the strict fakes, which split every SSE event across several writes and answer 400
to fields a real provider refuses, so a request step that did not run shows up as a failure.

Errors and mid-stream failures are in test_server_errors.py, hot reload in test_server_reload.py.
"""

from __future__ import annotations

import asyncio

import orjson
import pytest
from fakes.chat_provider import chunk, completion, text_chunks
from fakes.responses_provider import message_item, stream_events, stream_reply
from multidict import CIMultiDict
from server_kit import (
    CLIENT_KEY,
    PACK_KEY,
    URL_SECRET,
    assert_error_shape,
    get_metrics,
    hi,
    log_lines,
    metric,
    post_json,
    sse_data,
    wait_for,
)

JSON = {"Content-Type": "application/json"}  # what every client sends (415 otherwise)

MESSAGES = [{"role": "user", "content": "hi"}]


def sent_headers(fake, n: int = 0) -> CIMultiDict:
    """The headers of the fake's `n`th request; header names are case-insensitive on the wire, and here."""
    return CIMultiDict(fake.received[n].headers)


# --- same protocol: chat -> chat ---------------------------------------------------------------------


async def test_a_chat_stream_reaches_the_sdk_with_the_response_steps_applied(client, chat_upstream):
    chat_upstream.reply_stream(
        [
            chunk({"role": "assistant", "content": ""}),
            chunk({"reasoning": "thinking..."}),
            chunk({"content": "Hel"}),
            chunk({"content": "lo"}),
            chunk({}, "stop"),
        ]
    )
    stream = await client.chat.completions.create(model="chat-small", messages=MESSAGES, stream=True)
    chunks = [c async for c in stream]

    deltas = [c.choices[0].delta for c in chunks]
    assert "".join(d.content or "" for d in deltas) == "Hello"
    assert [getattr(d, "reasoning_content", None) for d in deltas] == [None, "thinking...", None, None, None]
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chat_upstream.received[0].body["stream"] is True


async def test_every_streamed_chat_event_goes_through_the_response_steps(proxy, http, chat_upstream):
    # Several reasoning events, one of them framed with CRLF line ends: the rename must reach each one,
    # not just the first event of a read.
    crlf = b"data: " + orjson.dumps(chunk({"reasoning": "b"})) + b"\r\n\r\n"
    chat_upstream.reply_stream(
        [chunk({"role": "assistant"}), chunk({"reasoning": "a"}), crlf, chunk({"reasoning": "c"}), chunk({}, "stop")]
    )
    async with http.post(f"{proxy.base_url}/chat/completions", json={"model": "chat-small", **hi(stream=True)}) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/event-stream")
        data = sse_data(await r.text())

    assert data[-1] == "[DONE]"
    events = [orjson.loads(d) for d in data[:-1]]
    assert [e["choices"][0]["delta"].get("reasoning_content") for e in events] == [None, "a", "b", "c", None]
    assert not any("reasoning" in e["choices"][0]["delta"] for e in events)


async def test_a_stream_event_that_is_not_json_is_passed_on_unchanged(proxy, http, chat_upstream):
    chat_upstream.reply_stream(
        [
            chunk({"role": "assistant"}),
            b"event: ping\ndata: keep-alive\n\n",
            b"data: line one\ndata: line two\n\n",
            chunk({"content": "ok"}, "stop"),
        ]
    )
    async with http.post(f"{proxy.base_url}/chat/completions", json={"model": "chat-small", **hi(stream=True)}) as r:
        text = await r.text()

    assert "event: ping\ndata: keep-alive\n\n" in text
    assert "data: line one\ndata: line two\n\n" in text
    assert text.endswith("data: [DONE]\n\n")


async def test_a_chat_completion_without_a_stream_goes_through_the_response_steps_once(client, chat_upstream):
    body = completion("Hello")
    body["choices"][0]["message"]["reasoning"] = "thinking..."
    chat_upstream.reply_json(body)

    result = await client.chat.completions.create(model="chat-large", messages=MESSAGES)

    message = result.choices[0].message
    assert message.content == "Hello"
    assert getattr(message, "reasoning_content", None) == "thinking..."
    assert getattr(message, "reasoning", None) is None
    assert "stream" not in chat_upstream.received[0].body


async def test_the_sdk_stream_helper_gets_a_complete_chat_completion(client, chat_upstream):
    async with client.chat.completions.stream(model="chat-small", messages=MESSAGES) as stream:
        final = await stream.get_final_completion()

    assert final.choices[0].message.content == "echo: hi"  # the fake's echo, reassembled by the SDK
    assert final.choices[0].finish_reason == "stop"


async def test_the_request_steps_run_before_the_upstream_sees_the_body(client, chat_upstream):
    # The strict fake answers 400 to both fields as sent by the client: only the pack makes this pass.
    result = await client.chat.completions.create(
        model="chat-small", messages=MESSAGES, max_completion_tokens=50, extra_body={"vendor_hint": "x"}
    )

    assert result.choices[0].message.content == "echo: hi"
    sent = chat_upstream.received[0].body
    assert sent["max_tokens"] == 50
    assert "max_completion_tokens" not in sent
    assert "vendor_hint" not in sent
    assert chat_upstream.received[0].path == "/v1/chat/completions"


async def test_force_stream_gives_a_chat_client_that_asked_for_no_stream_one_complete_body(client, chat_upstream):
    chat_upstream.reply_stream(text_chunks("Hel", "lo", reasoning=("hm",)))

    result = await client.chat.completions.create(model="forced-chat", messages=MESSAGES)

    assert chat_upstream.received[0].body["stream"] is True
    assert result.object == "chat.completion"
    assert result.choices[0].message.content == "Hello"
    assert result.choices[0].finish_reason == "stop"
    assert result.usage.total_tokens == 15


# --- same protocol: responses -> responses -----------------------------------------------------------


async def test_a_response_without_a_stream_reaches_the_sdk_with_the_response_steps_applied(client, responses_upstream):
    result = await client.responses.create(model="resp-model", input="hi")

    assert result.output_text == "You said: hi"
    assert result.status == "completed"
    assert getattr(result, "proxied", None) is True
    assert "stream" not in responses_upstream.requests[0]["body"]


async def test_a_responses_stream_reaches_the_sdk_stream_helper_complete(client, responses_upstream):
    responses_upstream.enqueue(stream_reply(stream_events([message_item("Hello there, friend")])))

    async with client.responses.stream(model="resp-model", input="hi") as stream:
        types = [event.type async for event in stream]
        final = await stream.get_final_response()

    assert types[0] == "response.created"
    assert types[-1] == "response.completed"
    assert types.count("response.output_text.delta") == 3
    assert final.output_text == "Hello there, friend"
    assert responses_upstream.requests[0]["body"]["stream"] is True


async def test_every_streamed_responses_event_goes_through_the_response_steps(proxy, http, responses_upstream):
    events = stream_events([message_item("one two three")])
    responses_upstream.enqueue(stream_reply(events))

    body = {"model": "resp-model", "input": "hi", "stream": True}
    async with http.post(f"{proxy.base_url}/responses", json=body) as r:
        assert r.status == 200
        text = await r.text()

    received = [orjson.loads(d) for d in sse_data(text)]
    assert [e["type"] for e in received] == [e["type"] for e in events]
    assert all(e["proxied"] is True for e in received)
    # Responses streams name each event: the `event:` line is kept in step with the data's type.
    assert [line[len("event: ") :] for line in text.splitlines() if line.startswith("event: ")] == [
        e["type"] for e in events
    ]


async def test_the_request_steps_run_on_a_responses_request(client, responses_upstream):
    result = await client.responses.create(model="resp-model", input="hi", extra_body={"vendor_hint": "x"})

    assert result.output_text == "You said: hi"
    assert "vendor_hint" not in responses_upstream.requests[0]["body"]


async def test_force_stream_gives_a_responses_client_that_asked_for_no_stream_one_complete_body(
    client, responses_upstream
):
    responses_upstream.enqueue(stream_reply(stream_events([message_item("all of it")])))

    result = await client.responses.create(model="resp-forced", input="hi")

    assert responses_upstream.requests[0]["body"]["stream"] is True
    assert result.object == "response"
    assert result.status == "completed"
    assert result.output_text == "all of it"


async def test_an_upstream_url_with_a_query_and_a_trailing_slash_gets_the_endpoint_path_in_the_right_place(
    client, chat_upstream
):
    # `{url}/?api-version=...` (Azure-style): the path goes before the query, with no doubled slash.
    await client.chat.completions.create(model="versioned", messages=MESSAGES)

    assert chat_upstream.received[0].path == "/v1/chat/completions"
    assert chat_upstream.received[0].query == {"api-version": "2024-10-21"}


# --- credentials and headers -------------------------------------------------------------------------


async def test_the_pack_api_key_replaces_the_clients_authorization(client, chat_upstream):
    await client.chat.completions.create(model="keyed-model", messages=MESSAGES)

    headers = sent_headers(chat_upstream)
    assert headers["Authorization"] == f"Bearer {PACK_KEY}"
    assert not any(CLIENT_KEY in value for value in headers.values())


async def test_without_a_pack_api_key_the_clients_authorization_is_forwarded_unchanged(client, chat_upstream):
    await client.chat.completions.create(model="chat-small", messages=MESSAGES)

    headers = sent_headers(chat_upstream)
    assert headers["Authorization"] == f"Bearer {CLIENT_KEY}"
    assert headers["X-Source"] == "sidecar"  # the pack's extra headers are added


async def test_hop_by_hop_headers_are_not_forwarded(proxy, http, chat_upstream):
    headers = {
        "Authorization": "Bearer sk-hop",
        # `Connection` names more hop-by-hop headers (RFC 9110 7.6.1): X-Hop-Private ends at the proxy too.
        "Connection": "keep-alive, X-Hop-Private",
        "X-Hop-Private": "for the proxy only",
        "Keep-Alive": "timeout=5",
        "TE": "trailers",
        "Proxy-Authorization": "Basic cHJveHk6c2VjcmV0",
        "X-End-To-End": "kept",
    }
    status, _, _ = await post_json(
        http, f"{proxy.base_url}/chat/completions", {"model": "chat-small", **hi()}, headers=headers
    )

    assert status == 200
    received = {name.lower() for name in chat_upstream.received[0].headers}
    assert "x-end-to-end" in received
    for name in ("x-hop-private", "keep-alive", "te", "proxy-authorization", "upgrade"):
        assert name not in received


async def test_the_clients_request_id_is_sent_upstream_and_returned(proxy, http, chat_upstream):
    headers = {"X-Request-Id": "client-chose-this-id-1"}
    status, response_headers, _ = await post_json(
        http, f"{proxy.base_url}/chat/completions", {"model": "chat-small", **hi()}, headers=headers
    )

    assert status == 200
    assert response_headers["X-Request-Id"] == "client-chose-this-id-1"
    assert sent_headers(chat_upstream)["X-Request-Id"] == "client-chose-this-id-1"


async def test_a_request_id_is_made_when_the_client_sends_none(proxy, http, chat_upstream):
    status, response_headers, _ = await post_json(
        http, f"{proxy.base_url}/chat/completions", {"model": "chat-small", **hi()}
    )

    assert status == 200
    made = response_headers["X-Request-Id"]
    assert made.startswith("req_")
    assert sent_headers(chat_upstream)["X-Request-Id"] == made


async def test_keys_appear_in_no_log_metric_or_introspection_output(proxy, http, client, chat_upstream):
    # The client's key (forwarded), the pack's key (sent instead), and a key in the upstream URL.
    await client.chat.completions.create(model="chat-small", messages=MESSAGES)
    await client.chat.completions.create(model="keyed-model", messages=MESSAGES)
    stream = await client.chat.completions.create(model="keyed-model", messages=MESSAGES, stream=True)
    [c async for c in stream]
    assert sent_headers(chat_upstream, 1)["Authorization"] == f"Bearer {PACK_KEY}"  # the key was in play

    async with http.get(proxy.url + "/-/rules") as r:
        rules = await r.text()
    outputs = {"log": proxy.log(), "metrics": await get_metrics(http, proxy), "/-/rules": rules}
    for where, text in outputs.items():
        for secret in (PACK_KEY, CLIENT_KEY, URL_SECRET):
            assert secret not in text, f"{secret} leaked into {where}"


# --- endpoints ---------------------------------------------------------------------------------------


async def test_models_lists_the_models_of_every_pack_in_the_openai_list_format(proxy, http, client):
    page = await client.models.list()
    assert sorted(m.id for m in page.data) == ["chat-large", "chat-small", "keyed-model", "resp-model"]

    async with http.get(f"{proxy.base_url}/models") as r:
        body = await r.json()
    assert body["object"] == "list"
    owners = {m["id"]: m["owned_by"] for m in body["data"]}
    assert owners == {"chat-small": "chat", "chat-large": "chat", "keyed-model": "keyed", "resp-model": "responses"}
    assert all(m["object"] == "model" and isinstance(m["created"], int) for m in body["data"])


async def test_healthz_and_readyz_answer_when_packs_are_loaded(proxy, http):
    async with http.get(proxy.url + "/healthz") as r:
        assert (r.status, await r.json()) == (200, {"status": "ok"})
    async with http.get(proxy.url + "/readyz") as r:
        assert (r.status, await r.json()) == (200, {"status": "ready"})


async def test_readyz_is_not_ready_while_no_pack_is_loaded(start_proxy, tmp_path, http):
    (tmp_path / "rules").mkdir()
    empty = start_proxy(tmp_path / "rules")

    async with http.get(empty.url + "/readyz") as r:
        assert r.status == 503
    async with http.get(empty.url + "/healthz") as r:
        assert r.status == 200  # alive all the same


async def test_metrics_count_requests_latency_first_byte_and_stream_events(proxy, http, client, chat_upstream):
    before = await get_metrics(http, proxy)
    chat_upstream.reply_stream(text_chunks("a", "b", usage=False))  # 4 chunks and [DONE]
    stream = await client.chat.completions.create(model="chat-small", messages=MESSAGES, stream=True)
    [c async for c in stream]
    after = await get_metrics(http, proxy)

    def delta(name, **labels):
        return metric(after, name, **labels) - metric(before, name, **labels)

    requests = {"pack": "chat", "client": "chat", "upstream": "chat", "status": "200"}
    assert delta("switchyard_requests_total", **requests) == 1
    assert delta("switchyard_upstream_latency_seconds_count", pack="chat") == 1
    assert delta("switchyard_upstream_first_byte_seconds_count", pack="chat") == 1
    assert delta("switchyard_request_duration_seconds_count", pack="chat", client="chat") == 1
    assert delta("switchyard_stream_events_total", pack="chat", direction="in") == 5
    assert delta("switchyard_stream_events_total", pack="chat", direction="out") == 4
    assert metric(after, "switchyard_active_streams") == 0
    assert metric(after, "switchyard_packs_loaded") == 10


async def test_metrics_count_a_stream_as_active_while_it_is_in_flight(proxy, http, chat_upstream):
    release = asyncio.Event()
    chat_upstream.reply_stream(text_chunks("a", "b"), hold=(1, release))
    try:
        async with http.post(
            f"{proxy.base_url}/chat/completions", json={"model": "chat-small", **hi(stream=True)}
        ) as r:
            await r.content.readuntil(b"\n\n")  # the first event is through: the stream is open
            assert metric(await get_metrics(http, proxy), "switchyard_active_streams") == 1
            release.set()
            await r.read()
    finally:
        release.set()  # never leave the fake's handler waiting, even when an assertion failed
    assert metric(await get_metrics(http, proxy), "switchyard_active_streams") == 0


async def test_metrics_are_prometheus_text(proxy, http):
    async with http.get(proxy.url + "/metrics") as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain")
        text = await r.text()
    assert "# TYPE switchyard_requests_total counter" in text
    assert "# TYPE switchyard_upstream_latency_seconds histogram" in text


async def test_rules_introspection_describes_each_pack_without_its_secrets(proxy, http, ports):
    async with http.get(proxy.url + "/-/rules") as r:
        assert r.status == 200
        body = await r.json()

    packs = {p["name"]: p for p in body["packs"]}
    chat = packs["chat"]
    assert chat["file"].endswith("chat.yaml")
    assert chat["match"] == "starts_with(model, 'chat-')"
    assert chat["upstream"]["url"] == f"http://127.0.0.1:{ports.chat}/v1"
    assert chat["upstream"]["protocol"] == "chat"
    assert len(chat["hash"]) >= 16 and chat["hash"] != packs["keyed"]["hash"]
    assert chat["loaded_at"].endswith("Z")
    assert body["last_reload"]["ok"] is True and body["last_reload"]["problems"] == []
    # User info and query string may both carry a key: the URL is shown without either.
    assert packs["redacted"]["upstream"]["url"] == f"http://127.0.0.1:{ports.chat}/v1"
    assert packs["keyed"]["upstream"]["api_key"] == "set"
    assert "alice" not in orjson.dumps(body).decode()


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/v2/nothing-here", 404), ("POST", "/v1/completions", 404), ("GET", "/v1/chat/completions", 405)],
)
async def test_an_unknown_endpoint_is_answered_in_the_error_shape(proxy, http, method, path, status):
    async with http.request(method, proxy.url + path) as r:
        assert r.status == status
        error = assert_error_shape(await r.json())
    assert path in error["message"]


# --- request logs ------------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
async def test_each_request_is_one_json_log_line_with_its_facts(proxy, http, chat_upstream, stream):
    request_id = f"log-line-test-{stream}"
    body = orjson.dumps({"model": "chat-small", **hi(stream=stream)})
    async with http.post(
        f"{proxy.base_url}/chat/completions", data=body, headers={"X-Request-Id": request_id, **JSON}
    ) as r:
        sent = len(await r.read())

    # A stream is logged when its generator ends, which may be just after the client has the last byte.
    lines = await wait_for(lambda: log_lines(proxy, request_id))
    assert len(lines) == 1
    line = lines[0]
    assert line["msg"] == "request"
    assert line["request_id"] == request_id
    assert (line["pack"], line["model"], line["client"], line["upstream"]) == ("chat", "chat-small", "chat", "chat")
    assert (line["status"], line["stream"]) == (200, stream)
    assert line["bytes_in"] == len(body)
    assert line["bytes_out"] == sent
    assert line["duration_ms"] >= line["upstream_ms"] > 0
    assert line["first_byte_ms"] >= line["upstream_ms"]
    assert "authorization" not in orjson.dumps(line).decode().lower()


async def test_an_error_is_logged_with_its_status_and_reason(proxy, http):
    request_id = "log-line-test-404"
    status, _, _ = await post_json(
        http, f"{proxy.base_url}/chat/completions", {"model": "nobody-serves-this", **hi()},
        headers={"X-Request-Id": request_id},
    )  # fmt: skip

    assert status == 404
    [line] = await wait_for(lambda: log_lines(proxy, request_id))
    assert (line["status"], line["pack"], line["model"]) == (404, "-", "nobody-serves-this")
    assert "nobody-serves-this" in line["error"]
