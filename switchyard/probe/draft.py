"""The pack being learnt: what was decided about each feature and the stream, and why.

A `Draft` collects `Decision`s (a feature accepted, mapped by an alternative, rejected, or left
undecided) with the exchanges that justified them, and the response mappings the stream reader
found. It turns them into the pack's parts: request steps (in catalogue order, each alternative
once even when several features needed it), response steps, and the `keep:` allowlist.

While the probe is still searching, it sends its bodies through the draft's steps *without* the
allowlist (`compile(keep=False)`), so a feature mapped earlier (developer -> system) stays mapped in
every later body, and a field under test is not removed before the provider sees it. Compiling
goes through the writer and the project's own pack loader: the probe's requests take the same path
(`switchyard.pipeline`) as the server's will.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from switchyard import packs
from switchyard.language.pack import Pack
from switchyard.probe.client import Exchange
from switchyard.probe.features import Alternative, Catalogue, Feature
from switchyard.probe.writer import render

ACCEPTED, MAPPED, REJECTED, UNDECIDED = "accepted", "mapped", "rejected", "undecided"
_compiled: dict[str, Pack] = {}  # pack text -> pack: most requests of a search share the draft of the one before


@dataclass
class Decision:
    feature: Feature
    outcome: str
    evidence: list[Exchange] = field(default_factory=list)  # the rejection first, then what was accepted
    alternative: Alternative | None = None
    note: str = ""

    def why(self) -> str:
        return "; then ".join(e.cite() for e in self.evidence) or self.note


@dataclass
class Step:
    """A step of the pack with the comment lines that justify it."""

    comment: list[str]
    step: dict


@dataclass
class Draft:
    catalogue: Catalogue
    decisions: dict[str, Decision] = field(default_factory=dict)
    extra_request: list[Step] = field(default_factory=list)  # from the stream phase (stream_options)
    response: list[Step] = field(default_factory=list)
    stream_fields: list[str] = field(default_factory=list)  # stream, stream_options when accepted
    notes: list[str] = field(default_factory=list)  # what the stream reader saw, for the report

    def decide(self, decision: Decision) -> None:
        self.decisions[decision.feature.name] = decision

    def chosen(self) -> set[str]:
        """The features a body may carry now: accepted, or mapped by a step of the draft."""
        return {n for n, d in self.decisions.items() if d.outcome in (ACCEPTED, MAPPED)}

    def of(self, outcome: str) -> list[Decision]:
        return [d for d in self.decisions.values() if d.outcome == outcome]

    # -- the pack's parts

    def request_steps(self, keep: bool = True, trying: Alternative | None = None) -> list[Step]:
        steps: list[Step] = []
        seen: dict[Alternative, Step] = {}
        for feature in self.catalogue.features:
            decision = self.decisions.get(feature.name)
            alternative = decision.alternative if decision and decision.outcome == MAPPED else None
            if alternative is None:
                continue
            comment = [f"Why ({feature.label}): {decision.why()}"]
            if alternative in seen:
                seen[alternative].comment += comment
                continue
            head = [f"{alternative.label}."]
            for n, raw in enumerate(alternative.steps):
                step = Step(head + comment if n == 0 else [], raw)
                steps.append(step)
                seen.setdefault(alternative, step)
        if trying is not None and trying not in seen:
            steps += [Step([], raw) for raw in trying.steps]
        steps += self.extra_request
        if keep:
            fields = self.keep_fields()
            comment = [
                "Only what the provider accepted: everything else a client sends (and whatever it adds",
                "tomorrow) never reaches it. Rejected: "
                + (", ".join(d.feature.field for d in self.of(REJECTED) if d.feature.field) or "nothing")
                + ".",
            ]
            steps.append(Step(comment, {"keep": fields}))
        return steps

    def keep_fields(self) -> list[str]:
        fields = [k for k in self.catalogue.base]
        fields += self.stream_fields
        for feature in self.catalogue.features:
            decision = self.decisions.get(feature.name)
            if decision is None or decision.outcome not in (ACCEPTED, MAPPED):
                continue
            if feature.field and decision.outcome == ACCEPTED:
                fields.append(feature.field)
            if decision.alternative is not None:
                fields += decision.alternative.fields
        return list(dict.fromkeys(fields))

    def compile(self, keep: bool = True, trying: Alternative | None = None) -> Pack:
        """The draft as a loaded pack (the probe's own requests go through it, as the server's will)."""
        text = render(self, "probe-draft", "http://127.0.0.1/v1", "", steps=self.request_steps(keep, trying))
        if text in _compiled:
            return _compiled[text]
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "probe-draft.yaml"
            path.write_text(text, encoding="utf-8")
            _compiled[text] = packs.load([str(path)], placeholders=True).packs[0]
        return _compiled[text]
