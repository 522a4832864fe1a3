"""`switchyard serve`: the sidecar server (`switchyard.server`), with its flags."""

from __future__ import annotations

import argparse

from switchyard.cli.common import DEFAULT_RULES


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("serve", help="run the sidecar server")
    p.add_argument("--rules", default=DEFAULT_RULES, metavar="DIR", help="the folder of pack files to serve")
    p.add_argument("--host", default="127.0.0.1", help="the address to listen on")
    p.add_argument("--port", type=int, default=8080, help="the port to listen on")
    p.add_argument("--watch", action="store_true", help="reload when a file in the rules folder changes")
    p.add_argument(
        "--log-format", choices=("text", "json"), default="text", help="one line per request, as text or JSON"
    )
    p.add_argument(
        "--log-level", default="info", type=str.lower, choices=("debug", "info", "warning", "error"), help="what to log"
    )
    p.add_argument(
        "--max-body", type=int, default=64 * 1024 * 1024, metavar="BYTES", help="the largest request body (413 above)"
    )
    p.add_argument("--admin-token", default=None, help="also allow /-/ endpoints to non-loopback clients")
    p.add_argument("--admin-token-file", metavar="FILE", help="read the admin token from a file (a mounted Secret)")
    p.add_argument(
        "--client-token",
        action="append",
        metavar="TOKEN",
        help="gate /v1: clients must send it as 'Authorization: Bearer' or 'x-api-key' (repeatable)",
    )
    p.add_argument(
        "--client-token-file", action="append", metavar="FILE", help="client tokens, one per line (repeatable)"
    )
    p.add_argument("--allow-open", action="store_true", help="allow a non-loopback --host without client tokens")
    p.add_argument(
        "--upstream-proxy", metavar="URL", help="send upstream calls through this HTTP(S) proxy (corporate egress)"
    )
    p.add_argument(
        "--partial",
        action="store_true",
        help="leave a broken pack file out and serve the others (default: any problem stops start-up and reloads)",
    )
    return p


def run(args: argparse.Namespace) -> int:
    from switchyard.server.app import serve  # the server's imports are paid by `serve` only

    return serve(args)
