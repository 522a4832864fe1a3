"""The protocols Switchyard speaks, each a record, and the registry that lists them.

Protocols are code: a few specifications, each written once, in one folder (`chat/`, `responses/`,
...). Everything the rest of Switchyard needs to know about a protocol is a field of its `Protocol`
record: the route clients call, the path appended to an upstream URL, how its stream is framed and
when it is over, the identity translator that ends a same-protocol stream properly, how a whole
stream folds into one body, how its upstreams report failures, how its clients are told of them,
and which statuses its clients act on. The server's routes, `apply --client` and the pack schema's
enums are read from this registry; nothing else names a protocol.

Adding a protocol is one new folder with a `PROTOCOL` record and one line in `_FOLDERS` below
(the bridges to and from it live in `switchyard.bridges`, the other registry).
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from typing import Protocol as Interface

from switchyard.errors import ClientFacing, UpstreamFailed


class StreamTranslator(Interface):
    """Per-stream state turning upstream events into client events (a bridge's, or a protocol's identity one).

    `feed` one upstream JSON event and get the client events it makes (possibly none); `close` when
    the upstream ended (an end marker or EOF); `fail` when it broke mid-stream or a response step
    failed. After the end, nothing more is emitted: a client never sees a truncated success.
    """

    def feed(self, event: Any) -> list: ...
    def close(self) -> list: ...
    def fail(self, message: str, code: str = "server_error") -> list: ...


@dataclass(frozen=True)
class Framing:
    """How one client stream is written: each event's bytes, what follows the last, and its media type."""

    frame: Callable[[Any], bytes]
    end: bytes = b""
    media_type: bytes = b"text/event-stream; charset=utf-8"


@dataclass(frozen=True)
class Routed:
    """A client request that names facts in its URL (Gemini's `/v1beta/models/{model}:streamGenerateContent`).

    `facts` are the body fields the URL stands for, set on the body before anything reads it (a None
    value removes the field), so packs and bridges see the model as they do in every other protocol.
    `headers` are the request headers the query stands for (`?key=` is `x-goog-api-key`), added where the
    client did not send them; the query itself is never logged. `local`, when set, answers the request
    in the proxy from its body (a token count), with no upstream.
    """

    facts: dict
    headers: dict = field(default_factory=dict)
    local: Callable[[Any], Any] | None = None


@dataclass(frozen=True)
class Protocol:
    """One protocol, as the server, the bridges and the command line see it."""

    name: str
    route: str  # the client's endpoint, e.g. "/v1/chat/completions"
    upstream_path: str  # appended to a pack's upstream.url, e.g. "/chat/completions"
    passthrough: Callable[[dict], StreamTranslator]  # (client body) -> the identity translator
    aggregate: Callable[[list], Any]  # a whole stream's events -> the one body they amount to; raises UpstreamFailed
    frame: Callable[[Any], bytes]  # one client event -> its SSE bytes
    terminal: Callable[[Any], bool]  # whether a client event ends the client's stream
    failure: Callable[[Any], str | None]  # the message of a client event that reports a failure, else None
    render_error: Callable[[ClientFacing], dict]  # an error, in this protocol's error body
    is_error_shape: Callable[[Any], bool]  # whether an upstream error body is already this protocol's shape
    body_failed: Callable[[Any], bool]  # whether a 200 body carries a failure
    upstream_error: Callable[[Any], UpstreamFailed]  # a failure reported in a body or an event -> the exception
    describe_error_body: Callable[[Any, bytes, int], ClientFacing]  # an upstream 4xx/5xx body -> one error
    end: bytes = b""  # written after the client's last event (Chat's `data: [DONE]`)
    # (upstream or proxy status, error code) -> the status this protocol's clients must see to act right
    client_status: Callable[[int, str | None], int] = field(default=lambda status, code: status)
    ask_stream: Callable[[dict], None] = field(default=lambda body: None)  # upstream request made a stream by us
    # Named events of the shapes this protocol's upstreams stream, for `switchyard test` to run a pack's
    # response steps on (a step that errors on a role-only first chunk is a bug found before production).
    stream_shapes: tuple[tuple[str, Any], ...] = ()
    # A typical streaming client request, for `switchyard check` to see what a bridge adds to it.
    sample_request: dict = field(default_factory=dict)
    # How an upstream of this protocol takes a key, and the headers it requires (`anthropic-version`).
    auth_header: Callable[[str], dict[str, str]] = field(default=lambda key: {"Authorization": f"Bearer {key}"})
    required_headers: dict = field(default_factory=dict)
    # Endpoints answered by the proxy itself for this protocol's clients: (path, body -> answer body).
    local_routes: tuple[tuple[str, Callable[[dict], Any]], ...] = ()
    # A protocol whose routes carry facts in the path (Gemini): a POST under one of `route_prefixes`
    # is read by `read_route(path, query)` into a `Routed`, or None when the path is not one of its routes.
    route_prefixes: tuple[str, ...] = ()
    read_route: Callable[[str, str], Routed | None] | None = None
    # A protocol with more than one way to write a stream (Gemini: SSE, or a JSON array): per client body.
    framing: Callable[[dict], Framing] | None = None
    # A protocol whose upstream path depends on the body (Gemini's model in the path): the path and
    # query to append to the upstream URL, the fields it stands for taken out of the body.
    upstream_route: Callable[[dict], str] | None = None
    # GET listings of the packs' models in this protocol's shape: (path, [(model, pack name)] -> body).
    model_lists: tuple[tuple[str, Callable[[list[tuple[str, str]]], Any]], ...] = ()


# Each folder's module holds a `PROTOCOL`; the order is the order of `--client` choices and routes.
_FOLDERS = ("chat", "responses", "messages", "gemini")


@functools.cache
def registry() -> dict[str, Protocol]:
    """Every protocol by name. Loaded on first use: a protocol's folder imports this module for `Protocol`."""
    found: dict[str, Protocol] = {}
    for folder in _FOLDERS:
        protocol: Protocol = importlib.import_module(f"{__name__}.{folder}").PROTOCOL
        found[protocol.name] = protocol
    return found


def get(name: str) -> Protocol:
    """The protocol of this name; KeyError for one no folder defines."""
    return registry()[name]


def names() -> tuple[str, ...]:
    return tuple(registry())
