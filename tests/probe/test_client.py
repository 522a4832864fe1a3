"""The probe's HTTP side: the key never leaves the Authorization header, 429s are waited out within
bounds, 401/403 stop, and the budget is never exceeded."""

from __future__ import annotations

import pytest
from aiohttp import web

from switchyard.probe.client import BudgetSpent, Client, ProbeStopped, Refused

KEY = "sk-echoed-secret-777"
SEEN = web.AppKey("seen", list)


def app(*answers: tuple[int, dict, dict]) -> web.Application:
    """Answers in order (status, body, headers); the last repeats. Every body may quote the caller's key."""
    seen: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization", ""))
        status, body, headers = answers[min(len(seen), len(answers)) - 1]
        text = str(body).replace("AUTH", request.headers.get("Authorization", ""))
        if status < 400:
            return web.json_response(body)
        param = text if "AUTH" in str(body) else None  # a provider quoting the header in `param` too
        return web.json_response({"error": {"message": text, "param": param}}, status=status, headers=headers)

    application = web.Application()
    application.router.add_post("/v1/chat/completions", handle)
    application[SEEN] = seen
    return application


async def client_for(aiohttp_server, application, **kwargs) -> Client:
    server = await aiohttp_server(application)
    return Client(str(server.make_url("/v1")), "/chat/completions", KEY, max_requests=kwargs.pop("max_requests", 5))


async def test_a_provider_quoting_the_key_back_never_gets_it_into_what_the_probe_keeps(aiohttp_server):
    application = app((400, {"m": "bad key AUTH"}, {}))
    async with await client_for(aiohttp_server, application) as client:
        exchange = await client.send({"model": "m"}, "a body")
    assert application[SEEN] == [f"Bearer {KEY}"]  # it was sent, in the header only
    assert KEY not in exchange.answer + (exchange.param or "") + exchange.cite()
    assert "***" in exchange.answer


async def test_a_429_with_a_long_retry_after_stops_instead_of_waiting(aiohttp_server):
    application = app((429, {"m": "slow down"}, {"Retry-After": "3600"}))
    async with await client_for(aiohttp_server, application) as client:
        with pytest.raises(ProbeStopped, match="asked to wait 3600 s"):
            await client.send({"model": "m"}, "a body")


@pytest.mark.parametrize("status", [401, 403])
async def test_401_and_403_stop_the_probe(aiohttp_server, status):
    application = app((status, {"m": "no"}, {}))
    async with await client_for(aiohttp_server, application) as client:
        with pytest.raises(Refused, match=f"answered {status}"):
            await client.send({"model": "m"}, "a body")
    assert len(application[SEEN]) == 1


async def test_the_request_past_the_budget_is_never_sent(aiohttp_server):
    application = app((200, {"ok": True}, {}))
    async with await client_for(aiohttp_server, application, max_requests=2) as client:
        await client.send({"model": "m"}, "one")
        await client.send({"model": "m"}, "two")
        with pytest.raises(BudgetSpent):
            await client.send({"model": "m"}, "three")
    assert len(application[SEEN]) == 2


async def test_a_5xx_is_sent_once_more_before_it_counts_as_the_answer(aiohttp_server):
    application = app((503, {"m": "busy"}, {}), (200, {"ok": True}, {}))
    async with await client_for(aiohttp_server, application) as client:
        exchange = await client.send({"model": "m"}, "a body")
    assert exchange.ok and exchange.number == 2 and len(application[SEEN]) == 2


async def test_a_200_carrying_an_error_is_a_refusal(aiohttp_server):
    application = app((200, {"error": {"message": "Unknown field: seed", "param": "seed"}}, {}))
    async with await client_for(aiohttp_server, application) as client:
        exchange = await client.send({"model": "m"}, "a body")
    assert not exchange.ok
    assert (exchange.answer, exchange.param) == ("Unknown field: seed", "seed")
