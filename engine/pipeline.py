"""The path a body takes through a pack, shared by the server and the command line.

Request: the client's body, translated by the bridge when the client protocol differs from the
pack's upstream protocol, then the pack's `request` steps. Response: each upstream event (or the
non-streaming body) through the pack's `response` steps, then translated back by the bridge's
stream translator or `response` function. Keeping this in one place is what makes
`switchyard apply` and `switchyard test` show exactly what the server would send.
"""

from __future__ import annotations

from typing import Any

from .bridge import Bridge, get_bridge
from .pack import Pack


def bridge_for(pack: Pack, client: str) -> Bridge | None:
    return get_bridge(client, pack.upstream.protocol)


def upstream_request(pack: Pack, client: str, body: dict) -> dict:
    """What the upstream receives for this client body (the body is changed in place and returned)."""
    bridge = bridge_for(pack, client)
    if bridge is not None:
        body = bridge.request(body)
    return pack.run_request(body)


def response_event(pack: Pack, event: Any) -> Any:
    """One upstream event or body after the pack's `response` steps, before translation back."""
    return pack.run_response(event)
