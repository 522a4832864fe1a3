"""Bridges between protocols, named by direction (`<client>_over_<upstream>`), and the registry of them.

A request whose client protocol (the route it called) differs from its pack's `upstream.protocol`
goes through a bridge: the request is translated before the pack's `request` steps run, and every
upstream event (or the non-streaming body) is translated back after the pack's `response` steps.
Every request has a bridge: same-protocol traffic gets the identity bridge, whose stream translator
is the protocol's own (it still has to end a stream properly), so no caller ever asks "is there a
bridge?".

A bridge is stateless; per-request state lives in the stream translator it makes, and everything a
translator needs to know about the client (the tools it declared, whether it asked for usage) it
reads from the client's original body. That keeps reloads and concurrency trivial.

Where no direct bridge exists for a pair, the registry composes one through Chat Completions, the
hub every protocol here can reach: `client -> chat -> upstream` for the request, and the two stream
translators chained for the way back. `composed()` lists those pairs; what composition loses is what
the Chat hop cannot carry (docs/architecture.md says it per pair).

Adding a direction is one folder with a `BRIDGE` record and one line in `_FOLDERS`.
"""

from __future__ import annotations

import copy
import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from switchyard import protocols
from switchyard.protocols import StreamTranslator

HUB = "chat"


@dataclass(frozen=True)
class Bridge:
    """One direction of translation.

    - `request(body) -> dict`: client request -> upstream request; raises `RequestError` for a body that
      cannot be translated (rendered as a 4xx in the client's error shape).
    - `stream(client_body) -> StreamTranslator`: upstream events -> client events, per stream.
    - `response(body, client_body) -> dict`: a non-streaming upstream body -> the client's body.
    - `via`: the protocols a composed bridge passes through (empty for direct and identity bridges).
    - `identity`: nothing is translated (the client and the upstream speak the same protocol).
    """

    client: str
    upstream: str
    request: Callable[[dict], dict]
    stream: Callable[[dict], StreamTranslator]
    response: Callable[[Any, dict], Any]
    via: tuple[str, ...] = ()
    identity: bool = False  # nothing is translated: same-protocol traffic

    @property
    def label(self) -> str:
        hops = " -> ".join((self.client, *self.via, self.upstream))
        return "identity" if self.identity else f"bridge {hops}"


# Each folder holds a `BRIDGE`; a folder is named `<client>_over_<upstream>`.
_FOLDERS = (
    "responses_over_chat",
    "chat_over_responses",
    "messages_over_chat",
    "chat_over_messages",
    "chat_over_gemini",
    "gemini_over_chat",
)


@functools.cache
def direct() -> dict[tuple[str, str], Bridge]:
    """The bridges written by hand, by (client, upstream)."""
    found = {}
    for folder in _FOLDERS:
        bridge: Bridge = importlib.import_module(f"{__name__}.{folder}").BRIDGE
        found[(bridge.client, bridge.upstream)] = bridge
    return found


@functools.cache
def get(client: str, upstream: str) -> Bridge:
    """The bridge for a client protocol in front of an upstream protocol: identity, direct, or composed.

    KeyError when the pair cannot be bridged (a protocol with no bridge to or from the hub).
    """
    if client == upstream:
        return _identity(protocols.get(client))
    found = direct().get((client, upstream))
    if found is not None:
        return found
    if client == HUB or upstream == HUB:  # a hop to or from the hub not written yet: nothing to compose
        raise KeyError((client, upstream))
    return _compose(direct()[(client, HUB)], direct()[(HUB, upstream)])


def composed() -> list[tuple[str, str]]:
    """The pairs served by composition through the hub, not by a bridge of their own."""
    names = protocols.names()
    hops = direct()
    return [
        (c, u) for c in names for u in names if c != u and (c, u) not in hops and (c, HUB) in hops and (HUB, u) in hops
    ]


def _identity(protocol: protocols.Protocol) -> Bridge:
    return Bridge(protocol.name, protocol.name, _same, protocol.passthrough, _same_body, identity=True)


def _same(body: dict) -> dict:
    return body


def _same_body(body: Any, client_body: dict) -> Any:
    return body


def _compose(outer: Bridge, inner: Bridge) -> Bridge:
    """`outer` (client -> hub) after `inner` (hub -> upstream)."""

    def request(body: dict) -> dict:
        return inner.request(outer.request(body))

    def hub_body(client_body: dict) -> dict:
        # What the hub-side translator reads as "the client's request": the client body in hub form.
        # Bridges build new bodies, but a copy keeps the client's own body safe from any that does not.
        return outer.request(copy.deepcopy(client_body))

    def stream(client_body: dict) -> StreamTranslator:
        return Chained(outer.stream(client_body), inner.stream(hub_body(client_body)))

    def response(body: Any, client_body: dict) -> Any:
        return outer.response(inner.response(body, hub_body(client_body)), client_body)

    return Bridge(outer.client, inner.upstream, request, stream, response, via=(HUB,))


class Chained:
    """Two stream translators in a row: upstream events -> hub events (`inner`) -> client events (`outer`)."""

    def __init__(self, outer: StreamTranslator, inner: StreamTranslator):
        self.outer = outer
        self.inner = inner

    def _through(self, hub_events: list) -> list:
        out: list = []
        for event in hub_events:
            out.extend(self.outer.feed(event))
        return out

    def feed(self, event: Any) -> list:
        return self._through(self.inner.feed(event))

    def close(self) -> list:
        # The inner translator may still have to end the hub stream (or report it cut short).
        return self._through(self.inner.close()) + self.outer.close()

    def fail(self, message: str, code: str = "server_error") -> list:
        return self.outer.fail(message, code)

    def __getattr__(self, name: str):
        # `keepalive` is the client's business, so the outer (client-side) translator's, when it has one.
        if name == "keepalive":
            return self.outer.keepalive
        raise AttributeError(name)
