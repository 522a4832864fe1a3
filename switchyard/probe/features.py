"""The catalogue: what real clients put in a request, as features the probe can add to a body one by one.

A probe body is the smallest request (`base`) plus a set of features, each applied in catalogue
order, so the same set always makes the same body and a decision can cite it. A feature is one
thing a real client sends: a top-level field, the `developer` role, a second system message,
content as parts, a tool shape, a tool-call round trip, reasoning text in the history. Each knows
the words an error naming it would use (`words`) and the known alternatives to try when it is
rejected, as rule-language steps (`Alternative`), so the written pack is made of what was tried.

Where the values come from: Codex CLI's second turn (`codex-turn.json`: a real 0.169.0 capture
with its texts shortened and its tools cut to one of each shape: a function, a namespace and
`web_search`) and the OpenAI SDK's common fields. The catalogues themselves live beside this
module, one per upstream protocol: `chat_requests.py` (Codex's turn translated by the project's
own Responses -> Chat bridge, so the probe sends what `switchyard serve` will send for Codex) and
`responses_requests.py` (Codex's turn as it is).

Tiers: a feature that only makes sense with another (`tool_choice` without `tools`, reasoning text
on a tool call that is not there) sits in a later tier, searched once the earlier tier is decided;
one that refines a field (`tool_choice` naming a function) `needs` that field accepted first.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as slot
from importlib import resources

PROMPT = "Reply with the word OK."
CAP = 16  # output tokens: enough for "OK" on every provider (OpenAI's Responses minimum is 16)


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: one shared alternative, one step
class Alternative:
    """A known way round a rejected feature: rule-language steps, in words for the report and the pack."""

    label: str
    steps: tuple[dict, ...]
    fields: tuple[str, ...] = ()  # top-level fields the steps produce (they join the `keep:` allowlist)


@dataclass(frozen=True)
class Feature:
    name: str  # short and stable: "field store", "role developer"
    label: str  # what a body with it is, in words: "a body with store"
    apply: Callable[[dict], None] = slot(repr=False, compare=False)
    words: tuple[str, ...] = ()  # what an error naming this feature says
    field: str | None = None  # the top-level field it adds, for the `keep:` allowlist
    alternatives: Callable[[str], list[Alternative]] = slot(default=lambda answer: [], repr=False, compare=False)
    tier: int = 1
    needs: str = ""  # a feature that must have been accepted (or mapped) for this one to be tried

    def named_in(self, text: str) -> bool:
        return any(re.search(rf"(?<![\w]){re.escape(w)}(?![\w])", text) for w in self.words)


@dataclass(frozen=True)
class Catalogue:
    protocol: str
    base: dict
    features: tuple[Feature, ...]
    codex: dict  # the Codex turn the features come from, as Codex sends it (the pack's tests use it)

    def body(self, chosen: set[str]) -> dict:
        body = copy.deepcopy(self.base)
        for feature in self.features:
            if feature.name in chosen:
                feature.apply(body)
        return body

    def get(self, name: str) -> Feature:
        return next(f for f in self.features if f.name == name)


def codex_turn(model: str) -> dict:
    text = resources.files(__package__).joinpath("codex-turn.json").read_text(encoding="utf-8")
    body = json.loads(text)
    body["model"] = model
    return body


# -- shared helpers


def field_feature(name: str, value, *, tier: int = 1, renames: tuple[str, ...] = (), needs: str = "") -> Feature:
    """A top-level field with `value`; when refused, it is renamed to `renames` or to a name the error suggests."""

    def apply(body: dict) -> None:
        body[name] = copy.deepcopy(value)

    def renamed(answer: str) -> list[Alternative]:
        # A renamed field: the known other names, then any field name the error suggests ("use 'x' instead").
        names = [*renames, *(n for n in suggested(answer) if n != name and n not in renames)]
        return [Alternative(f"{name} renamed to {n}", ({"rename": {name: n}},), (n,)) for n in names]

    return Feature(f"field {name}", f"a body with {name}", apply, (name,), name, renamed, tier, needs)


def suggested(answer: str) -> list[str]:
    """Field names an error suggests instead: "use 'max_completion_tokens' instead", "did you mean x"."""
    found = re.findall(r"(?:use|Use|mean|instead of [\w'`\"]+,?)\s+['`\"]?([a-z][a-z0-9_]{2,40})['`\"]?", answer)
    return list(dict.fromkeys(found))


def alternatives(*alts: Alternative) -> Callable[[str], list[Alternative]]:
    return lambda answer: list(alts)
