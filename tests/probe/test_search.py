"""The bisection over features: it finds every rejected feature whether or not the errors name them.

A provider is modelled here as a set of features it refuses: a body is refused when it carries one of
them, with an error that either names it (as DashScope and OpenAI do) or says only "invalid request".
"""

from __future__ import annotations

import math

import pytest

from switchyard.probe.client import Exchange
from switchyard.probe.search import Search, named_by
from switchyard.probe.session import catalogue

FEATURES = [f for f in catalogue("chat", "m").features if f.tier == 1]


def provider(refused: set[str], *, names: bool):
    sent: list[list[str]] = []

    async def send(features, label):
        sent.append([f.name for f in features])
        bad = [f for f in features if f.name in refused]
        exchange = Exchange(len(sent), label, {}, status=400 if bad else 200)
        if bad:
            exchange.answer = f"Unrecognized request argument supplied: {bad[0].field}" if names else "invalid request"
        return exchange

    return send, sent


@pytest.mark.parametrize("names", [True, False], ids=["errors name the field", "errors name nothing"])
@pytest.mark.parametrize(
    "refused",
    [set(), {"field store"}, {"field store", "field user", "field seed"}, {f.name for f in FEATURES[::2]}],
    ids=["none", "one", "three", "half"],
)
async def test_every_refused_feature_is_found_and_every_other_accepted(names, refused):
    send, _ = provider(refused, names=names)
    search = Search(send)
    await search.run(FEATURES)
    assert set(search.rejected) == refused
    assert {f.name for f, _ in search.accepted} == {f.name for f in FEATURES} - refused
    for _, exchange in search.rejected.values():
        assert exchange.status == 400  # each rejection cites a refused request


async def test_an_error_naming_the_field_costs_one_request_per_refused_feature():
    refused = {"field store", "field user", "field seed"}
    send, sent = provider(refused, names=True)
    await Search(send).run([f for f in FEATURES if f.field])
    assert len(sent) == len(refused) + 1


async def test_without_names_a_few_refused_features_cost_far_fewer_requests_than_one_each():
    refused = {"field store"}
    send, sent = provider(refused, names=False)
    await Search(send).run(FEATURES)
    # at most two requests per halving (the first half, then the second), and the first one
    assert len(sent) <= 1 + 2 * math.ceil(math.log2(len(FEATURES))) < len(FEATURES)


@pytest.mark.parametrize(
    "answer",
    [
        "Invalid value: 'reasoning_effort'. Supported values are: 'model', 'messages', 'user'.",
        "Unrecognized request argument supplied: reasoning_effort; allowed fields include user, seed",
        "Only 'model', 'messages' and 'user' are allowed, got reasoning_effort",
        "'reasoning_effort' is invalid: expected one of 'user', 'stop'",
    ],
)
def test_a_field_the_refusal_lists_as_accepted_is_not_the_one_blamed(answer):
    by_field = {f.field: f for f in FEATURES if f.field}
    candidates = [by_field["user"], by_field["reasoning_effort"]]
    exchange = Exchange(1, "two fields", {}, status=400)
    exchange.answer = answer
    assert named_by(exchange, candidates) is by_field["reasoning_effort"]
