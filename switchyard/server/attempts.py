"""Retries and fallbacks: which upstream calls one request may make, and when another is allowed.

A call is tried again only while nothing has reached the client, so a client never sees two answers
or half of one: when the upstream could not be reached or did not answer in time, when it answered
429, 502, 503, 504 or 529, and when a stream ended or broke before its first event. Never after.

The pack's `upstream.retries` (default 0) says how many times its own upstream is tried again, with
jittered exponential backoff; a `Retry-After` the upstream sent is honoured (up to a bound, past
which the pack is given up on at once). When the retries are spent, the request goes to the pack's
`fallback:` entries in order, as the client sent it with `model` replaced, each through its own
bridge and steps (its `match` is not consulted) and its own retries and fallbacks, depth first.
Cycles are refused when packs load (`switchyard.language.ruleset`), so the plan is finite.

The design choice: the plan is a plain list made before the first call, so what a request may do is
decided by the rule set it started with, whatever reloads happen while it waits between attempts.
"""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass, field

from switchyard.language.pack import Pack
from switchyard.language.ruleset import RuleSet

RETRY_STATUSES = frozenset({429, 502, 503, 504, 529})
BASE_DELAY = 0.25  # seconds before the first retry; doubled for each further one
MAX_DELAY = 5.0
MAX_RETRY_AFTER = 30.0  # an upstream asking for a longer pause is not retried: the next pack is tried now


@dataclass(frozen=True)
class Target:
    """One pack to call, and the model to ask it for (None: the client's own)."""

    pack: Pack
    model: str | None = None


def plan(pack: Pack, rules: RuleSet) -> list[Target]:
    """The pack, then its fallbacks depth first: every target a request may be sent to, in order."""
    out = [Target(pack)]
    for entry in pack.fallback:
        target = rules.get(entry.pack)
        if target is None:  # refused at load; a rule set in force never has one
            continue
        for nested in plan(target, rules):
            # The entry's model applies to the pack it names; that pack's own entries bring their own.
            out.append(Target(nested.pack, nested.model if nested.pack is not target else entry.model))
    return out


def delay(retry: int, retry_after: str | None = None) -> float | None:
    """Seconds to wait before retry number `retry` (1-based); None when the upstream asks for too long."""
    asked = retry_after_seconds(retry_after)
    if asked is not None:
        return asked if asked <= MAX_RETRY_AFTER else None
    backoff = min(MAX_DELAY, BASE_DELAY * 2 ** (retry - 1))
    return backoff * random.uniform(0.5, 1.0)  # jitter: retries of many clients do not arrive together


def retry_after_seconds(value: str | None) -> float | None:
    """`Retry-After` as seconds: a number of seconds, or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.replace(".", "", 1).isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


@dataclass
class Attempts:
    """What each call of one request came to, for the log line and the metrics: `qwen:503 deepseek:200`."""

    seen: list[tuple[str, str]] = field(default_factory=list)

    def add(self, pack: str, outcome: str) -> None:
        self.seen.append((pack, outcome))

    def __len__(self) -> int:
        return len(self.seen)

    def __str__(self) -> str:
        return " ".join(f"{pack}:{outcome}" for pack, outcome in self.seen)
