"""switchyard/server/app.py: who may use the `/-/` admin endpoints.

The rule (loopback clients always; others only with the admin token) is checked on ASGI scopes
built here, because the tests may not send traffic to any non-loopback address.
"""

from __future__ import annotations

from starlette.requests import Request

from switchyard.server.access import admin_denied as _admin_denied
from switchyard.server.app import redact_url


def request(host: str, authorization: str | None = None) -> Request:
    headers = [(b"authorization", authorization.encode())] if authorization else []
    return Request({"type": "http", "method": "GET", "path": "/-/rules", "headers": headers, "client": (host, 50000)})


def test_loopback_clients_are_admitted_without_a_token() -> None:
    assert _admin_denied(request("127.0.0.1"), None) is None
    assert _admin_denied(request("::1"), "secret") is None


def test_other_clients_are_refused_with_403_in_the_error_shape_when_no_token_is_configured() -> None:
    denied = _admin_denied(request("192.0.2.10", "Bearer anything"), None)
    assert denied is not None and denied.status_code == 403
    assert b'"code":"forbidden"' in denied.body


def test_other_clients_are_admitted_with_the_configured_token_and_refused_with_another() -> None:
    assert _admin_denied(request("192.0.2.10", "Bearer s3cret"), "s3cret") is None
    assert _admin_denied(request("192.0.2.10", "Bearer wrong"), "s3cret").status_code == 403
    assert _admin_denied(request("192.0.2.10"), "s3cret").status_code == 403


def test_introspection_urls_lose_user_info_and_query_strings() -> None:
    assert redact_url("https://user:pw@h.example:8443/v1?key=abc") == "https://h.example:8443/v1"
