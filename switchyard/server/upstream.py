"""Calling upstreams: one pooled aiohttp session per process, the pack's credentials and timeouts.

One `ClientSession` serves every upstream so that keep-alive connections are reused across
requests (a new TLS handshake per request would cost more than everything else the proxy does).
Timeouts come from the pack: `connect` bounds connection set-up, `read` the longest silence
between bytes, which is what matters for LLM streams that may legitimately run for minutes.

Headers: the client's own headers go on, minus hop-by-hop ones (RFC 9110 section 7.6.1) and the
ones this hop owns (host, length, encoding). With `upstream.api_key` the client's Authorization is
replaced by the pack's key; without it the client's is forwarded unchanged. The pack's extra
`headers` come last and win.
"""

from __future__ import annotations

import asyncio
import base64
import functools
from collections.abc import Mapping
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

import aiohttp

from switchyard import protocols
from switchyard.errors import UpstreamError
from switchyard.language.pack import Upstream

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
# Set by this hop itself: the body is re-encoded, so its length and encoding are ours to say; what it
# accepts follows the upstream call it makes; the request id is the one it logs. (A client's own copy,
# in another case, would otherwise go as a second header beside ours.)
OWN = frozenset(
    {
        "host",
        "content-length",
        "content-type",
        "content-encoding",
        "accept-encoding",
        "expect",
        "accept",
        "x-request-id",
    }
)
# The client's own credentials: replaced by the pack's key, or dropped with `forward_client_auth: false`.
CREDENTIALS = frozenset({"authorization", "x-api-key", "api-key", "x-goog-api-key"})
# Response headers from the upstream that must not be copied onto our (re-encoded) response.
NOT_BACK = HOP_BY_HOP | {"content-length", "content-type", "content-encoding", "date", "server"}
# Dropped from the client's headers before anything else is looked at (`connection` is read first).
_NOT_ON = HOP_BY_HOP | OWN
# The same, as the raw header names of the upstream's answer; plus the two this hop sets itself.
_NOT_BACK_RAW = frozenset(name.encode() for name in NOT_BACK) | {b"x-request-id", b"x-switchyard-pack"}


def upstream_headers(
    client: Mapping[str, str], upstream: Upstream, request_id: str, stream: bool, client_auth: bool = True
) -> dict[str, str]:
    """The headers of the upstream call; `client_auth=False` when the client's credential was the gateway's."""
    headers: dict[str, str] = {}
    protocol = protocols.get(upstream.protocol)
    forward = client_auth and upstream.forward_client_auth
    credential = _client_credential(client) if forward and not upstream.api_key else None
    # A key goes on only as the upstream protocol takes one (below): the client's own credential
    # headers stay here whenever a key is sent that way, or none may be.
    keep_credentials = forward and not credential and not upstream.api_key
    named = None
    for name, value in client.items():
        low = name.lower()
        if low in _NOT_ON:
            if low == "connection":  # it may name more headers that end at this hop (RFC 9110 section 7.6.1)
                named = (named or set()) | {t.strip().lower() for t in value.split(",")}
            continue
        if low in CREDENTIALS and not keep_credentials:
            continue
        headers[name] = value
    if named:
        headers = {k: v for k, v in headers.items() if k.lower() not in named}
    if upstream.api_key:
        headers.update(protocol.auth_header(upstream.api_key))
    elif credential:
        # The client's own key, in the header the upstream's protocol reads it from: Claude Code's
        # `x-api-key` becomes `Authorization: Bearer` for a Chat provider, and the other way round.
        headers.update(protocol.auth_header(credential))
    elif (basic := _basic_auth(upstream.url)) and not any(k.lower() == "authorization" for k in headers):
        headers["Authorization"] = basic  # `https://user:pass@host`: used only when no other credential goes
    for name, value in protocol.required_headers.items():
        if not any(k.lower() == name for k in headers):
            headers[name] = value
    headers["Content-Type"] = "application/json"
    headers["Accept"] = "text/event-stream" if stream else "application/json"
    headers["X-Request-Id"] = request_id
    for name, value in upstream.headers.items():
        headers[name] = value
    return headers


def back_headers(raw: tuple[tuple[bytes, bytes], ...], request_id: str, pack: str) -> list[tuple[bytes, bytes]]:
    """The headers of the client's answer, as raw ASGI pairs: the upstream's own (as the bytes they came
    in, names lower-cased, minus the ones this hop re-encodes or sets), then the request id and the pack."""
    out = []
    for name, value in raw:
        name = name.lower()
        if name not in _NOT_BACK_RAW:
            out.append((name, value))
    out.append((b"x-request-id", request_id.encode("latin-1")))
    out.append((b"x-switchyard-pack", pack.encode("latin-1")))
    return out


def _client_credential(client: Mapping[str, str]) -> str | None:
    """The key a client sent: a Bearer token, `x-api-key`, Azure's `api-key` or Google's `x-goog-api-key`."""
    for name, value in client.items():
        low = name.lower()
        if low == "authorization" and value[:7].lower() == "bearer ":
            return value[7:].strip() or None
        if low in ("x-api-key", "api-key", "x-goog-api-key") and value.strip():
            return value.strip()
    for name, value in client.items():
        if name.lower() == "authorization" and value.strip():  # another scheme: passed on as it is
            return None
    return None


def endpoint(upstream: Upstream, path: str | None = None) -> str:
    """The URL of an upstream call: the pack's URL and the protocol's path (or the one made for this call)."""
    return _endpoint(upstream.url, protocols.get(upstream.protocol).upstream_path if path is None else path)


@functools.lru_cache(maxsize=256)
def _endpoint(url: str, upstream_path: str) -> str:
    # The path goes before a query string (`?api-version=...`), and a trailing slash must not double.
    # User info never goes in the URL itself: aiohttp refuses it beside an Authorization header, and
    # `upstream_headers` turns it into one when nothing else authenticates the request.
    parts = urlsplit(url)
    upstream_path, _, query = upstream_path.partition("?")  # a call's own query joins the URL's
    path = parts.path.rstrip("/") + upstream_path
    netloc = parts.netloc.rpartition("@")[2]
    query = "&".join(q for q in (parts.query, query) if q)
    return urlunsplit(parts._replace(netloc=netloc, path=path, query=query))


@functools.lru_cache(maxsize=256)
def _basic_auth(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.username is None:
        return None
    pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
    return "Basic " + base64.b64encode(pair.encode()).decode()


class Upstreams:
    """The process's shared session; `start()` inside the event loop, `close()` on shutdown."""

    def __init__(self, proxy: str | None = None) -> None:
        self.session: aiohttp.ClientSession | None = None
        self.proxy = proxy  # `--upstream-proxy`: an explicit egress proxy; environment proxies stay ignored

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, keepalive_timeout=75, ttl_dns_cache=300)
        # auto_decompress: a provider may gzip JSON bodies; the SSE decoder needs plain bytes.
        # trust_env=False: a sidecar's upstreams are named by its packs; an HTTP(S)_PROXY meant for the
        # app's other traffic must not silently reroute (and see) LLM calls and their keys.
        # DummyCookieJar: the session serves every client, so a cookie one provider answer set must not go
        # out with another client's request; a provider's Set-Cookie reaches the client, whose Cookie goes on.
        self.session = aiohttp.ClientSession(
            connector=connector, auto_decompress=True, trust_env=False, cookie_jar=aiohttp.DummyCookieJar()
        )

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None

    async def post(
        self, upstream: Upstream, headers: dict[str, str], body: bytes, path: str | None = None
    ) -> aiohttp.ClientResponse:
        """Send the request (to `path` when the call made its own); raise UpstreamError (502/504) when no
        HTTP answer comes back."""
        timeout = _timeout(upstream.connect_timeout, upstream.read_timeout)
        try:
            return await self.session.post(
                endpoint(upstream, path), data=body, headers=headers, timeout=timeout, proxy=self.proxy
            )
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise failure(exc, "request") from None


@functools.lru_cache(maxsize=64)
def _timeout(connect: float | None, read: float | None) -> aiohttp.ClientTimeout:
    # Frozen, so one per pair of values serves every request.
    return aiohttp.ClientTimeout(total=None, connect=connect, sock_connect=connect, sock_read=read)


def failure(exc: BaseException, stage: str) -> UpstreamError:
    """The one mapping of aiohttp's failures to ours, for each stage of an upstream call.

    `request`: no HTTP answer came (504 for a timeout, 502 otherwise); `body`: the answer was cut while
    a whole body was read (502); `stream`: a stream broke mid-way (`kind` goes into the metric).
    """
    timeout = isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError)
    if stage == "request" and timeout:
        return UpstreamError(f"upstream did not answer in time ({describe(exc)})", code="upstream_timeout", status=504)
    if stage == "request":
        return UpstreamError(f"upstream unreachable: {describe(exc)}", code="upstream_unreachable", status=502)
    if stage == "body":
        return UpstreamError(f"upstream body cut: {describe(exc)}", code="upstream_cut", status=502)
    kind = "timeout" if timeout else "cut"
    return UpstreamError(f"upstream stream {kind}: {describe(exc)}", code=f"stream_{kind}", status=502)


def describe(exc: BaseException) -> str:
    """A short, secret-free description of a connection failure (no headers, no URL query)."""
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect to {exc.host}:{exc.port} ({exc.os_error.strerror or type(exc.os_error).__name__})"
    if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return "timeout"
    text = str(exc).split("?")[0]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# What a key looks like wherever a provider or a client may have put one: OpenAI-style keys, masked or not.
# (A bearer token is the other shape; where it ends depends on the text it sits in, so each user adds it.)
KEY_SHAPE = r"\b(sk|pk|rk|ak)-[A-Za-z0-9_*\-.]{4,}"
# Names of headers and query parameters that hold credentials: their values are secrets wherever echoed.
SENSITIVE = ("authorization", "cookie", "token", "secret", "key")


@functools.lru_cache(maxsize=512)
def sensitive(name: str | bytes) -> bool:
    low = (name.decode("latin-1") if type(name) is bytes else name).lower()
    return any(word in low for word in SENSITIVE)


def pack_secrets(upstream: Upstream) -> list[str]:
    """A pack's keys (every endpoint's), its credential-like header values, and credential-like values in its URLs'
    query (cut from every URL shown, but a provider may echo the URL it was called with in an error)."""
    keys = [upstream.api_key or "", *upstream.api_keys, *(k for e in upstream.endpoints for k in e.api_keys)]
    values = [*keys, *(v for k, v in upstream.headers.items() if sensitive(k))]
    for url in {upstream.url, *(e.url for e in upstream.endpoints)}:
        values += [v for k, v in parse_qsl(urlsplit(url).query) if sensitive(k)]
    return [v for v in (v.strip() for v in values) if len(v) >= 4]


def scrub_secrets(data: bytes, upstream: Upstream) -> bytes:
    """A provider's error body with the pack's secrets masked: what it echoes must not reach the client or the log."""
    for secret in pack_secrets(upstream):
        data = data.replace(secret.encode(), b"[key]")
    return data
