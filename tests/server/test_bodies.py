"""Request bodies no client should send, in every client protocol: each gets a 400 in that protocol's
error shape, or (duplicate keys, a huge but valid body) a whole answer; the process stays up.

The rig is `fault_kit.py`'s (one pack per direction in front of `fakes/faulty.py`, which answers
`<direction>.ok` with a whole stream).
"""

from __future__ import annotations

import io

import aiohttp
import orjson
import pytest
from client_protocols import ROUTES, body_for, error_message, read
from fakes.faulty import TEXT
from fault_kit import DIRECTIONS

# one direction per client protocol
CLIENTS = {"chat": "c2c", "responses": "r2c", "messages": "m2c"}


async def post(proxy, client: str, data: bytes):
    async with aiohttp.ClientSession() as http:
        headers = {"Content-Type": "application/json"}
        async with http.post(proxy.url + ROUTES[client], data=io.BytesIO(data), headers=headers) as r:
            return r.status, r.headers.get("Content-Type", ""), await r.read()


@pytest.mark.parametrize("client", sorted(CLIENTS))
@pytest.mark.parametrize("raw", [b"[]", b'"hi"', b"1", b"null", b"true"], ids=lambda r: r.decode())
async def test_a_body_that_is_not_an_object_is_a_400_in_the_clients_error_shape(fault_proxy, client, raw):
    status, _, answer = await post(fault_proxy, client, raw)
    assert status == 400
    assert "object" in error_message(client, orjson.loads(answer))


@pytest.mark.parametrize("client", sorted(CLIENTS))
@pytest.mark.parametrize("model", [None, 7, True, ["m"], {"name": "m"}], ids=repr)
async def test_a_model_that_is_not_a_string_is_a_400_naming_model_in_the_clients_error_shape(
    fault_proxy, client, model
):
    body = body_for(client, "x", False)
    if model is None:
        del body["model"]
    else:
        body["model"] = model
    status, _, answer = await post(fault_proxy, client, orjson.dumps(body))
    parsed = orjson.loads(answer)
    assert status == 400, parsed  # not a 404 "no pack serves ..."
    assert "model" in error_message(client, parsed)
    if client != "messages":  # Anthropic's error shape has no `param`
        assert parsed["error"]["param"] == "model"


@pytest.mark.parametrize("client", sorted(CLIENTS))
async def test_duplicate_keys_mean_the_last_one_and_the_upstream_sees_only_that_one(faulty, fault_proxy, client):
    direction = CLIENTS[client]
    body = orjson.dumps(body_for(client, f"{direction}.ok", True)).decode()
    # The first `model` names no pack; the last one is the one routed on and the only one forwarded.
    raw = ('{"model": "nobody", "stream": false, ' + body[1:]).encode()
    status, content_type, answer = await post(fault_proxy, client, raw)
    outcome = read(client, status, content_type, answer)
    assert outcome.ok and outcome.text == "".join(TEXT)
    sent = [c for c in faulty[0].connections if c.body.get("model") == f"{direction}.ok"][-1]
    assert sent.raw.count(b'"model"') == 1 and sent.raw.count(b'"stream"') == 1 and b"nobody" not in sent.raw


@pytest.mark.parametrize("client", sorted(CLIENTS))
async def test_100_000_messages_are_carried_whole(faulty, fault_proxy, client):
    direction = CLIENTS[client]
    body = body_for(client, f"{direction}.ok", True)
    turns = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i}"} for i in range(100_001)]
    if client == "responses":
        body["input"] = turns
    else:
        body["messages"] = turns
    status, content_type, answer = await post(fault_proxy, client, orjson.dumps(body))
    assert read(client, status, content_type, answer).ok
    sent = [c for c in faulty[0].connections if c.body.get("model") == f"{direction}.ok"][-1]
    carried = sent.body.get("messages") or sent.body.get("input")
    assert len(carried) == 100_001 and carried[-1]["content"] in (
        "turn 100000",
        [{"type": "text", "text": "turn 100000"}],
    )


def test_every_client_protocol_is_tried():
    assert {DIRECTIONS[d][0] for d in CLIENTS.values()} == set(ROUTES)
