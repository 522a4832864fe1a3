"""Limits per client and per pack: requests and tokens per minute, checked before the upstream call.

A pack's `limits:` say how much one client (`per: client`) or everyone together (`per: pack`) may
use. A client is the name of the client token it presented (`--client-token-file` lines `name:token`;
an unnamed token is `token-N`, its place in the list), or its address when the server has no tokens.

The algorithm is GCRA (the generic cell rate algorithm), one number per limit and client: the
"theoretical arrival time" (TAT), the moment by which everything admitted so far would have been
spent at the limit's steady rate. A request is admitted when, with its own cost added, the TAT is at
most one minute ahead of now; otherwise it is refused with `Retry-After` = how far beyond that it
would be. So a client may use a whole minute's budget at once and then its steady rate; unlike a
fixed window there is no edge at which two minutes' worth passes, and unlike a sliding log it keeps
one number, not one entry per request.

Requests cost `60 / requests_per_minute` seconds of TAT each. Tokens are known only when the answer
is over: a request is admitted while its client's token TAT has room for one token, and when the
request ends the tokens the provider reported (input and output, `usage` of a body or of a stream's
last events) are added. A request may therefore overshoot the budget by its own size; the next one
then waits until the debt is paid.

Where the TATs live is a `Store`: this process's memory (the default), or Redis
(`--rate-limit-store redis://HOST:PORT/DB`, `server/limit_store.py`), shared by every worker and
replica. `--rate-limit-on-store-error open|closed` says what a request gets when Redis fails mid-way:
admitted (and the failure counted and logged) or 503.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from typing import Protocol

from switchyard.errors import ClientFacing, RequestError
from switchyard.language.pack import Pack

log = logging.getLogger("switchyard.limits")

WINDOW = 60.0  # seconds: the rates are per minute, and a minute's budget may be used at once


class Over(RequestError):
    """A request over a limit: 429, with the seconds to wait for `Retry-After`."""

    def __init__(self, pack: str, per: str, kind: str, client: str, retry_after: int):
        who = f"client {client}" if per == "client" else "all clients together"
        rate = "requests" if kind == "r" else "tokens"
        super().__init__(
            f"rate limit of pack {pack} reached: {rate} per minute for {who}; retry in {retry_after} s",
            code="rate_limit_exceeded",
            status=429,
            type=rate,  # OpenAI's own types for a 429 are "requests" and "tokens"
        )
        self.pack, self.per, self.kind, self.client, self.retry_after = pack, per, kind, client, retry_after


class StoreUnavailable(ClientFacing):
    """`--rate-limit-on-store-error closed` and the store failed: 503, try again shortly."""

    retry_after = 1

    def __init__(self):
        super().__init__("the rate-limit store is unavailable; retry shortly", code="rate_limit_store", status=503)


class Store(Protocol):
    async def admit(self, keys: list[str], costs: list[float]) -> tuple[float, int]:
        """Add `costs` (seconds) to the TATs of `keys` if every one stays within the window; return
        (0, -1) when admitted, else (seconds to wait, index of the key most over)."""

    async def charge(self, keys: list[str], costs: list[float]) -> None:
        """Add `costs` to the TATs of `keys` whatever they come to (tokens reported after the answer)."""


class LocalStore:
    """The TATs in this process's memory (a dict); ones already in the past are dropped now and then."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self.tat: dict[str, float] = {}

    def admit_now(self, keys: list[str], costs: list[float]) -> tuple[float, int]:
        now = self.clock()
        tat = self.tat
        news = []
        wait, worst = 0.0, -1
        for i, key in enumerate(keys):
            new = max(tat.get(key, now), now) + costs[i]
            news.append(new)
            over = new - now - WINDOW
            if over > wait:
                wait, worst = over, i
        if worst >= 0:
            return wait, worst
        for i, key in enumerate(keys):
            tat[key] = news[i]
        if len(tat) > 100_000:  # clients come and go (addresses): forget those whose TAT has passed
            self.tat = {k: v for k, v in tat.items() if v > now}
        return 0.0, -1

    async def admit(self, keys: list[str], costs: list[float]) -> tuple[float, int]:
        return self.admit_now(keys, costs)

    async def charge(self, keys: list[str], costs: list[float]) -> None:
        now = self.clock()
        for key, cost in zip(keys, costs, strict=True):
            self.tat[key] = max(self.tat.get(key, now), now) + cost


class Admitted:
    """A request within its limits; `done(tokens)` charges the tokens it used to its token limits."""

    __slots__ = ("costs", "keys", "limits")

    def __init__(self, limits: Limits, keys: list[str], costs: list[float]):
        self.limits, self.keys, self.costs = limits, keys, costs

    def done(self, tokens: int) -> None:
        if tokens > 1 and self.keys:  # one token of each was reserved when the request was admitted
            self.limits.charge(self.keys, [(tokens - 1) * c for c in self.costs])


class Limits:
    """The limits of a server: checks a request against its pack's `limits`, through one store."""

    def __init__(self, store: Store | None = None, on_store_error: str = "open", on_refusal=None, on_store_fail=None):
        self.store = store or LocalStore()
        self.local = isinstance(self.store, LocalStore)
        self.closed = on_store_error == "closed"
        self.on_refusal = on_refusal or (lambda pack, per: None)  # metrics
        self.on_store_fail = on_store_fail or (lambda: None)
        self._tasks: set[asyncio.Task] = set()
        self._plans: dict[int, tuple[Pack, list]] = {}

    def _plan(self, pack: Pack) -> list:
        """The pack's limits as (per, kind, cost in seconds): compiled once per pack record."""
        found = self._plans.get(id(pack))
        if found is not None and found[0] is pack:
            return found[1]
        plan = []
        for limit in pack.limits:
            for kind, rate in (("r", limit.requests_per_minute), ("t", limit.tokens_per_minute)):
                if rate:
                    # The key names the rate too: a reload that changes a limit starts its count afresh.
                    plan.append((limit.per, kind, WINDOW / rate, f"{pack.name}|{limit.per}|{kind}{rate}|"))
        if len(self._plans) > 1024:
            self._plans.clear()
        self._plans[id(pack)] = (pack, plan)
        return plan

    async def admit(self, pack: Pack, client: str) -> Admitted | None:
        """None when the pack has no limits; raises `Over` (429) or `StoreUnavailable` (503)."""
        if not pack.limits:
            return None
        plan = self._plan(pack)
        keys = [prefix + (client if per == "client" else "*") for per, _, _, prefix in plan]
        costs = [cost for _, _, cost, _ in plan]  # a request reserves one token of each token limit
        try:
            if self.local:
                wait, worst = self.store.admit_now(keys, costs)
            else:
                wait, worst = await self.store.admit(keys, costs)
        except Exception as exc:  # the store went away mid-flight (Redis down, a timeout)
            self.on_store_fail()
            log.warning(
                "rate-limit store failed (%s); request %s", type(exc).__name__, "refused" if self.closed else "admitted"
            )
            if self.closed:
                raise StoreUnavailable() from None
            return None
        if worst >= 0:
            per, kind = plan[worst][0], plan[worst][1]
            self.on_refusal(pack.name, per)
            raise Over(pack.name, per, kind, client, max(1, math.ceil(wait)))
        tokens = [(k, c) for (_, kind, c, _), k in zip(plan, keys, strict=True) if kind == "t"]
        return Admitted(self, [k for k, _ in tokens], [c for _, c in tokens])

    def charge(self, keys: list[str], costs: list[float]) -> None:
        if self.local:
            now = self.store.clock()
            tat = self.store.tat
            for key, cost in zip(keys, costs, strict=True):
                tat[key] = max(tat.get(key, now), now) + cost
            return
        task = asyncio.get_running_loop().create_task(self._charge(keys, costs))
        self._tasks.add(task)  # kept until done: a task nobody references may be collected mid-run
        task.add_done_callback(self._tasks.discard)

    async def _charge(self, keys: list[str], costs: list[float]) -> None:
        try:
            await self.store.charge(keys, costs)
        except Exception as exc:
            self.on_store_fail()
            log.warning("rate-limit store failed while counting tokens (%s)", type(exc).__name__)
