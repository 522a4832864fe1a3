"""One probe, start to end: the smallest request, the search tier by tier, the alternatives, the stream.

    1. the smallest request (`Catalogue.base`): if the provider refuses it, nothing else can be learnt;
    2. per tier: `Search` finds the rejected features; each rejected one gets its known alternatives
       tried (its body, through the draft plus the alternative's steps) until one is accepted;
    3. everything the pack lets through, at once and without a stream: the check that the features
       accepted one by one are accepted together;
    4. the stream: Codex's turn as `switchyard serve` would send it (streamed, with usage asked for),
       and a reasoning request; the reader says where reasoning, usage and the end arrived, and a
       reasoning field the bridges do not read becomes a `rename` response step;
    5. the pack's tests, made from these requests: what the provider accepted is what the pack must
       keep producing.

Every body is sent through the draft pack with the project's `Pipeline`, the server's own path.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from switchyard.pipeline import Pipeline
from switchyard.probe.chat_requests import chat_catalogue
from switchyard.probe.client import Client, Exchange, ProbeStopped
from switchyard.probe.draft import ACCEPTED, MAPPED, REJECTED, UNDECIDED, Decision, Draft, Step
from switchyard.probe.features import CAP, Alternative, Catalogue, Feature
from switchyard.probe.responses_requests import responses_catalogue
from switchyard.probe.search import Search
from switchyard.probe.stream import Reading, read_chat, read_responses

UPSTREAM_PATHS = {"chat": "/chat/completions", "responses": "/responses"}
CATALOGUES = {"chat": chat_catalogue, "responses": responses_catalogue}
THINK = "Think it through step by step, then reply with the word OK."


@dataclass
class Outcome:
    draft: Draft
    exchanges: list[Exchange]
    max_requests: int
    tests: list[dict] = field(default_factory=list)
    readings: list[tuple[str, Reading]] = field(default_factory=list)
    stopped: str = ""  # why the probe stopped early, if it did
    reached: bool = False  # the smallest request was accepted: there is something to write


class Session:
    def __init__(self, client: Client, protocol: str, model: str, say: Callable[[str], None] = lambda _: None):
        self.client = client
        self.protocol = protocol
        self.model = model
        self.say = say
        self.catalogue = catalogue(protocol, model)
        self.draft = Draft(self.catalogue)
        self.outcome = Outcome(self.draft, client.exchanges, client.max_requests)
        self.mapped_reasoning: dict[str, dict] = {}  # an unknown reasoning field -> the first event with it

    async def run(self) -> Outcome:
        try:
            await self._run()
        except ProbeStopped as stop:
            self.outcome.stopped = str(stop)
            for feature in self.catalogue.features:
                if feature.name not in self.draft.decisions:
                    self.draft.decide(Decision(feature, UNDECIDED, note=f"not tried: {stop}"))
        return self.outcome

    # -- sending

    async def send_features(
        self, features: list[Feature], label: str, *, trying: Alternative | None = None, keep: bool = False
    ) -> Exchange:
        """The base with the draft's features and `features`, through the draft (and `trying`'s steps)."""
        chosen = self.draft.chosen() | {f.name for f in features}
        body = self.catalogue.body(chosen)
        return await self.send(body, label, self.protocol, trying=trying, keep=keep)

    async def send(
        self, body: dict, label: str, client: str, *, trying: Alternative | None = None, keep: bool = False
    ) -> Exchange:
        pack = self.draft.compile(keep=keep, trying=trying)
        sent = Pipeline(pack, client).request(copy.deepcopy(body))
        exchange = await self.client.send(sent, label)
        self.say(f"request {exchange.number}: {label}: {exchange.status} {exchange.answer}".rstrip())
        return exchange

    # -- the steps

    async def _run(self) -> None:
        base = await self.send(self.catalogue.base, "the smallest request", self.protocol)
        if not base.ok:
            raise ProbeStopped(f"the smallest request was refused: {base.cite()}")
        self.outcome.reached = True
        for tier in sorted({f.tier for f in self.catalogue.features}):
            features = [f for f in self.catalogue.features if f.tier == tier]
            for feature in features:
                if feature.needs and feature.needs not in self.draft.chosen():
                    note = f"not tried: it needs {feature.needs}, which the provider refused"
                    self.draft.decide(Decision(feature, UNDECIDED, note=note))
            await self._tier([f for f in features if f.name not in self.draft.decisions])
        self.draft.stream_fields = ["stream", "stream_options"] if self.protocol == "chat" else ["stream"]
        whole = await self._everything()
        await self._streams()
        self.outcome.tests = self._tests(whole)

    async def _tier(self, features: list[Feature]) -> None:
        search = Search(self.send_features)
        await search.run(features)
        for feature, exchange in search.accepted:
            self.draft.decide(Decision(feature, ACCEPTED, [exchange]))
        for feature in features:
            if feature.name in search.rejected:
                await self._alternatives(feature, search.rejected[feature.name][1])

    async def _alternatives(self, feature: Feature, rejection: Exchange) -> None:
        tried = [rejection]
        for alternative in feature.alternatives(rejection.answer):
            exchange = await self.send_features([feature], f"{feature.label}, {alternative.label}", trying=alternative)
            if exchange.ok:
                self.draft.decide(Decision(feature, MAPPED, [rejection, exchange], alternative))
                return
            tried.append(exchange)
        self.draft.decide(Decision(feature, REJECTED, tried))

    async def _everything(self) -> Exchange:
        """Every feature the pack lets through, in one body, through the finished pack (with `keep`)."""
        everything = [self.catalogue.get(n) for n in self.draft.chosen()]
        exchange = await self.send_features(everything, "everything the pack lets through, at once", keep=True)
        if not exchange.ok:
            self.draft.notes.append(
                "features accepted one by one were refused together (review the pack): " + exchange.cite()
            )
        if self.protocol == "chat":
            self._reasoning(read_chat([], exchange.json), "the non-streaming answer")
        return exchange

    async def _streams(self) -> None:
        codex = self._codex()  # Codex streams (`stream: true` in the capture)
        if self.protocol == "chat":
            exchange = await self.send(codex, "Codex's turn as serve sends it, streamed", "responses", keep=True)
            if not exchange.ok and "stream_options" in exchange.body:
                self.draft.stream_fields = ["stream"]
                exchange = await self.send(
                    codex, "Codex's turn streamed, without stream_options", "responses", keep=True
                )
                if exchange.ok:
                    self.draft.notes.append("stream_options refused: streams carry no usage the pack could ask for")
            if not exchange.ok:
                self.draft.notes.append("streaming was refused: " + exchange.cite())
                return
            self._reasoning(read_chat(exchange.events), "Codex's turn, streamed")
            if "stream_options" in self.draft.stream_fields:
                body = {**self.catalogue.base, "stream_options": {"include_usage": True}}
                loose = await self.send(body, "stream_options without a stream", "chat", keep=True)
                if not loose.ok:
                    self.draft.extra_request.append(
                        Step(
                            ["stream_options only with a stream: " + loose.cite()],
                            {"match": "!stream", "drop": "stream_options"},
                        )
                    )
            think = {**self.catalogue.base, "messages": [{"role": "user", "content": THINK}], "stream": True}
            if "stream_options" in self.draft.stream_fields:
                think["stream_options"] = {"include_usage": True}
            for name in ("reasoning_effort", "max_tokens", "max_completion_tokens"):
                feature = self.catalogue.get(f"field {name}")
                if feature.name in self.draft.chosen():
                    feature.apply(think)
            exchange = await self.send(think, "a reasoning request, streamed", "chat", keep=True)
            if exchange.ok:
                self._reasoning(read_chat(exchange.events), "the reasoning request")
        else:
            exchange = await self.send(codex, "Codex's turn, streamed", "responses", keep=True)
            if not exchange.ok:
                self.draft.notes.append("streaming was refused: " + exchange.cite())
                return
            reading = read_responses(exchange.events)
            self.outcome.readings.append(("Codex's turn, streamed", reading))

    def _codex(self) -> dict:
        """Codex's turn with an output cap, so the probe's one request without a tiny prompt stays tiny.

        Codex sends no cap; the bridge turns `max_output_tokens` into Chat's `max_tokens`, and the pack
        renames or drops that as the provider showed it must."""
        return {**copy.deepcopy(self.catalogue.codex), "max_output_tokens": CAP}

    def _reasoning(self, reading: Reading, what: str) -> None:
        self.outcome.readings.append((what, reading))
        name = reading.reasoning_field
        if not reading.unknown_reasoning:
            return
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name or ""):
            # a name a PATH would need quoted: rare enough to leave to a person, said in the report
            self.draft.notes.append(f"reasoning arrives in {name!r} ({what}): map it by hand")
            return
        if name in self.mapped_reasoning:
            if reading.events and reading.example:  # a streamed event makes the better test
                self.mapped_reasoning[name] = reading.example
            return
        self.mapped_reasoning[name] = reading.example
        why = (
            f"Reasoning arrives in `{name}` ({what}), which the bridges do not read: `reasoning_content` is"
            " the field they read, and the one thinking models want back after a tool call."
        )
        self.draft.response += [
            Step([why], {"rename": {f"choices[].delta.{name}": "reasoning_content"}}),
            Step([], {"rename": {f"choices[].message.{name}": "reasoning_content"}}),
        ]

    # -- the pack's tests

    def _tests(self, whole: Exchange) -> list[dict]:
        pack = self.draft.compile(keep=True)
        everything = self.catalogue.body(self.draft.chosen())
        tests: list[dict] = []
        accepted = "the provider accepted it" if whole.ok else "NOT accepted by the provider: review"
        tests.append(
            {
                "#": [f"What request {whole.number} sent ({accepted})."],
                "name": "everything the provider accepted goes through as it was accepted",
                "client": self.protocol,
                "input": everything,
                "expect": Pipeline(pack, self.protocol).request(copy.deepcopy(everything)),
            }
        )
        codex = self._codex()
        tests.append(
            {
                "#": ["Codex's turn (a real capture, texts shortened, a 16-token cap added), as the probe sent it."],
                "name": "a Codex turn reaches the provider in the shape it accepted",
                "client": "responses",
                "input": codex,
                "expect": Pipeline(pack, "responses").request(copy.deepcopy(codex)),
            }
        )
        for decision in self.draft.of(MAPPED):
            rejected = decision.evidence[0]
            body = self.catalogue.body(
                self.draft.chosen() - _later(self.draft, decision.feature) | {decision.feature.name}
            )
            tests.append(
                {
                    "#": [f"The body of request {rejected.number} was refused; with the step it was accepted."],
                    "name": f"{decision.feature.label}: {decision.alternative.label}",
                    "client": self.protocol,
                    "input": body,
                    "expect": Pipeline(pack, self.protocol).request(copy.deepcopy(body)),
                }
            )
        for name, event in self.mapped_reasoning.items():
            event = copy.deepcopy(event)
            part = "delta" if any("delta" in c for c in event.get("choices") or []) else "message"
            tests.append(
                {
                    "#": ["An event as the provider streamed it."],
                    "name": f"reasoning in {name} reaches the bridge as reasoning_content",
                    "stage": "response",
                    "input": event,
                    "includes": {"choices": [{part: {"reasoning_content": _text(event, name)}}]},
                }
            )
        return tests


def catalogue(protocol: str, model: str) -> Catalogue:
    """The features to probe a provider of this protocol with."""
    return CATALOGUES[protocol](model)


def _later(draft: Draft, feature: Feature) -> set[str]:
    """Features of later tiers: the body of a mapped feature's test is the one it was decided with."""
    return {n for n in draft.chosen() if draft.catalogue.get(n).tier > feature.tier}


def _text(event: dict, name: str) -> str:
    for choice in event.get("choices") or []:
        value = (choice.get("delta") or choice.get("message") or {}).get(name)
        if isinstance(value, str):
            return value
    return ""


__all__ = ["CATALOGUES", "UPSTREAM_PATHS", "Outcome", "Session", "catalogue"]
