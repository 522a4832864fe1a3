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
    """The TATs in this process's memory: one cell (a one-item list) per key, so that a client's checks
    reach their cells through one cached list (`Plan.admitted`) without building or hashing a key."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self.cells: dict[str, list[float]] = {}

    def cell(self, key: str) -> list[float]:
        found = self.cells.get(key)
        if found is None:
            found = self.cells[key] = [0.0]
        return found

    def admit_cells(self, cells: list[list[float]], costs: list[float]) -> tuple[float, int]:
        now = self.clock()
        limit = now + WINDOW
        for cell, cost in zip(cells, costs):  # noqa: B905 - built together, one cost per cell
            tat = cell[0]
            if (tat if tat > now else now) + cost > limit:  # over: nothing is charged
                return self._over(cells, costs, now, limit)
        for cell, cost in zip(cells, costs):  # noqa: B905
            tat = cell[0]
            cell[0] = (tat if tat > now else now) + cost
        return 0.0, -1

    @staticmethod
    def _over(cells, costs, now: float, limit: float) -> tuple[float, int]:
        # The limit most over says how long to wait.
        news = [max(cell[0], now) + cost for cell, cost in zip(cells, costs)]  # noqa: B905
        worst = max(range(len(news)), key=news.__getitem__)
        return news[worst] - limit, worst

    def forget_past(self) -> None:
        """Clients come and go (addresses): drop the cells whose TAT has passed."""
        now = self.clock()
        self.cells = {k: c for k, c in self.cells.items() if c[0] > now}

    async def admit(self, keys: list[str], costs: list[float]) -> tuple[float, int]:
        return self.admit_cells([self.cell(k) for k in keys], costs)

    async def charge(self, keys: list[str], costs: list[float]) -> None:
        self.charge_cells([self.cell(k) for k in keys], costs)

    def charge_cells(self, cells: list[list[float]], costs: list[float]) -> None:
        now = self.clock()
        for cell, cost in zip(cells, costs, strict=True):
            cell[0] = max(cell[0], now) + cost


class Plan:
    """A pack's limits compiled for checks: each one's key prefix, who it counts (client or everyone),
    its cost in seconds of TAT per request (a token limit reserves one token), and which count tokens;
    and, per client, the `Admitted` its requests share (keys built once, cells found once)."""

    __slots__ = ("admitted", "costs", "kinds", "pack", "pers", "prefixes", "tokens")

    def __init__(self, pack: Pack):
        self.pack = pack
        self.prefixes: list[str] = []
        self.pers: list[str] = []
        self.kinds: list[str] = []
        self.costs: list[float] = []
        for limit in pack.limits:
            for kind, rate in (("r", limit.requests_per_minute), ("t", limit.tokens_per_minute)):
                if rate:
                    # The key names the rate too: a reload that changes a limit starts its count afresh.
                    self.prefixes.append(f"{pack.name}|{limit.per}|{kind}{rate}|")
                    self.pers.append(limit.per)
                    self.kinds.append(kind)
                    self.costs.append(WINDOW / rate)
        self.tokens = [i for i, kind in enumerate(self.kinds) if kind == "t"]
        self.admitted: dict[str, Admitted] = {}

    def keys(self, client: str) -> list[str]:
        return [prefix + (client if per == "client" else "*") for prefix, per in zip(self.prefixes, self.pers)]  # noqa: B905


class Admitted:
    """A client's requests within a pack's limits; `done(tokens)` charges the tokens one used."""

    __slots__ = ("cells", "keys", "limits", "plan")

    def __init__(self, limits: Limits, plan: Plan, keys: list[str], cells: list[list[float]] | None):
        self.limits, self.plan, self.keys, self.cells = limits, plan, keys, cells

    def done(self, tokens: int) -> None:
        plan = self.plan
        if tokens <= 1 or not plan.tokens:  # one token of each was reserved when the request was admitted
            return
        costs = [(tokens - 1) * plan.costs[i] for i in plan.tokens]
        if self.cells is not None:
            self.limits.store.charge_cells([self.cells[i] for i in plan.tokens], costs)
        else:
            self.limits.charge([self.keys[i] for i in plan.tokens], costs)


class Limits:
    """The limits of a server: checks a request against its pack's `limits`, through one store.

    `local` says which call the proxy makes: `admit_now` (this process's memory: no coroutine, no
    await) or `admit` (the shared store).
    """

    def __init__(self, store: Store | None = None, on_store_error: str = "open", on_refusal=None, on_store_fail=None):
        self.store = store or LocalStore()
        self.local = isinstance(self.store, LocalStore)
        self.closed = on_store_error == "closed"
        self.on_refusal = on_refusal or (lambda pack, per: None)  # metrics
        self.on_store_fail = on_store_fail or (lambda: None)
        self._tasks: set[asyncio.Task] = set()
        self._plans: dict[int, Plan] = {}

    def _plan(self, pack: Pack) -> Plan:
        """Compiled once per pack record (a reload makes new records, so a changed limit gets a new plan)."""
        plan = self._plans.get(id(pack))
        if plan is not None and plan.pack is pack:
            return plan
        if len(self._plans) > 1024:
            self._plans.clear()
        plan = self._plans[id(pack)] = Plan(pack)
        return plan

    def admit_now(self, pack: Pack, client: str) -> Admitted | None:
        """The check in this process's memory; None when the pack has no limits; raises `Over` (429)."""
        if not pack.limits:
            return None
        plan = self._plan(pack)
        admitted = plan.admitted.get(client)
        if admitted is None:
            admitted = self._first_of(plan, client)
        wait, worst = self.store.admit_cells(admitted.cells, plan.costs)
        if worst >= 0:
            self._refuse(plan, worst, client, wait)
        return admitted

    def _first_of(self, plan: Plan, client: str) -> Admitted:
        store = self.store
        if len(store.cells) > 100_000:  # forget clients long gone, and every cached list of cells with them
            store.forget_past()
            for known in self._plans.values():
                known.admitted.clear()
        keys = plan.keys(client)
        admitted = plan.admitted[client] = Admitted(self, plan, keys, [store.cell(k) for k in keys])
        return admitted

    async def admit(self, pack: Pack, client: str) -> Admitted | None:
        """The check in whichever store; raises `Over` (429) or `StoreUnavailable` (503)."""
        if self.local:
            return self.admit_now(pack, client)
        if not pack.limits:
            return None
        plan = self._plan(pack)
        keys = plan.keys(client)
        try:
            wait, worst = await self.store.admit(keys, plan.costs)
        except Exception as exc:  # the store went away mid-flight (Redis down, a timeout)
            self.on_store_fail()
            log.warning(
                "rate-limit store failed (%s); request %s", type(exc).__name__, "refused" if self.closed else "admitted"
            )
            if self.closed:
                raise StoreUnavailable() from None
            return None
        if worst >= 0:
            self._refuse(plan, worst, client, wait)
        return Admitted(self, plan, keys, None)

    def _refuse(self, plan: Plan, worst: int, client: str, wait: float) -> None:
        self.on_refusal(plan.pack.name, plan.pers[worst])
        raise Over(plan.pack.name, plan.pers[worst], plan.kinds[worst], client, max(1, math.ceil(wait)))

    def charge(self, keys: list[str], costs: list[float]) -> None:
        """Tokens counted in the shared store, after the answer (a task: the request does not wait)."""
        task = asyncio.get_running_loop().create_task(self._charge(keys, costs))
        self._tasks.add(task)  # kept until done: a task nobody references may be collected mid-run
        task.add_done_callback(self._tasks.discard)

    async def _charge(self, keys: list[str], costs: list[float]) -> None:
        try:
            await self.store.charge(keys, costs)
        except Exception as exc:
            self.on_store_fail()
            log.warning("rate-limit store failed while counting tokens (%s)", type(exc).__name__)
