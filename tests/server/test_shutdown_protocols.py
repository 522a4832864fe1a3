"""A stream that outlives the grace ends in its own client's protocol, for every client protocol:
what Codex (Responses), the OpenAI SDK (Chat) and Claude Code (Messages) each parse as a failure, as
whole events, after the events they already had (the Chat case is in test_shutdown.py)."""

from __future__ import annotations

import asyncio
import signal

import aiohttp
import orjson
import pytest
from fakes.chat_provider import chunk
from proxy_process import lenient_chat_upstream

CASES = {
    "responses": ("/v1/responses", {"model": "m", "input": "hi", "stream": True}),
    "messages": (
        "/v1/messages",
        {"model": "m", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}], "stream": True},
    ),
}


def frames(text: str) -> list[tuple[str | None, dict]]:
    """The SSE stream as (event name, data) pairs; every frame must be whole JSON."""
    out = []
    for frame in text.split("\n\n"):
        if not frame.strip():
            continue
        name = next((line[7:] for line in frame.splitlines() if line.startswith("event: ")), None)
        data = "".join(line[6:] for line in frame.splitlines() if line.startswith("data: "))
        out.append((name, orjson.loads(data)))
    return out


@pytest.mark.parametrize("client", sorted(CASES))
async def test_a_stream_outliving_the_grace_ends_with_its_protocols_failure_event(
    aiohttp_server, start_proxy, tmp_path, client
) -> None:
    fake = await lenient_chat_upstream(aiohttp_server, tmp_path / "rules")
    proxy = start_proxy(tmp_path / "rules", args=("--shutdown-delay", "0.2", "--grace", "1"))
    never = asyncio.Event()
    fake.reply_stream([chunk({"role": "assistant", "content": "Hel"}), chunk({}, "stop")], hold=(1, never))
    path, body = CASES[client]
    async with aiohttp.ClientSession() as http, http.post(proxy.url + path, json=body) as r:
        assert r.status == 200
        text = (await r.content.readuntil(b"\n\n")).decode()
        while "Hel" not in text:  # the text the client already had before the shutdown
            text += (await r.content.readuntil(b"\n\n")).decode()
        proxy.signal(signal.SIGTERM)
        text += (await r.read()).decode()
    never.set()
    events = frames(text)
    name, last = events[-1]
    if client == "responses":
        assert last["type"] == "response.failed" and "shutting down" in last["response"]["error"]["message"]
        assert any(e.get("type") == "response.output_text.delta" and e.get("delta") == "Hel" for _, e in events)
    else:
        assert name == "error" and last["type"] == "error" and "shutting down" in last["error"]["message"]
        assert any(e.get("delta", {}).get("text") == "Hel" for _, e in events)
    assert await asyncio.to_thread(proxy.proc.wait, 20) == 0
