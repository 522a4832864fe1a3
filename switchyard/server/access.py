"""Who may use what: client tokens for `/v1`, the admin rule for `/-/`, and the guard on open binds.

A sidecar listens on loopback and its app is its only client; then nothing needs a token. Bound to
any other address, `/v1` would serve anyone on the network with the packs' keys, so `serve` refuses
a non-loopback `--host` unless client tokens gate `/v1` (`--client-token`, `--client-token-file`,
several allowed) or the operator says `--allow-open`.

A client presents its token the way its SDK sends a key: `Authorization: Bearer <token>` (OpenAI
SDKs, Codex), `x-api-key: <token>` (Anthropic SDKs, Claude Code) or `x-goog-api-key: <token>` (Gemini
CLI and the google-genai SDKs; `?key=<token>` in a Gemini route's query is read as that header). The
token is the gateway's, not a provider's: it is consumed here and never forwarded upstream (`Proxy`
treats the pack as if it had `forward_client_auth: false`). Comparisons take constant time. Tokens
never appear in logs.

The admin rule: `/-/` endpoints answer loopback peers (judged on the socket's address, never on
forwarded headers), or any peer presenting the admin token.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterable, Mapping

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from switchyard.errors import UsageError
from switchyard.protocols.openai import error_body


def read_tokens(given: Iterable[str] = (), files: Iterable[str] = ()) -> tuple[str, ...]:
    """Tokens from the command line and from files (one per line; blank lines and `#` comments skipped)."""
    tokens = [t.strip() for t in given if t.strip()]
    for name in files:
        try:
            with open(name, encoding="utf-8") as f:
                lines = f.read().splitlines()
        except OSError as exc:
            raise UsageError(f"cannot read the token file {name}: {exc.strerror or exc}") from None
        found = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
        if not found:
            raise UsageError(f"the token file {name} holds no token")
        tokens.extend(found)
    return tuple(tokens)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def open_bind_refusal(host: str, client_tokens: tuple[str, ...], allow_open: bool) -> str | None:
    """Why `serve` must not start on `host`, or None."""
    if is_loopback(host) or client_tokens or allow_open:
        return None
    return (
        f"--host {host} would serve /v1, with the packs' keys, to anyone who can reach it; "
        "give --client-token or --client-token-file, or --allow-open if something else guards it"
    )


class ClientGate:
    """Whether a request to `/v1` presents one of the client tokens (always, when there are none)."""

    def __init__(self, tokens: tuple[str, ...] = ()):
        self.tokens = tuple(t.encode() for t in tokens)

    def __bool__(self) -> bool:
        return bool(self.tokens)

    def admits(self, headers: Mapping[str, str]) -> bool:
        if not self.tokens:
            return True
        given = headers.get("x-api-key") or headers.get("x-goog-api-key") or ""
        authorization = headers.get("authorization") or ""
        if authorization[:7].lower() == "bearer ":
            given = authorization[7:].strip()
        presented = given.encode()
        # Every token is compared, so the time taken says nothing about which one came close.
        return any([hmac.compare_digest(presented, token) for token in self.tokens])


def admin_denied(request: Request, token: str | None) -> Response | None:
    """None when the caller may use `/-/`; the 403 to answer otherwise."""
    if is_loopback(request.client.host if request.client else ""):
        return None
    given = request.headers.get("authorization", "")
    if token and hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return None
    body = error_body(
        "admin endpoints answer loopback clients or an admin token", "permission_error", None, "forbidden"
    )
    return JSONResponse(body, status_code=403)
