"""The built-in bridges between the two OpenAI protocols: code, because protocols are specifications.

A request whose client protocol (the path it called) differs from its pack's `upstream.protocol`
goes through a bridge: the request is translated before the pack's `request` steps run, and every
upstream event (or the non-streaming body) is translated back after the pack's `response` steps.

A bridge is stateless; all per-request state lives in the stream translator it makes, and
everything a translator needs to know about the client (the tools it declared, whether it asked
for usage) it reads from the client's original body. That keeps reloads and concurrency trivial.

Contract, for each direction (client, upstream):

- `request(body) -> dict`: client request -> upstream request. Raises `RequestError` for a body
  that cannot be translated (rendered as a 4xx in the client's error shape).
- `stream(client_body) -> translator` with
  `feed(event: dict) -> list[dict]` (one upstream JSON event -> client events, possibly none),
  `close() -> list[dict]` (the upstream ended: `[DONE]` or EOF) and
  `fail(message, code) -> list[dict]` (the upstream broke mid-stream: the client must see an error,
  never a truncated success). Chat clients get `data: [DONE]` from the server after close/fail.
- `response(body, client_body) -> dict`: non-streaming upstream body -> client body.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


class StreamTranslator(Protocol):
    def feed(self, event: dict) -> list[dict]: ...
    def close(self) -> list[dict]: ...
    def fail(self, message: str, code: str = "server_error") -> list[dict]: ...


@dataclass(frozen=True)
class Bridge:
    """One direction of translation, assembled from the functions of two modules."""

    client: str
    upstream: str
    request: Any  # (body: dict) -> dict
    stream: Any  # (client_body: dict) -> StreamTranslator
    response: Any  # (body: dict, client_body: dict) -> dict


def get_bridge(client: str, upstream: str) -> Bridge | None:
    """The bridge for a client protocol in front of an upstream protocol; None when they are equal."""
    if client == upstream:
        return None
    return _bridges()[(client, upstream)]


_cache: dict = {}


def _bridges() -> dict:
    # Imported lazily so that the pack tooling never pays for the bridges it does not use.
    if not _cache:
        from switchyard.bridges.chat_over_responses import request as chat_over_responses_request
        from switchyard.bridges.chat_over_responses import stream as chat_over_responses_stream
        from switchyard.bridges.responses_over_chat import request as responses_over_chat_request
        from switchyard.bridges.responses_over_chat import stream as responses_over_chat_stream

        _cache[("responses", "chat")] = Bridge(
            "responses",
            "chat",
            responses_over_chat_request.to_chat,
            responses_over_chat_stream.ResponsesStream,
            responses_over_chat_stream.to_response,
        )
        _cache[("chat", "responses")] = Bridge(
            "chat",
            "responses",
            chat_over_responses_request.to_responses,
            chat_over_responses_stream.ChatStream,
            chat_over_responses_stream.to_completion,
        )
    return _cache
