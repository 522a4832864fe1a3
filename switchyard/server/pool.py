"""Several keys and endpoints per pack: which endpoint and key a call uses, and which of them rest.

A pack's upstream has one or more endpoints (`url`, or `endpoints` with weights), each with keys of
its own or the pack's (`api_key`, one or a list). A `Pool` keeps, per pack, what this process knows
of them: consecutive failures of each endpoint, and until when an endpoint or a key rests.

- Keys are used in turn. One answered 401, 403 or 429 rests for the answer's `Retry-After`, else
  `rest.for` seconds, and the proxy tries another key at once (`server/proxy.py`).
- An endpoint that fails `rest.after` times in a row (no answer, 5xx, 429) rests likewise.
- Without affinity, endpoints are chosen by smooth weighted round robin (nginx's): deterministic, so a
  3:1 weight is a 3:1 split from the first calls on, with no counter that can pile traffic onto one.
- With `affinity` (a JMESPath on the client's request), rendezvous hashing: each healthy endpoint gets
  a score from a hash of the value and the endpoint, scaled by its weight (`-weight / ln(u)`), and the
  highest wins; the same for keys. The same value lands on the same endpoint and key while they are
  healthy, and only the values of a resting one move. The hash is keyed by nothing of the process
  (blake2b, not Python's salted `hash`), so every worker and replica agrees.

A pack with one endpoint and one key and no `rest:` is not pooled (`active` is false): nothing rests,
and a provider's failure reaches the client exactly as before.

Design choice: the state lives here, beside the compiled pack and never in it, keyed by pack name and
kept across a reload while the pack's upstream is the same (`Pools.get`).
"""

from __future__ import annotations

import hashlib
import math
import struct
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import orjson

from switchyard.language.pack import Pack, Upstream
from switchyard.server import attempts

KEY_STATUSES = frozenset({401, 403, 429})  # the key is to blame: it rests, another key is tried
_SPAN = float(1 << 64) + 1.0


class Pick:
    """One call's choice: the endpoint's and key's indexes, and the upstream record to call with."""

    __slots__ = ("endpoint", "key", "upstream")

    def __init__(self, endpoint: int, key: int, upstream: Upstream):
        self.endpoint, self.key, self.upstream = endpoint, key, upstream


def affinity_key(value: Any) -> str | bytes | None:
    """An affinity value as the pool takes it: text as it is, anything else as canonical JSON; None when
    the request has none (it then goes by weight)."""
    if value is None or value == "":
        return None
    return value if type(value) is str else orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def affinity_hash(key: str | bytes, slots: int) -> tuple[int, ...]:
    """`slots` 64-bit words from one hash of an affinity key: a score for each endpoint, then for each key.

    blake2b, keyed by nothing of the process (Python's own `hash` of a string changes with every process),
    so every worker and replica scores a value alike. One digest gives eight words; more are rare.
    """
    data = key.encode() if type(key) is str else key
    if slots <= 8:
        return _WORDS[slots](hashlib.blake2b(data, digest_size=8 * slots).digest())
    digest = b"".join(
        hashlib.blake2b(data, digest_size=64, salt=n.to_bytes(16, "little")).digest() for n in range(-(-slots // 8))
    )
    return struct.unpack_from(f"<{slots}Q", digest)


_WORDS = [struct.Struct(f"<{n}Q").unpack for n in range(9)]


class Pool:
    """What one process knows of one pack's endpoints and keys, and the choice of each call."""

    def __init__(
        self,
        name: str,
        upstream: Upstream,
        on_rest: Callable[[str, int, int | None], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.name = name
        self.upstream = upstream
        self.clock = clock
        self.on_rest = on_rest or (lambda pack, endpoint, key: None)
        endpoints = upstream.endpoints or ()
        keys = [e.api_keys or upstream.api_keys or (upstream.api_key,) for e in endpoints]
        single = len(endpoints) == 1 and len(keys[0]) == 1
        # The record each call is made with: the pack's, with this endpoint's URL and this key in it.
        self.calls = [
            [upstream if single else replace(upstream, url=e.url, api_key=k) for k in ks]
            for e, ks in zip(endpoints, keys, strict=True)
        ]
        self.weights = [e.weight for e in endpoints]
        self.active = not single or upstream.rest_given
        self.failures = [0] * len(endpoints)
        self.endpoint_until = [0.0] * len(endpoints)
        self.key_until = [[0.0] * len(ks) for ks in keys]
        self.turn = [0] * len(endpoints)  # the next key of each endpoint
        self.current = [0.0] * len(endpoints)  # smooth weighted round robin
        # Scores of an affinity value: one word per endpoint, then one per key of the widest endpoint.
        self.slots = len(endpoints) + max(len(ks) for ks in keys)
        self.picks = [[Pick(i, j, call) for j, call in enumerate(row)] for i, row in enumerate(self.calls)]
        self.first = self.picks[0][0]
        self.everyone = list(range(len(endpoints)))
        # Nothing rests from this moment on (the latest end of any rest): until then the careful path runs.
        self.calm_from = 0.0
        # Affinity key -> its pick, while nothing rests: a conversation's later turns cost one dict lookup.
        self.sticky: dict[str | bytes, Pick] = {}
        # While nothing rests, the weighted order repeats every sum(weights) calls (whole weights): played
        # from a list made once, rather than worked out on every call.
        self.schedule: list[int] = []
        self.tick = 0
        if len(endpoints) > 1 and all(w == int(w) for w in self.weights) and sum(self.weights) <= 10_000:
            self.schedule = [self._weighted(self.everyone) for _ in range(int(sum(self.weights)))]
        self.size = sum(len(ks) for ks in keys)  # endpoint and key pairs: a bound on the keys one request tries

    # -- the choice

    def pick(self, affinity: str | bytes | None = None, avoid: Pick | None = None) -> Pick | None:
        """The endpoint and key of the next call, or None when every one rests.

        `affinity`: the request's affinity key (`affinity_key`), None for none. `avoid`: the pick whose
        call just failed; another endpoint (or, on the same endpoint, another key) is taken when one is healthy.
        """
        if not self.active:
            return self.first
        now = self.clock()
        if avoid is None and now >= self.calm_from:  # the usual case: nothing rests
            if affinity is None:
                if self.schedule:
                    endpoint = self.schedule[self.tick]
                    self.tick = (self.tick + 1) % len(self.schedule)
                else:
                    endpoint = self._weighted(self.everyone) if len(self.everyone) > 1 else 0
                keys = self.picks[endpoint]
                j = self.turn[endpoint]
                self.turn[endpoint] = (j + 1) % len(keys)
                return keys[j]
            found = self.sticky.get(affinity)
            if found is None:
                if len(self.sticky) >= 65_536:  # conversations come and go
                    self.sticky.clear()
                found = self.sticky[affinity] = self._by_hash(
                    affinity_hash(affinity, self.slots), self.everyone, now, None
                )
            return found
        healthy = [i for i in range(len(self.calls)) if self.endpoint_until[i] <= now and self._has_key(i, now)]
        if not healthy:
            return None
        # After a failure, elsewhere when the endpoint has no other healthy key, or failed (not only its key).
        if (
            avoid is not None
            and len(healthy) > 1
            and avoid.endpoint in healthy
            and (not self._has_key(avoid.endpoint, now, but=avoid.key) or self.failures[avoid.endpoint])
        ):
            healthy.remove(avoid.endpoint)
        if affinity is None:
            endpoint = healthy[0] if len(healthy) == 1 else self._weighted(healthy)
            return self.picks[endpoint][self._in_turn(endpoint, now, avoid)]
        return self._by_hash(affinity_hash(affinity, self.slots), healthy, now, avoid)

    def _by_hash(self, hashed: tuple[int, ...], healthy: list[int], now: float, avoid: Pick | None) -> Pick:
        endpoint = healthy[0] if len(healthy) == 1 else self._rendezvous(healthy, hashed)
        return self.picks[endpoint][self._key_by_hash(endpoint, hashed, now, avoid)]

    def _has_key(self, endpoint: int, now: float, but: int | None = None) -> bool:
        return any(until <= now for j, until in enumerate(self.key_until[endpoint]) if j != but)

    def _weighted(self, healthy: list[int]) -> int:
        # Smooth weighted round robin: each turn every candidate gains its weight; the richest is chosen
        # and pays the total. Over any window of sum(weights) turns each gets exactly its share.
        current, weights = self.current, self.weights
        total, best = 0.0, healthy[0]
        for i in healthy:
            current[i] += weights[i]
            total += weights[i]
            if current[i] > current[best]:
                best = i
        current[best] -= total
        return best

    def _in_turn(self, endpoint: int, now: float, avoid: Pick | None) -> int:
        until = self.key_until[endpoint]
        n = len(until)
        start = self.turn[endpoint]
        for step in range(n):
            j = (start + step) % n
            if until[j] <= now and not (avoid is not None and avoid.endpoint == endpoint and avoid.key == j and n > 1):
                self.turn[endpoint] = (j + 1) % n
                return j
        return start % n  # only the avoided key is healthy

    def _rendezvous(self, healthy: list[int], scores: tuple[int, ...]) -> int:
        best, top = healthy[0], -math.inf
        for i in healthy:
            u = (scores[i] + 1) / _SPAN  # in (0, 1)
            score = -self.weights[i] / math.log(u)
            if score > top:
                best, top = i, score
        return best

    def _key_by_hash(self, endpoint: int, scores: tuple[int, ...], now: float, avoid: Pick | None) -> int:
        until, first = self.key_until[endpoint], len(self.calls)
        if len(until) == 1:
            return 0
        best, top = 0, -1
        for j, moment in enumerate(until):
            if moment > now or (avoid is not None and avoid.endpoint == endpoint and avoid.key == j):
                continue
            score = scores[first + j]
            if score > top:
                best, top = j, score
        return best

    def has_other(self, pick: Pick) -> bool:
        """Whether a healthy endpoint and key other than `pick` exists (a failed call can go there)."""
        if not self.active:
            return False
        now = self.clock()
        for i in range(len(self.calls)):
            if self.endpoint_until[i] > now:
                continue
            if self._has_key(i, now, but=pick.key if i == pick.endpoint else None):
                return True
        return False

    def retry_after(self) -> int:
        """Whole seconds until some endpoint and one of its keys are healthy again (at least 1)."""
        now = self.clock()
        soonest = min(max(self.endpoint_until[i], min(self.key_until[i])) for i in range(len(self.calls)))
        return max(1, math.ceil(soonest - now))

    # -- what calls came to

    def answered(self, pick: Pick, status: int, retry_after: str | None = None) -> None:
        """An HTTP answer: 401, 403 and 429 rest the key; 429 and 5xx count against the endpoint."""
        if not self.active:
            return
        if status in KEY_STATUSES:
            self._rest_key(pick, retry_after)
        if status == 429 or status >= 500:
            self._failed(pick.endpoint, retry_after)
        else:
            self.failures[pick.endpoint] = 0

    def unreachable(self, pick: Pick) -> None:
        """No HTTP answer (refused, timed out): a failure of the endpoint."""
        if self.active:
            self._failed(pick.endpoint, None)

    def _rest_key(self, pick: Pick, retry_after: str | None) -> None:
        self.key_until[pick.endpoint][pick.key] = self._resting_until(retry_after)
        self.on_rest(self.name, pick.endpoint, pick.key)

    def _failed(self, endpoint: int, retry_after: str | None) -> None:
        self.failures[endpoint] += 1
        if self.failures[endpoint] >= self.upstream.rest_after:
            self.failures[endpoint] = 0
            self.endpoint_until[endpoint] = self._resting_until(retry_after)
            self.on_rest(self.name, endpoint, None)

    def _resting_until(self, retry_after: str | None) -> float:
        until = self.clock() + self._rest_for(retry_after)
        self.calm_from = max(self.calm_from, until)
        self.sticky.clear()  # the conversations of what rests move now, and come back when it is healthy
        return until

    def _rest_for(self, retry_after: str | None) -> float:
        asked = attempts.retry_after_seconds(retry_after)
        return asked if asked is not None else self.upstream.rest_for

    # -- for /-/rules

    def state(self) -> list[dict]:
        """Each endpoint's and key's state (indexes only: never a key)."""
        now = self.clock()
        out = []
        for i, keys in enumerate(self.key_until):
            rest = self.endpoint_until[i] - now
            out.append(
                {
                    "index": i,
                    "weight": self.weights[i],
                    "state": "resting" if rest > 0 else "ok",
                    "resting_for": round(rest, 1) if rest > 0 else 0,
                    "failures_in_a_row": self.failures[i],
                    "keys": [
                        {"index": j, "state": "resting" if until > now else "ok"}
                        | ({"resting_for": round(until - now, 1)} if until > now else {})
                        for j, until in enumerate(keys)
                    ],
                }
            )
        return out


class Pools:
    """The pools of a process, one per pack; a reload keeps a pack's pool while its upstream is the same."""

    def __init__(self, on_rest: Callable[[str, int, int | None], None] | None = None):
        self.on_rest = on_rest
        self._by_id: dict[int, tuple[Upstream, Pool]] = {}
        self._by_name: dict[str, Pool] = {}

    def get(self, pack: Pack) -> Pool:
        found = self._by_id.get(id(pack.upstream))
        if found is not None and found[0] is pack.upstream:
            return found[1]
        pool = self._by_name.get(pack.name)
        if pool is None or pool.upstream != pack.upstream:
            pool = Pool(pack.name, pack.upstream, self.on_rest)
            self._by_name[pack.name] = pool
        if len(self._by_id) > 1024:  # records of packs long replaced by reloads
            self._by_id.clear()
        self._by_id[id(pack.upstream)] = (pack.upstream, pool)
        return pool

    def find(self, name: str) -> Pool | None:
        return self._by_name.get(name)
