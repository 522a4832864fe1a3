"""The path a body takes through a pack, shared by the server and the command line.

Request: the client's body, translated by the bridge when the client protocol differs from the
pack's upstream protocol, then the pack's `request` steps. Response: each upstream event (or the
non-streaming body) through the pack's `response` steps, then translated back by the bridge's
stream translator or `response` function. Keeping this in one place is what makes
`switchyard apply` and `switchyard test` show exactly what the server would send.
"""

from __future__ import annotations

from typing import Any

from switchyard.bridges import get_bridge
from switchyard.language.pack import Pack


def upstream_request(pack: Pack, client: str, body: dict) -> dict:
    """What the upstream receives for this client body (the body is changed in place and returned)."""
    return pack.run_request(translated_request(pack, client, body))


def translated_request(pack: Pack, client: str, body: dict) -> dict:
    """The body in the upstream's protocol, before the pack's request steps.

    With `force_stream` the upstream is asked for a stream before anything else runs, so that the
    bridge and the steps see the request as it will really be sent (a `match: "!stream"` step must
    not fire). A same-protocol Chat upstream is also asked for usage (`stream_options.include_usage`,
    a default a step may drop): the aggregated body the client gets must carry it, as a
    non-streaming answer would.
    """
    bridge = get_bridge(client, pack.upstream.protocol)
    if pack.upstream.force_stream and body.get("stream") is not True:
        body["stream"] = True
        if bridge is None and client == "chat":
            options = body.get("stream_options")
            if not isinstance(options, dict):
                options = body["stream_options"] = {}
            options.setdefault("include_usage", True)
    if bridge is not None:
        body = bridge.request(body)
    return body


def response_event(pack: Pack, event: Any) -> Any:
    """One upstream event or body after the pack's `response` steps, before translation back."""
    return pack.run_response(event)
