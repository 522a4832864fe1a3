"""The one path a request and its response take through a pack: used by the server, `apply`, `test` and `bench`.

    request:  client body -> [force_stream] -> bridge -> pack `request` steps -> upstream body
    response: upstream event or body -> pack `response` steps -> bridge back -> client event(s) or body

A `Pipeline` is one pack serving one client protocol. Every request has a bridge (the identity
bridge when the protocols agree), so there is no "is there a bridge?" anywhere. The server's relay,
`switchyard apply` and `switchyard test` all call these methods, so what they show is what the
server does.

What a failing `response` step does is decided here, once, for every kind of answer:

- a stream event: the client's stream ends with an error event in its own protocol (code
  `step_failed`); `Stream.step_error` keeps the failure for the caller to log and count;
- a body: `StepError` propagates, and the server answers 500 in the client's error shape;
- an upstream error body: the body is left as the provider sent it, since the provider's error is
  the news;
- steps run on JSON objects only; any other JSON value passes untouched.

Observation: pass `observe` (a callable taking an `Observation`) to be told what the bridge and
each step changed, as `apply --explain` prints it (and request traces will). Without it the fast
path runs: no copies, no diffs, one closure call per step.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from jmespath.exceptions import JMESPathError

from switchyard import bridges, protocols
from switchyard.errors import StepError
from switchyard.language.explain import Changes, diff
from switchyard.language.expressions import truthy
from switchyard.language.pack import Pack, Step, describe_jmespath_error
from switchyard.protocols import sse


@dataclass(frozen=True)
class Observation:
    """What one part of the path did to a body or event: the bridge, `force_stream`, or one step."""

    stage: str  # "request" or "response"
    label: str  # "bridge responses -> chat", "request step 3 (rename) (line 12)", ...
    ran: bool  # False for a step whose `match` was false
    changes: Changes
    where: str = ""  # a step's `FILE:LINE:COL: request step N (action)`; empty for the bridge


Observer = Callable[[Observation], None]


def clients_of(upstream: str) -> tuple[str, ...]:
    """The client protocols a pack of this upstream protocol can serve: every one with a bridge to it."""
    found = []
    for client in protocols.names():
        try:
            bridges.get(client, upstream)
        except KeyError:  # a protocol whose bridge to or from the hub is not written (yet)
            continue
        found.append(client)
    return tuple(found)


class Pipeline:
    """One pack serving one client protocol: made per request (it is three look-ups), shared by nothing."""

    __slots__ = ("bridge", "client", "pack", "upstream")

    def __init__(self, pack: Pack, client: str):
        self.pack = pack
        self.client = protocols.get(client)
        self.upstream = protocols.get(pack.upstream.protocol)
        self.bridge = bridges.get(client, pack.upstream.protocol)

    # -- request

    def upstream_streams(self, body: dict) -> bool:
        """Whether the upstream is asked for a stream: the client asked, or the pack forces it."""
        return body.get("stream") is True or self.pack.upstream.force_stream

    def request(self, body: dict, observe: Observer | None = None) -> dict:
        """What the upstream receives for this client body (changed in place where the bridge allows).

        With `force_stream` the request is made a stream before anything else runs, so that the bridge
        and the steps see it as it will really be sent (a `match: "!stream"` step must not fire); the
        upstream protocol then adds what its streams need (Chat: usage, so the folded body carries it).
        """
        force = self.pack.upstream.force_stream and body.get("stream") is not True
        before = _copy(body) if observe is not None and (force or not self.bridge.identity) else None
        if force:
            body["stream"] = True
        body = self.bridge.request(body)
        if force:
            self.upstream.ask_stream(body)
        if before is not None:
            label = self.bridge.label if not self.bridge.identity else "upstream.force_stream"
            if force and not self.bridge.identity:
                label += " (with upstream.force_stream)"
            observe(Observation("request", label, True, diff(before, body)))
        return run_steps(self.pack.request, body, "request", observe)

    # -- response

    def stream(self, client_body: dict, observe: Observer | None = None) -> Stream:
        return Stream(self, client_body, observe)

    def body(self, body: Any, client_body: dict, observe: Observer | None = None) -> Any:
        """A non-streaming upstream body -> the client's body; raises StepError or UpstreamFailed."""
        if type(body) is dict:
            run_steps(self.pack.response, body, "response", observe)
        if self.upstream.body_failed(body):
            # An error inside a 200 (or one a step marked) is an error to the client, never a success
            # whose body happens to say otherwise.
            raise self.upstream.upstream_error(body)
        out = self.bridge.response(body, client_body)
        if observe is not None and not self.bridge.identity:
            observe(Observation("response", self.bridge.label, True, diff(body, out)))
        return out

    def aggregate(self, events: Iterable) -> Any:
        """The client body a whole client stream amounts to (`force_stream` for a non-streaming client)."""
        return self.client.aggregate([e for e in events if type(e) is not bytes])

    def error(self, data: bytes, status: int) -> tuple[int, Any, str]:
        """An upstream error response -> (the status the client must see, the client's error body, its message).

        The pack's `response` steps run on it first (a pack may give a provider's error an OpenAI code);
        a step failing on it leaves it as sent. A body already in the client's error shape goes as it
        is (the provider's fields kept); any other is described and rendered in the client's shape.
        """
        try:
            parsed = orjson.loads(data)
        except orjson.JSONDecodeError:
            parsed = None
        if type(parsed) is dict and self.pack.response:
            try:
                run_steps(self.pack.response, parsed, "response", None)
            except StepError:
                parsed = orjson.loads(data)
        described = self.upstream.describe_error_body(parsed, data, status)
        client_status = self.client.client_status(status, described.code)
        if not self.client.is_error_shape(parsed):
            described.status = client_status  # an error body that states a status (Gemini's) states this one
            parsed = self.client.render_error(described)
        return client_status, parsed, described.message


class Stream:
    """One streamed response: decoded upstream SSE events in, client events out, one read at a time.

    Client events are dicts (framed by the client's protocol in `encode`) or bytes already framed: a
    non-JSON upstream event passed on unchanged (same protocol only: a bridge cannot translate it) and
    the protocol's end marker. `ended` records that the client has seen the end of its stream (a
    terminal event, the end marker, or an error); nothing is emitted after it. `failure` keeps the
    message of the first error event the client was sent (the upstream's, or one made here), so a
    stream answered 200 that failed is logged and counted as a failure.
    """

    __slots__ = (
        "_failure",
        "_frame",
        "_run",
        "_terminal",
        "end",
        "ended",
        "events_in",
        "events_out",
        "failure",
        "media_type",
        "pack",
        "passes_raw",
        "step_error",
        "translator",
        "upstream_fault",
    )

    def __init__(self, pipeline: Pipeline, client_body: dict, observe: Observer | None = None):
        self.translator = pipeline.bridge.stream(client_body)
        self.pack = pipeline.pack
        steps = pipeline.pack.response
        if observe is None:
            self._run = pipeline.pack.run_response if steps else None  # no steps: nothing to call per event
        else:
            self._run = lambda event: run_steps(steps, event, "response", observe)
        self._terminal = pipeline.client.terminal
        self._failure = pipeline.client.failure
        framing = pipeline.client.framing
        if framing is None:
            self._frame, self.end, self.media_type = pipeline.client.frame, pipeline.client.end, None
        else:  # a protocol with more than one stream framing (Gemini's SSE or JSON array): the client's choice
            chosen = framing(client_body)
            self._frame, self.end, self.media_type = chosen.frame, chosen.end, chosen.media_type
        self.passes_raw = getattr(self.translator, "passes_raw", False)
        self.ended = False
        self.events_in = 0
        self.events_out = 0
        self.step_error: StepError | None = None
        self.upstream_fault: str | None = None  # a malformed upstream event that ended the stream
        self.failure: str | None = None  # the message of the first failure the client was sent

    def feed(self, events: list[sse.Event]) -> list:
        # The per-chunk loop of every stream: attributes are read once per read, not once per event.
        out: list = []
        self.events_in += len(events)
        run = self._run
        translate = self.translator.feed
        loads = orjson.loads
        for ev in events:
            if self.ended:
                continue  # nothing after the end: a client must not see events past [DONE] or a terminal event
            data = ev.data
            if data == "[DONE]":
                self._finish(self.translator.close(), out)
                continue
            try:
                obj = loads(data)
            except orjson.JSONDecodeError:
                if self.passes_raw and not _corrupt(data):
                    out.append(sse.encode(data, ev.event))  # text never meant as JSON: passed unchanged
                elif data.strip():
                    # A bridge cannot translate it, and dropping it could lose text: the client is told.
                    self.upstream_fault = "the upstream sent an event that is not JSON"
                    self._finish(self.translator.fail(self.upstream_fault), out)
                continue
            if run is not None and type(obj) is dict:
                try:
                    run(obj)
                except StepError as exc:
                    self.step_error = exc
                    self._finish(self.translator.fail(f"pack {self.pack.name} failed: {exc}", "step_failed"), out)
                    continue
            self._emit(translate(obj), out)
        return out

    def close(self) -> list:
        """The upstream closed the stream (cleanly): end the client's, with an error if it never finished."""
        out: list = []
        if not self.ended:
            self._finish(self.translator.close(), out)
        return out

    def fail(self, message: str, code: str = "server_error") -> list:
        """The upstream broke mid-stream (or the proxy did): the client gets an error, never a cut."""
        out: list = []
        if not self.ended:
            self._finish(self.translator.fail(message, code), out)
        return out

    @property
    def keeps_alive(self) -> bool:
        """Whether the client's protocol has a keep-alive event for a quiet upstream (Anthropic's `ping`)."""
        return hasattr(self.translator, "keepalive")

    def keepalive(self) -> list:
        """Events that tell the client the stream is alive while the upstream is quiet (none after the end)."""
        out: list = []
        if not self.ended:
            self._emit(self.translator.keepalive(), out)
        return out

    def encode(self, events: list) -> bytes:
        """Client events as the bytes of the client's stream."""
        frame = self._frame
        # A list, not a generator: join sizes a list in one pass, a generator it first copies into one.
        return b"".join([e if type(e) is bytes else frame(e) for e in events])

    def _finish(self, events: list, out: list) -> None:
        self._emit(events, out)
        if not self.ended and self.end:
            out.append(self.end)
        self.ended = True

    def _emit(self, events: list, out: list) -> None:
        self.events_out += len(events)
        out += events
        terminal = self._terminal
        failure = self._failure
        for obj in events:
            if terminal(obj):
                self.ended = True
            if self.failure is None and (said := failure(obj)) is not None:
                self.failure = said


def run_steps(steps: tuple[Step, ...], body: Any, stage: str, observe: Observer | None) -> Any:
    """Run steps on a body in place; with an observer, one at a time, telling what each changed."""
    if observe is None:
        for step in steps:
            step.run(body)
        return body
    for step in steps:
        before = _copy(body)
        ran = _matches(step, body, stage)
        step.run(body)
        observe(Observation(stage, step_label(step), ran, diff(before, body) if ran else Changes(), step.where))
    return body


def step_label(step: Step) -> str:
    """`request step 3 (rename) (line 12)` from the step's `FILE:LINE:COL: request step 3 (rename)`."""
    location, _, name = step.where.partition(": ")
    return f"{name} (line {location.rsplit(':', 2)[-2]})"


def _matches(step: Step, body: Any, stage: str) -> bool:
    """Whether a step's `match` holds; a failing match fails like the step would."""
    if step.match is None:
        return True
    try:
        return truthy(step.match.evaluate(body))
    except JMESPathError as exc:
        raise StepError(step.where, describe_jmespath_error(exc), stage) from None


def _copy(value: Any) -> Any:
    # A JSON round trip: bodies are JSON by construction, and this is several times faster than deepcopy.
    return orjson.loads(orjson.dumps(value))


# Control characters (other than tab) and U+FFFD, which stands for bytes that were not UTF-8.
_GARBAGE = re.compile("[\x00-\x08\x0b-\x1f\x7f\ufffd]")


def _corrupt(data: str) -> bool:
    """Whether a `data:` value that is not JSON is damage rather than text a vendor meant (a keep-alive).

    Damage is what starts like JSON (an event cut or corrupted) or holds bytes no text event has: a
    client's parser would break on it, so it must end the stream with an error instead of passing on.
    """
    return data.lstrip().startswith(("{", "[")) or _GARBAGE.search(data) is not None
