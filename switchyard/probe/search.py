"""Finding which features a provider rejects: bisection over the features, helped by the error's words.

Group testing: send the body with every candidate feature; if it is accepted, they all are. If not,
and the error names exactly one candidate (its `param`, or a word of its message: `developer`,
`strict`, a field's name), that one is taken as rejected and the rest is tried again, one request
per rejected feature. If the error names none (a bare "invalid request"), the candidates are split
in halves and each half tried on its own, down to single features: about `k * log2(n)` requests for
`k` rejected features among `n`. When the first half is accepted, the second must hold the culprit,
and its own request is skipped. Once most features tried were rejected (a provider with a short
allowlist), each remaining one is tried on its own, which is then cheaper than halving.

It assumes what providers do: a feature is rejected on its own account, whatever else the body has.
The session checks that assumption at the end by sending everything the pack lets through at once.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from switchyard.probe.client import Exchange
from switchyard.probe.features import Feature

Send = Callable[[list[Feature], str], Awaitable[Exchange]]  # (features of the body beyond earlier tiers, label)


class Search:
    """One tier's search. `accepted` grows as features are found accepted; `rejected` maps name -> evidence."""

    def __init__(self, send: Send):
        self.send = send
        self.accepted: list[tuple[Feature, Exchange]] = []  # each with the request that showed it
        self.rejected: dict[str, tuple[Feature, Exchange]] = {}

    async def run(self, candidates: list[Feature]) -> None:
        if not candidates:
            return
        if len(candidates) == 1:
            label = candidates[0].label
        elif len(candidates) <= 3:  # few enough to name, so a rejection cited later says what was in the body
            label = "a body with " + " and ".join(f.name for f in candidates)
        else:
            label = f"{len(candidates)} features at once"
        if self.accepted and len(candidates) == 1:
            label += f" (and {len(self.accepted)} accepted features)"
        exchange = await self.send([f for f, _ in self.accepted] + candidates, label)
        if exchange.ok:
            self.accepted += [(f, exchange) for f in candidates]
            return
        await self._split(candidates, exchange)

    def _dense(self) -> bool:
        return len(self.rejected) >= 3 and len(self.rejected) > len(self.accepted)

    async def _split(self, candidates: list[Feature], rejection: Exchange) -> None:
        """`candidates` on top of the accepted features made a body the provider rejected (`rejection`)."""
        before_all = len(self.rejected)
        if len(candidates) == 1:
            self.rejected[candidates[0].name] = (candidates[0], rejection)
            return
        named = named_by(rejection, candidates)
        if named is not None:
            self.rejected[named.name] = (named, rejection)
            await self.run([f for f in candidates if f is not named])
            return
        if self._dense():
            # Most of what was tried so far was rejected: halving would cost more than one request per
            # feature, so each is tried on its own.
            for feature in candidates[:-1]:
                await self.run([feature])
            if len(self.rejected) == before_all and candidates:  # all but the last went through
                self.rejected[candidates[-1].name] = (candidates[-1], rejection)
            else:
                await self.run(candidates[-1:])
            return
        half = len(candidates) // 2
        first, second = candidates[:half], candidates[half:]
        before = len(self.rejected)
        await self.run(first)
        if len(self.rejected) == before:
            # The first half went through, so the rejection was the second half's doing: the body of
            # `accepted + second` is the body already rejected, no need to send it again.
            await self._split(second, rejection)
        else:
            await self.run(second)


# A clause that lists what the provider takes ("Supported values are: 'system', 'user'", "expected one
# of ...", "Only 'system', 'user' roles are allowed"), to the end of its sentence or a ", got X": the
# names in it are the accepted ones, never the culprit ("Unsupported", "invalid", "not allowed" name it).
_LISTING = re.compile(
    r"\b(?:only|supported|allowed|permitted|valid|accepted|expected|one of)\b[^.;\n]*?"
    r"(?=,\s*(?:got|but|received|found)\b|[.;\n]|$)",
    re.I,
)


def named_by(exchange: Exchange, candidates: list[Feature]) -> Feature | None:
    """The one candidate the error names, if exactly one is named (by its `param` first, then its message)."""
    refusal = _LISTING.sub(" ", exchange.answer)
    quoted = " ".join(re.findall(r"""['"`]([^'"`]{1,60})['"`]""", refusal))
    # The param is the surest; then a name in quotes ("Invalid value: 'developer'. Supported values are:
    # 'system', 'user'" names `developer`, and the list of what is accepted names nothing); then any word.
    for text in (exchange.param or "", quoted, refusal):
        if not text:
            continue
        named = [f for f in candidates if f.named_in(text)]
        if len(named) == 1:
            return named[0]
    return None
