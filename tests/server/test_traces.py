"""switchyard/server/traces.py: request traces through a real `switchyard serve` and the strict fake providers.

The question a trace must answer for a failed request is "what did we send, and which step did it":
the strict Chat fake refuses fields outside DashScope's allowlist with a 400 naming the field, and
each test checks that the trace names the field and the step that added it, renamed it into the
refused name, or the step that is missing (nobody removed what the client sent). The other tests
hold the promises around it: no key or client credential in any trace or in `switchyard trace`'s
output, no prompt text without `--trace-bodies` and the bodies with it, a bounded buffer that keeps
failed requests in preference, the admin gate, streams and bridged requests.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from fakes.chat_provider import text_chunks
from proxy_process import ProxyProcess, write_pack
from server_kit import CLIENT_KEY, PACK_KEY, log_lines, post_json

from switchyard.server.app import create_app

PROMPT = "PROMPT-TEXT-c81f0e-please-keep-me-private"
AUTH = {"Authorization": f"Bearer {CLIENT_KEY}"}


def trace_packs(folder: Path, chat_port: int) -> None:
    chat = f"http://127.0.0.1:{chat_port}/v1"
    write_pack(
        folder,
        "adds",
        f"""
        pack: adds
        match: "model == 'adds-model'"
        upstream: {{url: "{chat}", protocol: chat}}
        request:
          - drop: vendor_hint
          - default: {{vendor_flag: true}}
        """,
    )
    write_pack(
        folder,
        "plain",
        f"""
        pack: plain
        match: "model == 'plain-model'"
        upstream: {{url: "{chat}?api-key={PACK_KEY}", protocol: chat}}
        request:
          - drop: vendor_hint
          - match: "n > `1`"
            reject: "this model returns one choice only"
        """,
    )
    write_pack(
        folder,
        "bridged",
        f"""
        pack: bridged
        match: "model == 'bridged-model'"
        upstream: {{url: "{chat}", protocol: chat}}
        request:
          - rename: {{max_tokens: max_completion_tokens}}
        """,
    )
    write_pack(
        folder,
        "keyed",
        f"""
        pack: keyed
        match: "model == 'keyed-model'"
        upstream:
          url: {chat}
          protocol: chat
          api_key: ${{SWITCHYARD_TEST_PACK_KEY}}
          retries: 1
        """,
    )


def start(rules: Path, *args: str) -> ProxyProcess:
    env = {"SWITCHYARD_TEST_PACK_KEY": PACK_KEY}
    return ProxyProcess(rules, env=env, args=("--log-format", "json", *args)).wait_ready()


@pytest.fixture(name="rules", scope="module")
def rules_fixture(ports, tmp_path_factory) -> Path:
    rules = tmp_path_factory.mktemp("traced") / "rules"
    trace_packs(rules, ports.chat)
    return rules


@pytest.fixture(name="traced", scope="module")
def traced_fixture(rules):
    """The default: `--trace 100`, no bodies."""
    process = start(rules)
    yield process
    process.stop()


@pytest.fixture(name="with_bodies", scope="module")
def with_bodies_fixture(rules):
    process = start(rules, "--trace-bodies")
    yield process
    process.stop()


async def chat(http, proxy: ProxyProcess, model: str, **fields) -> tuple[int, str]:
    """A chat request with the prompt marker and the client key; (status, request id)."""
    body = {"model": model, "messages": [{"role": "user", "content": PROMPT}], **fields}
    async with http.post(f"{proxy.base_url}/chat/completions", json=body, headers=AUTH) as resp:
        await resp.read()
        return resp.status, resp.headers["X-Request-Id"]


async def trace(http, proxy: ProxyProcess, request_id: str) -> dict:
    async with http.get(f"{proxy.url}/-/requests/{request_id}") as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def every_trace(http, proxy: ProxyProcess) -> list[bytes]:
    """The listing and every trace in it, as the bytes the server sent."""
    async with http.get(f"{proxy.url}/-/requests") as resp:
        listing = await resp.read()
    out = [listing]
    for summary in orjson.loads(listing)["requests"]:
        async with http.get(f"{proxy.url}/-/requests/{summary['id']}") as resp:
            out.append(await resp.read())
    return out


def switchyard_trace(proxy: ProxyProcess, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "switchyard", "trace", *args, "--server", proxy.url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30)


# --- which step did it --------------------------------------------------------------------------------


async def test_a_field_a_step_added_is_traced_to_that_step(traced, chat_upstream, http) -> None:
    status, request_id = await chat(http, traced, "adds-model", vendor_hint="x")
    assert status == 400
    t = await trace(http, traced, request_id)
    assert (t["status"], t["failed"], t["source"], t["pack"], t["client"]) == (400, True, "upstream", "adds", "chat")
    [call] = t["attempts"]
    assert call["status"] == 400 and call["url"].endswith("/v1/chat/completions")
    assert "vendor_flag" in call["error_body"]["error"]["message"]
    assert t["sent_fields"] == ["model", "messages", "vendor_flag"] and t["replay"] == "as sent"
    steps = {c["label"]: c for c in t["changes"]}
    assert steps["request step 1 (drop) (line 5)"]["removed"] == ["vendor_hint"]
    assert steps["request step 2 (default) (line 6)"]["added"] == ["vendor_flag"]
    [why] = t["blame"]
    assert why["field"] == "vendor_flag" and why["origin"] == "request step 2 (default) (line 6)"
    assert why["story"][0] == "request step 2 (default) (line 6) added vendor_flag"


async def test_a_field_the_client_sent_and_no_step_removed_is_traced_to_the_missing_step(
    traced, chat_upstream, http
) -> None:
    status, request_id = await chat(http, traced, "plain-model", metadata={"user": "u1"})
    assert status == 400
    [why] = (await trace(http, traced, request_id))["blame"]
    assert why["field"] == "metadata" and why["origin"] == "client"
    assert why["story"] == [
        "the client sent metadata",
        "sent upstream as metadata; no step removed it (1 of 2 request steps ran)",
    ]
    assert "drop: metadata" in why["hint"]


async def test_a_bridged_request_shows_the_bridges_changes_and_the_steps_and_follows_renames(
    traced, chat_upstream, http
) -> None:
    body = {"model": "bridged-model", "input": PROMPT, "max_output_tokens": 64}
    status, headers, _ = await post_json(http, f"{traced.base_url}/responses", body)
    assert status == 400  # the strict fake refuses max_completion_tokens
    t = await trace(http, traced, headers["X-Request-Id"])
    assert t["client"] == "responses" and t["upstream"] == "chat"
    assert t["client_fields"] == ["model", "input", "max_output_tokens"]
    bridge, step = t["changes"]
    assert bridge["label"] == "bridge responses -> chat" and bridge["where"] == ""
    assert ["max_output_tokens", "max_tokens"] in bridge["renamed"] and "messages" in bridge["added"]
    assert step["renamed"] == [["max_tokens", "max_completion_tokens"]]
    [why] = t["blame"]
    assert why["story"] == [
        "the client sent max_output_tokens",
        "bridge responses -> chat renamed max_output_tokens -> max_tokens",
        "request step 1 (rename) (line 5) renamed max_tokens -> max_completion_tokens",
        "sent upstream as max_completion_tokens; no step removed it (1 of 1 request steps ran)",
    ]


async def test_a_request_a_step_rejected_shows_the_steps_up_to_the_one_that_ended_it(traced, http) -> None:
    status, request_id = await chat(http, traced, "plain-model", n=2)
    assert status == 400
    t = await trace(http, traced, request_id)
    assert t["attempts"] == [] and t["source"] == "proxy"
    assert t["ended"] == "request step 2 (reject) (line 7): this model returns one choice only"
    assert [c["label"] for c in t["changes"]] == ["request step 1 (drop) (line 5)"]


async def test_a_retried_call_is_one_attempt_each_and_the_served_request_has_no_changes(
    traced, chat_upstream, http
) -> None:
    chat_upstream.reply_error(503, {"error": {"message": "busy", "type": "server_error"}})
    status, request_id = await chat(http, traced, "keyed-model")
    assert status == 200
    t = await trace(http, traced, request_id)
    assert [(a["status"], a["retried"]) for a in t["attempts"]] == [(503, "503"), (200, None)]
    assert t["failed"] is False and "changes" not in t and "blame" not in t


async def test_the_log_line_of_an_upstream_4xx_names_the_fields_sent_and_a_served_one_does_not(
    traced, chat_upstream, http
) -> None:
    _, failed = await chat(http, traced, "adds-model")
    _, served = await chat(http, traced, "keyed-model")
    [line] = log_lines(traced, failed)
    assert line["sent_fields"] == "model,messages,vendor_flag" and line["status"] == 400
    assert log_lines(traced, served)[0]["sent_fields"] is None


# --- what a trace never holds, and what --trace-bodies adds -------------------------------------------


async def test_no_trace_and_no_switchyard_trace_output_holds_a_key_or_the_clients_credential(
    traced, with_bodies, chat_upstream, http
) -> None:
    for proxy in (traced, with_bodies):
        # Providers echo keys in their errors; the pack's key is also in one pack's URL query.
        chat_upstream.reply_error(401, {"error": {"message": f"Incorrect API key provided: {PACK_KEY}"}})
        chat_upstream.reply_error(401, {"error": {"message": f"Incorrect API key provided: {CLIENT_KEY}"}})
        chat_upstream.reply_stream(text_chunks("fine"))
        await chat(http, proxy, "keyed-model")
        await chat(http, proxy, "plain-model")
        await chat(http, proxy, "plain-model", stream=True)
        no_messages = {"model": "keyed-model"}  # refused by the fake: the key went upstream in x-api-key's place
        await post_json(http, f"{proxy.base_url}/chat/completions", no_messages, headers={"x-api-key": CLIENT_KEY})
        kept = b"\n".join(await every_trace(http, proxy))
        ids = [s["id"] for s in orjson.loads((await every_trace(http, proxy))[0])["requests"]]
        printed = [switchyard_trace(proxy, request_id) for request_id in ids]
        printed += [switchyard_trace(proxy, request_id, "--json") for request_id in ids[:2]]
        printed.append(switchyard_trace(proxy, "--list"))
        assert all(p.returncode == 0 for p in printed), [p.stderr for p in printed]
        everything = kept.decode() + "".join(p.stdout + p.stderr for p in printed)
        assert len(ids) >= 4 and "Incorrect API key provided: [key]" in everything
        assert PACK_KEY not in everything and CLIENT_KEY not in everything
        assert "sk-pack" not in everything and "sk-client" not in everything


async def test_without_trace_bodies_no_prompt_text_is_kept_and_with_it_the_bodies_are(
    traced, with_bodies, chat_upstream, http
) -> None:
    for proxy in (traced, with_bodies):
        await chat(http, proxy, "adds-model")  # failed: changes and blame, still no values
        await chat(http, proxy, "plain-model")  # served
        chat_upstream.reply_error(400, {"error": {"message": "bad"}})
    without = b"".join(await every_trace(http, traced))
    assert PROMPT not in without.decode() and b"vendor_flag" in without
    _, request_id = await chat(http, with_bodies, "adds-model")
    t = await trace(http, with_bodies, request_id)
    assert t["body"]["messages"][0]["content"] == PROMPT
    assert t["attempts"][0]["body"]["vendor_flag"] is True
    assert t["headers"]["authorization"] == "[redacted]" and t["attempts"][0]["headers"]["Content-Type"]


async def test_a_stream_is_traced_with_its_first_and_last_events_when_bodies_are_kept(
    with_bodies, chat_upstream, http
) -> None:
    chat_upstream.reply_stream(text_chunks("Hel", "lo"))
    body = {"model": "plain-model", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    async with http.post(f"{with_bodies.base_url}/chat/completions", json=body) as resp:
        request_id = resp.headers["X-Request-Id"]
        text = await resp.text()
    assert "data: [DONE]" in text
    t = await trace(http, with_bodies, request_id)
    assert t["stream"] is True and t["status"] == 200 and t["failed"] is False
    upstream, client = t["events"]["upstream"], t["events"]["client"]
    assert orjson.loads(upstream["first"])["choices"][0]["delta"]["role"] == "assistant"
    assert upstream["last"] == "[DONE]"
    assert upstream["count"] >= 4 and client["last"] == "data: [DONE]" and client["first"].startswith("data: {")


async def test_a_stream_cut_mid_way_is_a_failed_trace(traced, chat_upstream, http) -> None:
    chat_upstream.reply_cut(text_chunks("Hel", "lo", usage=False)[:2])
    body = {"model": "plain-model", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    async with http.post(f"{traced.base_url}/chat/completions", json=body) as resp:
        request_id = resp.headers["X-Request-Id"]
        await resp.read()
    t = await trace(http, traced, request_id)
    assert (t["status"], t["failed"], t["source"]) == (200, True, "upstream")
    assert t["sent_fields"] == ["model", "messages", "stream"] and "events" not in t


async def test_a_stream_is_traced_with_its_tokens_and_switchyard_trace_prints_them(traced, chat_upstream, http) -> None:
    chat_upstream.reply_stream(text_chunks("Hel", "lo"))
    body = {"model": "plain-model", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    async with http.post(f"{traced.base_url}/chat/completions", json=body) as resp:
        request_id = resp.headers["X-Request-Id"]
        await resp.read()
    t = await trace(http, traced, request_id)
    assert t["tokens"] == {"input": 10, "output": 5, "cached": 0, "cache_written": 0, "reasoning": 0}
    assert 0 < t["first_token_ms"] <= t["duration_ms"]
    out = switchyard_trace(traced, request_id)
    assert "tokens: in 10 (cached 0), out 5 (reasoning 0); first token after " in out.stdout


async def test_a_request_whose_answer_had_no_usage_is_traced_with_tokens_unknown(traced, chat_upstream, http) -> None:
    chat_upstream.reply_cut(text_chunks("Hel", "lo", usage=False)[:2])
    body = {"model": "plain-model", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    async with http.post(f"{traced.base_url}/chat/completions", json=body) as resp:
        request_id = resp.headers["X-Request-Id"]
        await resp.read()
    assert (await trace(http, traced, request_id))["tokens"] == "unknown"
    assert "tokens: unknown (the answer carried no usage)" in switchyard_trace(traced, request_id).stdout


# --- the buffer, the endpoints, the gate, the command --------------------------------------------------


async def test_the_buffer_keeps_n_traces_and_a_failed_one_outlives_newer_served_ones(
    rules, chat_upstream, http
) -> None:
    proxy = start(rules, "--trace", "3")
    try:
        _, failed = await chat(http, proxy, "adds-model")
        served = [(await chat(http, proxy, "plain-model"))[1] for _ in range(5)]
        listing = orjson.loads((await every_trace(http, proxy))[0])
        assert [r["id"] for r in listing["requests"]] == [served[4], served[3], failed]
        more_failed = [(await chat(http, proxy, "adds-model"))[1] for _ in range(3)]
        listing = orjson.loads((await every_trace(http, proxy))[0])
        assert [r["id"] for r in listing["requests"]] == more_failed[::-1] and listing["kept"] == 3
        async with http.get(f"{proxy.url}/-/requests/{failed}") as resp:
            assert resp.status == 404 and "the last 3 are kept" in (await resp.json())["error"]["message"]
    finally:
        proxy.stop()


async def test_the_listing_filters_failed_ones_and_limits_and_refuses_a_bad_limit(traced, chat_upstream, http) -> None:
    # Two failed requests of its own (adds-model's vendor_flag is refused), so it holds when run alone.
    await chat(http, traced, "plain-model")
    await chat(http, traced, "adds-model")
    await chat(http, traced, "adds-model")
    async with http.get(f"{traced.url}/-/requests?failed=1&limit=2") as resp:
        rows = (await resp.json())["requests"]
    assert len(rows) == 2 and all(r["failed"] for r in rows)
    assert set(rows[0]) == {"id", "time", "client", "pack", "model", "stream", "status", "failed", "source", "error",
                            "duration_ms"}  # fmt: skip
    async with http.get(f"{traced.url}/-/requests?limit=lots") as resp:
        assert resp.status == 400 and (await resp.json())["error"]["code"] == "invalid_limit"


async def test_with_trace_0_nothing_is_kept(rules, chat_upstream, http) -> None:
    proxy = start(rules, "--trace", "0")
    try:
        _, request_id = await chat(http, proxy, "adds-model")
        async with http.get(f"{proxy.url}/-/requests") as resp:
            assert (await resp.json())["requests"] == []
        async with http.get(f"{proxy.url}/-/requests/{request_id}") as resp:
            assert resp.status == 404 and "tracing is off" in (await resp.json())["error"]["message"]
        assert "tracing is off" in switchyard_trace(proxy, "--list").stdout
    finally:
        proxy.stop()


async def test_a_served_request_is_traced_when_the_log_level_hides_its_log_line(rules, chat_upstream, http) -> None:
    # Tracing and the access log are two promises: the log level silencing one must not silence the other.
    proxy = start(rules, "--log-level", "warning")
    try:
        status, served = await chat(http, proxy, "plain-model")
        assert status == 200 and log_lines(proxy, served) == []
        t = await trace(http, proxy, served)
        assert t["status"] == 200 and t["failed"] is False and [a["status"] for a in t["attempts"]] == [200]
        assert t["duration_ms"] > 0
    finally:
        proxy.stop()


async def asgi_get(app, path: str, host: str, authorization: str | None = None) -> int:
    """A GET through the app's own ASGI interface, from a peer at `host` (tests cannot use other addresses)."""
    headers = [(b"authorization", authorization.encode())] if authorization else []
    scope = {"type": "http", "method": "GET", "path": path, "raw_path": path.encode(), "query_string": b"",
             "headers": headers, "client": (host, 50000), "server": ("127.0.0.1", 8080), "scheme": "http",
             "http_version": "1.1", "root_path": ""}  # fmt: skip
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent[0]["status"]


@pytest.mark.parametrize("path", ["/-/requests", "/-/requests/req_1"])
async def test_the_trace_endpoints_are_admin_gated_like_the_other_admin_endpoints(rules, path, monkeypatch) -> None:
    monkeypatch.setenv("SWITCHYARD_TEST_PACK_KEY", PACK_KEY)
    app = create_app(str(rules), admin_token="s3cret-admin")
    assert await asgi_get(app, path, "192.0.2.10") == 403
    assert await asgi_get(app, path, "192.0.2.10", "Bearer wrong") == 403
    assert await asgi_get(app, path, "192.0.2.10", "Bearer s3cret-admin") in (200, 404)
    assert await asgi_get(app, path, "127.0.0.1") in (200, 404)


async def test_switchyard_trace_prints_the_changes_as_apply_explain_does_and_why_the_field_was_sent(
    traced, chat_upstream, http
) -> None:
    _, request_id = await chat(http, traced, "adds-model", vendor_hint="x")
    out = switchyard_trace(traced, request_id)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith(f"request {request_id} at ") and "pack adds (upstream chat)" in lines[0]
    assert "request step 1 (drop) (line 5): removed vendor_hint" in lines
    assert "request step 2 (default) (line 6): added vendor_flag" in lines
    assert "what was sent: model, messages, vendor_flag (the replay is as sent)" in lines
    assert "why vendor_flag was sent:" in lines and "  request step 2 (default) (line 6) added vendor_flag" in lines
    listed = switchyard_trace(traced, "--list", "--failed")
    assert request_id in listed.stdout and listed.stdout.startswith("time")
    missing = switchyard_trace(traced, "req_nobody_sent_this")
    assert missing.returncode == 2 and "no trace of request 'req_nobody_sent_this'" in missing.stderr


async def test_a_limit_of_digits_python_cannot_read_as_a_number_is_refused_not_a_500(traced, http) -> None:
    # "²" is a digit to str.isdigit() but not a number to int(): it must be a 400, not a crash.
    async with http.get(f"{traced.url}/-/requests", params={"limit": "\u00b2"}) as resp:
        assert resp.status == 400 and (await resp.json())["error"]["code"] == "invalid_limit"


def test_a_key_in_a_packs_url_query_is_among_the_secrets_scrubbed_from_a_trace() -> None:
    # A provider that echoes the URL it was called with in an error body must not put the key in a trace.
    from switchyard.language.pack import Upstream
    from switchyard.server import traces
    from switchyard.server.upstream import pack_secrets as upstream_secrets

    upstream = Upstream(url=f"https://api.example/v1?region=eu&api-key={PACK_KEY}", protocol="chat")
    secrets = upstream_secrets(upstream)
    assert PACK_KEY in secrets and "eu" not in secrets
    echoed = orjson.dumps({"error_body": f"bad request to /v1?region=eu&api-key={PACK_KEY}"})
    assert PACK_KEY.encode() not in traces._scrub(echoed, secrets)
