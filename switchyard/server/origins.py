"""Browsers and DNS rebinding: the `Origin`, `Host` and `Content-Type` checks in front of every route.

A proxy on a developer's loopback holds the packs' provider keys, and any web page the developer
opens can make the browser send it requests. Three doors, three checks:

- a cross-origin request: browsers send `Origin` with every POST (fetch in any mode, a form) and
  every cross-origin fetch. A request that carries an `Origin` is refused (403, in the route's
  error shape) unless it is one of `--cors-origin`; for those the CORS preflight (`OPTIONS` with
  `Access-Control-Request-Method`) is answered and answers carry `Access-Control-Allow-Origin`;
- a "simple request" (no preflight) is a POST whose body is `text/plain`, a form or multipart: a
  POST to a protocol's route (or its local routes: `count_tokens`) whose body is not declared JSON
  (`application/json`, `application/*+json`) is refused 415. Every real client (the OpenAI and
  Anthropic SDKs, Codex CLI, Claude Code, Gemini CLI) declares its bodies JSON. This closes the path
  even for a browser that left `Origin` out;
- DNS rebinding: a page on `evil.example` whose name is made to resolve to 127.0.0.1 is, to the
  browser, same-origin with the proxy, so its GETs carry no `Origin`; they do carry
  `Host: evil.example:8080`. On a listener bound to loopback only loopback names (`localhost`,
  `*.localhost`, which browsers resolve themselves) and loopback addresses are served, and the names
  given with `--allowed-host`. Given any `--allowed-host`, every listener checks `Host`; a listener
  not bound to loopback also takes any address literal (an address is no DNS name, nothing to rebind).

The design choice: one plain ASGI wrapper, outside the router and the proxy, so every listener and
every route (the admin ones included) gets the same checks and nothing else needs to know. It must
cost next to nothing on the hot path: the headers are decoded into a dict once, here, and the proxy
takes that dict from the scope instead of decoding them itself; then three look-ups (each distinct
`Host` and `Content-Type` value is judged once and remembered).
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, Iterable

import orjson

from switchyard import protocols
from switchyard.errors import RequestError
from switchyard.server.access import is_loopback
from switchyard.server.asgi import HEADERS
from switchyard.server.http_guard import protocol_of, route_protocols

log = logging.getLogger("switchyard")
_logged: set[str] = set()  # the refusals already logged (once each)
_REMEMBERED = 256  # distinct Host / Content-Type values judged once; past this, judged every time
# What a page may read of an allowed answer beyond the CORS-safelisted headers.
_EXPOSED = b"x-request-id, retry-after"
_PREFLIGHT_METHODS = b"GET, POST, OPTIONS"


def guard(app, cors_origins: Iterable[str] = (), allowed_hosts: Iterable[str] = ()):
    """`app` behind the three checks; `cors_origins` are `scheme://host[:port]` origins, `allowed_hosts` names."""
    origins = {normal_origin(o) for o in cors_origins}
    hosts = frozenset(h.strip().lower().rstrip(".") for h in allowed_hosts if h.strip())
    shapes = route_protocols()
    json_routes = {path.decode() for path in shapes}  # every protocol's route and local routes: JSON bodies
    # and the routes that name facts in their path (Gemini's `/v1beta/models/{model}:generateContent`)
    json_prefixes = tuple(prefix for name in protocols.names() for prefix in protocols.get(name).route_prefixes)
    judged_hosts: tuple[dict[str, bool], dict[str, bool]] = ({}, {})  # [listener on loopback][Host] -> served
    judged_types: dict[str, bool] = {}  # Content-Type value -> declares JSON
    loopback_listeners: dict[object, bool] = {}  # the ASGI scope's `server` -> bound to loopback

    async def checked(scope, receive, send):
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        # The headers decoded once, as the proxy reads them (`asgi.Incoming` takes this dict from the
        # scope): on the hot path the checks cost three look-ups, not another pass over the headers.
        headers = scope[HEADERS] = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host")
        if host is not None:
            server = scope.get("server")
            loopback = loopback_listeners.get(server)
            if loopback is None:
                loopback = loopback_listeners[server] = bool(server) and is_loopback(server[0])
            if loopback or hosts:
                judged = judged_hosts[loopback]
                served = judged.get(host)
                if served is None:
                    served = _host_served(host, loopback, hosts)
                    if len(judged) < _REMEMBERED:
                        judged[host] = served
                if not served:
                    await _refuse(scope, send, shapes, 403, "host_not_allowed", _host_message(host))
                    return
        method = scope["method"]
        origin = headers.get("origin")
        if origin is not None:
            if origin not in origins:
                message = (
                    f"requests from the web origin {origin[:200]} are refused: "
                    "a page in a browser may not use this proxy's keys (serve --cors-origin allows an origin)"
                )
                await _refuse(scope, send, shapes, 403, "origin_not_allowed", message)
                return
            if method == "OPTIONS" and "access-control-request-method" in headers:
                await _preflight(send, origin, headers.get("access-control-request-headers"))
                return
            send = _with_cors(send, origin.encode("latin-1"))
        if method == "POST" and (scope["path"] in json_routes or scope["path"].startswith(json_prefixes)):
            content_type = headers.get("content-type")
            declared = judged_types.get(content_type) if content_type is not None else False
            if declared is None:
                declared = _is_json(content_type)
                if len(judged_types) < _REMEMBERED:
                    judged_types[content_type] = declared
            if not declared:
                given = content_type[:200] if content_type is not None else "none"
                message = f"the body must be declared JSON (Content-Type: application/json); it was {given}"
                await _refuse(scope, send, shapes, 415, "unsupported_media_type", message)
                return
        await app(scope, receive, send)

    checked.state = getattr(app, "state", None)  # type: ignore[attr-defined]
    return checked


def normal_origin(value: str) -> str:
    """An origin as browsers write it in `Origin`: lower-case scheme and host, no path, no trailing slash."""
    origin = value.strip().lower().rstrip("/")
    scheme, sep, rest = origin.partition("://")
    if not sep or not scheme or not rest or "/" in rest:
        raise ValueError(f"not an origin (scheme://host[:port]): {value!r}")
    return origin


def _host_served(value: str, loopback: bool, allowed: frozenset[str]) -> bool:
    name = _hostname(value)
    if name in allowed or name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False  # a DNS name neither loopback's nor allowed: what rebinding looks like
    return address.is_loopback or not loopback


def _hostname(value: str) -> str:
    """The name or address of a `Host` value, without its port or an IPv6 literal's brackets."""
    text = value.strip().lower()
    if text.startswith("["):
        return text[1 : text.find("]")] if "]" in text else text
    return (text.rpartition(":")[0] if text.count(":") == 1 else text).rstrip(".")


def _host_message(host: str) -> str:
    return (
        f"this proxy does not serve the host name {_hostname(host)[:200]!r} (a page using DNS rebinding looks "
        "like this); use 127.0.0.1 or localhost, or serve --allowed-host NAME"
    )


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


async def _refuse(scope, send: Callable, shapes: dict[bytes, str], status: int, code: str, message: str) -> None:
    """The refusal in the error shape of the route the path names (the OpenAI one elsewhere).

    Logged once per distinct reason, so the operator learns a page or a client was refused (a page
    retrying in a loop must not fill the log).
    """
    if message not in _logged and len(_logged) < _REMEMBERED:
        _logged.add(message)
        log.warning("refused %s %s with %d: %s", scope["method"], scope["path"], status, message)
    kind = "permission_error" if status == 403 else "invalid_request_error"
    error = RequestError(message, status=status, code=code, type=kind)
    body = orjson.dumps(protocols.get(protocol_of(scope["path"].encode(), shapes)).render_error(error))
    headers = [(b"content-length", b"%d" % len(body)), (b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _preflight(send: Callable, origin: str, asked: str | None) -> None:
    """The CORS preflight for an allowed origin: it may send what it asked to (its requested headers)."""
    headers = [
        (b"access-control-allow-origin", origin.encode("latin-1")),
        (b"access-control-allow-methods", _PREFLIGHT_METHODS),
        (b"access-control-max-age", b"600"),
        (b"vary", b"Origin, Access-Control-Request-Method, Access-Control-Request-Headers"),
    ]
    if asked:
        headers.append((b"access-control-allow-headers", asked.encode("latin-1")))
    await send({"type": "http.response.start", "status": 204, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


def _with_cors(send: Callable, origin: bytes) -> Callable:
    """`send` with the CORS headers added to the answer's head, for a request from an allowed origin."""

    async def sending(message) -> None:
        if message["type"] == "http.response.start":
            message = dict(message)
            message["headers"] = [
                *message.get("headers", ()),
                (b"access-control-allow-origin", origin),
                (b"access-control-expose-headers", _EXPOSED),
                (b"vary", b"Origin"),
            ]
        await send(message)

    return sending
