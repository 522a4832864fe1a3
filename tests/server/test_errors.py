"""Every way a request can fail, through the real process: the client gets the OpenAI error shape
`{"error": {"message", "type", "param", "code"}}` with the right status, and the process stays up.

Mid-stream failures are here too: once a 200 and some events are out, the only honest way to fail
is an error event in the client's own protocol, never a stream that just stops and looks complete.
"""

from __future__ import annotations

import asyncio

import aiohttp
import openai
import orjson
import pytest
from fakes.chat_provider import chunk, text_chunks
from fakes.responses_provider import cut_reply, error_reply, message_item, stream_events
from proxy_process import lenient_chat_upstream
from server_kit import (
    MAX_BODY,
    assert_error_shape,
    assert_healthy,
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
ENDPOINTS = ["/chat/completions", "/responses"]


@pytest.fixture(params=ENDPOINTS, ids=["chat", "responses"])
def endpoint(request, proxy) -> str:
    """Errors the proxy makes up look the same to both client protocols."""
    return proxy.base_url + request.param


# --- the client's request ----------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [b"{not json", b"", b"[1, 2]", b'"a string"', b"null"], ids=repr)
async def test_a_body_that_is_not_a_json_object_is_a_400(proxy, http, endpoint, raw):
    status, _, body = await post_json(http, endpoint, raw)

    assert status == 400
    error = assert_error_shape(body)
    assert error["type"] == "invalid_request_error"
    assert "JSON" in error["message"]
    await assert_healthy(http, proxy)


async def test_no_matching_pack_is_a_404_naming_the_model(proxy, http, endpoint):
    status, _, body = await post_json(http, endpoint, {"model": "nobody-serves-this", "input": "hi", **hi()})

    assert status == 404
    error = assert_error_shape(body)
    assert "nobody-serves-this" in error["message"]
    assert (error["param"], error["code"]) == ("model", "model_not_found")


async def test_a_reject_step_is_a_400_with_its_message_and_nothing_reaches_the_upstream(client, chat_upstream):
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(model="chat-small", messages=MESSAGES, n=2)

    assert caught.value.status_code == 400
    error = assert_error_shape(caught.value.response.json())
    assert error["message"] == "this model returns one choice only (n must be 1)"
    assert chat_upstream.received == []


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
async def test_a_body_over_the_limit_is_a_413(proxy, http, endpoint, chat_upstream, declared):
    # Both ways a body can arrive: with its length up front, and chunked, where only counting tells.
    payload = orjson.dumps({"model": "chat-small", **hi(), "pad": "x" * MAX_BODY})

    async def chunks():
        for start in range(0, len(payload), 8192):
            yield payload[start : start + 8192]

    async with http.post(endpoint, data=payload if declared else chunks(), headers=JSON) as r:
        assert r.status == 413
        error = assert_error_shape(await r.json())
    assert str(MAX_BODY) in error["message"]
    assert chat_upstream.received == []
    await assert_healthy(http, proxy)


# --- the upstream ------------------------------------------------------------------------------------


async def test_an_unreachable_upstream_is_a_502(proxy, http, ports):
    status, _, body = await post_json(http, f"{proxy.base_url}/chat/completions", {"model": "down", **hi()})

    assert status == 502
    error = assert_error_shape(body)
    assert error["code"] == "upstream_unreachable"
    assert f"127.0.0.1:{ports.closed}" in error["message"]
    await assert_healthy(http, proxy)


async def test_an_upstream_silent_past_the_read_timeout_is_a_504(proxy, http, chat_upstream):
    chat_upstream.reply_json({"never": "seen"}, delay=1.0)  # the pack allows 0.5 s of silence

    status, _, body = await post_json(http, f"{proxy.base_url}/chat/completions", {"model": "slow", **hi()})

    assert status == 504
    assert assert_error_shape(body)["code"] == "upstream_timeout"
    await assert_healthy(http, proxy)


async def test_an_upstream_error_is_passed_on_with_its_status_and_json_body(proxy, http, chat_upstream):
    # DashScope's answer to a field it does not know: the client must see exactly that, not a paraphrase.
    status, _, body = await post_json(
        http, f"{proxy.base_url}/chat/completions", {"model": "chat-small", **hi(), "enable_turbo": True}
    )

    assert status == 400
    assert body == {
        "error": {
            "code": "invalid_parameter_error",
            "param": "enable_turbo",
            "message": "Unrecognized request argument supplied: enable_turbo",
            "type": "invalid_request_error",
        }
    }
    await assert_healthy(http, proxy)


async def test_an_upstream_rate_limit_reaches_the_sdk_as_a_rate_limit(client, chat_upstream):
    limited = {"error": {"message": "slow down", "type": "rate_limit_error", "param": None, "code": "rate_limit"}}
    chat_upstream.reply_error(429, limited)

    with pytest.raises(openai.RateLimitError) as caught:
        await client.chat.completions.create(model="chat-small", messages=MESSAGES)

    assert caught.value.response.json() == limited


async def test_a_responses_upstream_error_keeps_its_status_and_body_through_the_response_steps(
    client, responses_upstream
):
    unknown = {"error": {"message": "Unknown parameter: 'x'.", "type": "invalid_request_error", "param": "x"}}
    responses_upstream.enqueue(error_reply(400, unknown))

    with pytest.raises(openai.BadRequestError) as caught:
        await client.responses.create(model="resp-model", input="hi")

    # An error body is an upstream body: the pack's `response` steps (`set: {proxied: true}`) ran on it,
    # so a pack can give a provider's error an OpenAI code; nothing else changed.
    assert caught.value.response.json() == {**unknown, "proxied": True}


async def test_a_responses_client_gets_an_upstream_422_as_a_400_so_codex_shows_it_instead_of_retrying(
    proxy, http, responses_upstream
):
    # protocols.md D.4: Codex shows a 400 to the user and retries any other unexpected status.
    responses_upstream.enqueue(error_reply(422, {"detail": "Input must be a list"}))

    status, headers, body = await post_json(http, f"{proxy.base_url}/responses", {"model": "resp-model", "input": "hi"})

    assert (status, headers["X-Upstream-Status"]) == (400, "422")
    assert assert_error_shape(body)["message"] == "Input must be a list"


async def test_an_upstream_error_json_in_another_shape_is_wrapped_with_its_message(proxy, http, chat_upstream):
    chat_upstream.reply_error(404, {"code": "model_not_found", "message": "no such model"})

    status, _, body = await post_json(http, f"{proxy.base_url}/chat/completions", {"model": "chat-small", **hi()})

    assert status == 404  # chat clients get the provider's own status
    error = assert_error_shape(body)
    assert (error["message"], error["code"]) == ("no such model", "model_not_found")


async def test_an_error_inside_a_200_body_reaches_the_client_as_an_error_status(proxy, http, chat_upstream):
    chat_upstream.reply_json({"error": {"message": "quota used up", "code": "insufficient_quota"}})

    status, _, body = await post_json(http, f"{proxy.base_url}/chat/completions", {"model": "chat-small", **hi()})

    assert status == 429
    assert assert_error_shape(body)["message"] == "quota used up"


async def test_an_upstream_error_body_that_is_not_json_is_wrapped_in_the_error_shape(proxy, http, chat_upstream):
    chat_upstream.reply_error(503, "<html><body>503 Service Temporarily Unavailable</body></html>")

    status, _, body = await post_json(http, f"{proxy.base_url}/chat/completions", {"model": "chat-small", **hi()})

    assert status == 503
    error = assert_error_shape(body)
    assert "503 Service Temporarily Unavailable" in error["message"]
    await assert_healthy(http, proxy)


# --- the pack ----------------------------------------------------------------------------------------


async def test_a_step_failing_at_run_time_is_a_500_naming_pack_file_and_step(proxy, http, chat_upstream):
    # `length(model)` on a number is a JMESPath type error, found only when a request runs the step.
    before = await get_metrics(http, proxy)

    status, headers, body = await post_json(http, f"{proxy.base_url}/chat/completions", {"model": 42, **hi()})

    assert status == 500
    error = assert_error_shape(body)
    assert error["code"] == "step_failed"
    message = error["message"]
    assert "numbers" in message  # the pack
    assert "numbers.yaml:" in message  # its file, with the step's position
    assert "request step 1 (compute)" in message  # the step
    assert chat_upstream.received == []
    after = await get_metrics(http, proxy)
    labels = {"pack": "numbers", "stage": "request"}
    assert (
        metric(after, "switchyard_step_errors_total", **labels)
        - metric(before, "switchyard_step_errors_total", **labels)
        == 1
    )
    [line] = await wait_for(lambda: log_lines(proxy, headers["X-Request-Id"]))
    assert line["status"] == 500
    await assert_healthy(http, proxy)


# --- failures in the middle of a stream --------------------------------------------------------------


async def test_a_chat_stream_cut_by_the_upstream_makes_the_sdk_raise(proxy, client, http, chat_upstream):
    chat_upstream.reply_cut([chunk({"role": "assistant", "content": ""}), chunk({"content": "Hal"})])

    stream = await client.chat.completions.create(model="chat-small", messages=MESSAGES, stream=True)
    received = []
    with pytest.raises(openai.APIError) as caught:
        async for c in stream:
            received.append(c)

    assert "".join(c.choices[0].delta.content or "" for c in received) == "Hal"  # what came before is kept
    assert "upstream stream broke" in caught.value.message
    await assert_healthy(http, proxy)


async def test_a_cut_chat_stream_ends_with_an_error_event_and_done(proxy, http, chat_upstream):
    chat_upstream.reply_cut(text_chunks("a", "b", usage=False)[:2])

    async with http.post(f"{proxy.base_url}/chat/completions", json={"model": "chat-small", **hi(stream=True)}) as r:
        assert r.status == 200
        data = sse_data(await r.text())

    assert data[-1] == "[DONE]"
    error = assert_error_shape(orjson.loads(data[-2]))
    assert error["type"] == "server_error"  # the same shape a bridged stream gives


async def test_a_responses_stream_cut_by_the_upstream_ends_with_response_failed(
    proxy, client, http, responses_upstream
):
    events = stream_events([message_item("never finished at all")])
    responses_upstream.enqueue(cut_reply(events[:5]))

    stream = await client.responses.create(model="resp-model", input="hi", stream=True)
    received = [event async for event in stream]

    assert [e.type for e in received[:5]] == [e["type"] for e in events[:5]]
    assert received[-1].type == "response.failed"
    assert received[-1].response.status == "failed"
    assert "upstream stream broke" in received[-1].response.error.message
    assert received[-1].sequence_number == events[4]["sequence_number"] + 1
    assert not any(e.type == "response.completed" for e in received)
    await assert_healthy(http, proxy)


async def test_a_cut_stream_is_counted_and_logged_as_an_upstream_failure(proxy, http, chat_upstream):
    before = await get_metrics(http, proxy)
    chat_upstream.reply_cut([chunk({"role": "assistant"})])
    headers = {"X-Request-Id": "cut-stream-log-test"}

    async with http.post(
        f"{proxy.base_url}/chat/completions", json={"model": "chat-small", **hi(stream=True)}, headers=headers
    ) as r:
        await r.read()

    [line] = await wait_for(lambda: log_lines(proxy, "cut-stream-log-test"))
    assert "upstream stream cut" in line["error"]
    after = await get_metrics(http, proxy)
    labels = {"pack": "chat", "kind": "stream_cut"}
    assert (
        metric(after, "switchyard_upstream_errors_total", **labels)
        - metric(before, "switchyard_upstream_errors_total", **labels)
        == 1
    )


async def test_a_force_stream_cut_mid_way_is_a_502_for_a_client_that_asked_for_one_body(client, chat_upstream):
    # The aggregated body would be a truncated answer that looks complete: the client gets an error instead.
    chat_upstream.reply_cut([chunk({"role": "assistant", "content": ""}), chunk({"content": "Hal"})])

    with pytest.raises(openai.APIStatusError) as caught:
        await client.chat.completions.create(model="forced-chat", messages=MESSAGES)

    assert caught.value.status_code == 502
    assert "upstream stream broke" in assert_error_shape(caught.value.response.json())["message"]


async def test_a_client_that_goes_away_mid_stream_is_logged_as_499_and_no_longer_counted_active(
    proxy, http, chat_upstream
):
    release = asyncio.Event()
    chat_upstream.reply_stream(text_chunks("a", "b"), hold=(1, release))
    headers = {"X-Request-Id": "client-went-away"}
    try:
        body = {"model": "chat-small", **hi(stream=True)}
        async with http.post(f"{proxy.base_url}/chat/completions", json=body, headers=headers) as r:
            await r.content.readuntil(b"\n\n")
            r.close()  # drop the connection with the stream still open

        [line] = await wait_for(lambda: log_lines(proxy, "client-went-away"))
    finally:
        release.set()
    assert (line["status"], line["error"]) == (499, "client went away")
    assert metric(await get_metrics(http, proxy), "switchyard_active_streams") == 0
    await assert_healthy(http, proxy)


async def test_a_client_gone_before_the_first_byte_of_a_stream_is_a_499_and_gives_its_place_back(
    aiohttp_server, start_proxy, tmp_path
):
    # The client gives up while the upstream has not answered yet: by the time the stream's answer
    # starts, nobody is there to read its first byte. Its clean-up must still run: the log line,
    # the active-streams gauge, and the place it held under --max-concurrency.
    fake = await lenient_chat_upstream(aiohttp_server, tmp_path / "rules")
    proxy = start_proxy(tmp_path / "rules", args=("--log-format", "json", "--max-concurrency", "1"))
    release = asyncio.Event()
    fake.reply_stream(text_chunks("late"), delay=1.0, hold=(1, release))
    body = {"model": "m", **hi(stream=True)}
    async with aiohttp.ClientSession() as http:
        try:
            with pytest.raises(TimeoutError):
                headers = {"X-Request-Id": "gone-before-the-first-byte"}
                async with (
                    asyncio.timeout(0.3),
                    http.post(f"{proxy.base_url}/chat/completions", json=body, headers=headers),
                ):
                    pass
            [line] = await wait_for(lambda: log_lines(proxy, "gone-before-the-first-byte"), timeout=10)
        finally:
            release.set()
        assert (line["status"], line["error"]) == (499, "client went away")
        assert metric(await get_metrics(http, proxy), "switchyard_active_streams") == 0
        fake.reply_stream(text_chunks("again"))
        async with http.post(f"{proxy.base_url}/chat/completions", json=body) as again:  # the one place is free
            assert again.status == 200 and b"again" in await again.read()
