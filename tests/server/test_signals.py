"""What an on-call engineer reads: log lines and metrics that tell the proxy's failures from the provider's.

Through the shared `switchyard serve` (JSON logs) and the strict fake upstreams: a provider's 400 is
logged with its own message, `source=upstream` and at `warning`; a pack's failing step at `error`
with `source=step`; a stream answered 200 that ended in an error event is counted as a failed
stream; upstream HTTP errors are counted by pack and status.
"""

from __future__ import annotations

from fakes.chat_provider import chunk
from server_kit import get_metrics, hi, log_lines, metric, post_json, wait_for


async def test_a_provider_400_is_logged_with_its_message_and_counted_by_status(proxy, http, chat_upstream):
    before = await get_metrics(http, proxy)
    headers = {"X-Request-Id": "signals-provider-400"}
    body = {"model": "chat-small", **hi(), "enable_turbo": True}
    status, _, _ = await post_json(http, f"{proxy.base_url}/chat/completions", body, headers=headers)
    assert status == 400

    [line] = await wait_for(lambda: log_lines(proxy, "signals-provider-400"))
    assert (line["level"], line["source"], line["status"]) == ("warning", "upstream", 400)
    assert line["error"] == "upstream 400: Unrecognized request argument supplied: enable_turbo"
    after = await get_metrics(http, proxy)
    labels = {"pack": "chat", "status": "400"}
    counted = metric(after, "switchyard_upstream_http_errors_total", **labels)
    assert counted - metric(before, "switchyard_upstream_http_errors_total", **labels) == 1


async def test_a_request_the_proxy_refuses_is_logged_as_the_proxys(proxy, http):
    headers = {"X-Request-Id": "signals-no-pack"}
    status, _, _ = await post_json(
        http, f"{proxy.base_url}/chat/completions", {"model": "nobody-serves-this", **hi()}, headers=headers
    )
    assert status == 404
    [line] = await wait_for(lambda: log_lines(proxy, "signals-no-pack"))
    assert (line["level"], line["source"]) == ("warning", "proxy")


async def test_a_failing_step_is_logged_at_error_as_the_steps(proxy, http, chat_upstream):
    headers = {"X-Request-Id": "signals-step"}
    status, _, _ = await post_json(http, f"{proxy.base_url}/chat/completions", {"model": 42, **hi()}, headers=headers)
    assert status == 500
    [line] = await wait_for(lambda: log_lines(proxy, "signals-step"))
    assert (line["level"], line["source"]) == ("error", "step")
    assert "request step 1 (compute)" in line["error"]


async def test_a_stream_that_ends_in_an_upstream_error_chunk_is_a_failed_stream_not_a_plain_200(
    proxy, http, chat_upstream
):
    before = await get_metrics(http, proxy)
    error = {"error": {"message": "The model is overloaded, key sk-abcdef123456 was fine", "code": "overloaded"}}
    chat_upstream.reply_stream([chunk({"role": "assistant", "content": "Hal"}), error])
    headers = {"X-Request-Id": "signals-failed-stream"}
    body = {"model": "chat-small", **hi(stream=True)}
    async with http.post(f"{proxy.base_url}/chat/completions", json=body, headers=headers) as r:
        assert r.status == 200
        await r.read()

    [line] = await wait_for(lambda: log_lines(proxy, "signals-failed-stream"))
    assert (line["status"], line["level"], line["source"]) == (200, "warning", "upstream")
    assert "The model is overloaded" in line["error"] and "sk-abcdef123456" not in line["error"]
    after = await get_metrics(http, proxy)
    labels = {"pack": "chat", "client": "chat", "source": "upstream"}
    counted = metric(after, "switchyard_failed_streams_total", **labels)
    assert counted - metric(before, "switchyard_failed_streams_total", **labels) == 1


async def test_a_served_request_is_logged_at_info_without_a_source(proxy, http, chat_upstream):
    headers = {"X-Request-Id": "signals-ok"}
    status, _, _ = await post_json(
        http, f"{proxy.base_url}/chat/completions", {"model": "chat-small", **hi()}, headers=headers
    )
    assert status == 200
    [line] = await wait_for(lambda: log_lines(proxy, "signals-ok"))
    assert line["level"] == "info" and line.get("source") is None


async def test_the_last_reload_is_a_gauge(proxy, http):
    text = await get_metrics(http, proxy)
    assert metric(text, "switchyard_last_reload_success") == 1
    assert metric(text, "switchyard_last_reload_timestamp_seconds") > 1.7e9
