"""`switchyard trace`: what a running server did with one request, printed as `apply --explain` prints it.

    switchyard trace ID [--server URL]             one request: its calls, and for a failed one what
                                                   the bridge and each step changed, and why the
                                                   field the provider refused was sent
    switchyard trace --list [--failed] [--limit N] the recent requests, newest first

It reads `GET /-/requests/{id}` and `GET /-/requests` (the server keeps them with `serve --trace N`),
so it needs what those need: a loopback connection, or `--admin-token`. Its defaults are the settings
`serve` reads (`SWITCHYARD_ADMIN_PORT` and `_ADMIN_HOST`, else `SWITCHYARD_PORT` and `_HOST`; the admin
token and its file; `SWITCHYARD_SERVER` names a URL outright), so in a container or pod configured with
them it works as it is. The changes are printed with the wording of
`apply --explain` (`switchyard.language.explain.explain_line`): the bridge as its top-level shape
(as `--short` prints it), each step as the paths it changed.
"""

from __future__ import annotations

import argparse
import json
import urllib.error
import urllib.parse
import urllib.request

from switchyard.cli.common import admin_server, admin_token
from switchyard.errors import UsageError
from switchyard.language.explain import Changes, explain_line


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("trace", help="print what a running server did with a request (serve --trace)")
    p.add_argument("id", nargs="?", metavar="ID", help="the request id (X-Request-Id, request_id in the log)")
    p.add_argument("--list", action="store_true", help="list the recent requests instead, newest first")
    p.add_argument("--failed", action="store_true", help="with --list: failed requests only")
    p.add_argument("--limit", type=int, metavar="N", help="with --list: at most N requests")
    p.add_argument(
        "--server",
        metavar="URL",
        help="the server's admin endpoints (default: $SWITCHYARD_SERVER, else from the SWITCHYARD_ADMIN_HOST/"
        "_ADMIN_PORT or SWITCHYARD_HOST/_PORT that serve reads, else http://127.0.0.1:8080)",
    )
    p.add_argument(
        "--admin-token",
        metavar="TOKEN",
        help="the server's admin token, for a server not on loopback "
        "(default: $SWITCHYARD_ADMIN_TOKEN or the file $SWITCHYARD_ADMIN_TOKEN_FILE, as serve reads them)",
    )
    p.add_argument("--json", action="store_true", help="print the trace as the server keeps it (JSON)")
    return p


def run(args: argparse.Namespace) -> int:
    args.server = args.server or admin_server()  # the settings `serve` reads: the same in a pod as they are
    args.admin_token = args.admin_token or admin_token()
    if args.list == bool(args.id):
        raise UsageError("give a request ID, or --list")
    if args.list:
        query = {k: v for k, v in (("failed", "1" if args.failed else None), ("limit", args.limit)) if v is not None}
        data = _get(args, "/-/requests" + ("?" + urllib.parse.urlencode(query) if query else ""))
        print(json.dumps(data, indent=2, ensure_ascii=False) if args.json else listing(data))
        return 0
    data = _get_kept(args, "/-/requests/" + urllib.parse.quote(args.id, safe=""))
    print(json.dumps(data, indent=2, ensure_ascii=False) if args.json else describe(data))
    return 0


def listing(data: dict) -> str:
    rows = data.get("requests", [])
    if not data.get("capacity"):
        return "tracing is off on this server (serve --trace 0)"
    if not rows:
        return f"no request traced yet (the last {data['capacity']} are kept)"
    lines = [f"{'time':<24}  {'status':>6}  {'ms':>9}  {'client':<9}  {'pack':<16}  id / error"]
    for r in rows:
        lines.append(
            f"{r['time']:<24}  {r['status']:>6}  {r['duration_ms']:>9.1f}  {r['client']:<9}  {r['pack'] or '-':<16}  "
            f"{r['id']}" + (f"  {r['error']}" if r.get("error") else "")
        )
    return "\n".join(lines)


def describe(t: dict) -> str:
    """One trace, for people: the request, what each part of the path changed, the calls, the story."""
    lines = [
        f"request {t['id']} at {t['time']}: POST {t['route']}, client {t['client']}, "
        + (f"pack {t['pack']} (upstream {t['upstream']})" if t.get("pack") else "no pack")
        + (f", model {t['model']}" if t.get("model") else "")
        + (", stream" if t.get("stream") else ""),
        f"answered {t['status']} after {t['duration_ms']} ms"
        + (f"; source {t['source']}: {t['error']}" if t.get("source") else f": {t['error']}" if t.get("error") else ""),
    ]
    tokens = t.get("tokens")
    if isinstance(tokens, dict):
        lines.append(
            f"tokens: in {tokens['input']} (cached {tokens['cached']}), out {tokens['output']} "
            f"(reasoning {tokens['reasoning']})"
            + (f", cache written {tokens['cache_written']}" if tokens.get("cache_written") else "")
            + (f"; first token after {t['first_token_ms']} ms" if t.get("first_token_ms") is not None else "")
        )
    elif tokens == "unknown":
        lines.append("tokens: unknown (the answer carried no usage)")
    if t.get("client_fields") is not None:
        lines.append("the client sent: " + ", ".join(t["client_fields"]))
    for change in t.get("changes", ()):
        step = bool(change["where"])
        lines.append(explain_line(change["label"], change["ran"], Changes.from_json(change), not step, not step))
    if t.get("ended"):
        lines.append(f"ended: {t['ended']}")
    if t.get("sent_fields") is not None:
        replay = f" (the replay is {t['replay']})" if t.get("replay") == "as sent" else ""
        lines.append("what was sent: " + ", ".join(t["sent_fields"]) + replay)
    if t.get("replay") and t["replay"] != "as sent":
        lines.append(f"changes: {t['replay']}")
    if t["failed"] and "changes" not in t and t.get("pack") and not t.get("replay"):
        lines.append("changes: none to show (the request ended before its pack's path ran)")
    for i, call in enumerate(t.get("attempts", ()), 1):
        answer = f"{call['status']}" if call["status"] is not None else "no answer"
        line = f"attempt {i}: pack {call['pack']}, POST {call['url']} -> {answer} in {call['ms']} ms"
        if call.get("model"):
            line += f" (model {call['model']})"
        if call.get("retried"):
            line += f"; tried again: {call['retried']}"
        lines.append(line)
        headers = call.get("headers")
        if headers:
            shown = headers if isinstance(headers, list) else [f"{k}: {v}" for k, v in headers.items()]
            lines.append("  headers: " + ", ".join(shown))
        if "error_body" in call:
            lines.append("  error body: " + _compact(call["error_body"]))
        if "body" in call:
            lines.append("  body sent: " + _compact(call["body"]))
    for item in t.get("blame", ()):
        lines.append(f"why {item['field']} was sent:")
        lines.extend(f"  {line}" for line in item["story"])
        if item.get("hint"):
            lines.append(f"  hint: {item['hint']}")
    if "body" in t:
        lines.append("client body: " + _compact(t["body"]))
    for side, ends in (t.get("events") or {}).items():
        if ends:
            lines.append(f"{side} stream: {ends['count']} events; first {ends['first']!s}; last {ends['last']!s}")
    return "\n".join(lines)


def _compact(value) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# With `serve --workers N` each worker keeps its own traces, and each new connection may reach another
# worker (SO_REUSEPORT spreads them): a 404 is asked again, on a new connection each time, before it is
# believed. With 2 workers, 12 tries all reaching the wrong one is a 1-in-4096 chance.
_TRIES = 12


def _get_kept(args: argparse.Namespace, path: str):
    for _ in range(_TRIES - 1):
        try:
            return _get(args, path, missing_ok=True)
        except _Missing:
            continue
    return _get(args, path)


class _Missing(Exception):
    pass


def _get(args: argparse.Namespace, path: str, missing_ok: bool = False):
    url = args.server.rstrip("/") + path
    headers = {"Authorization": f"Bearer {args.admin_token}"} if args.admin_token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as resp:
            return json.load(resp)
    except urllib.error.HTTPError as exc:
        if exc.code == 404 and missing_ok:
            raise _Missing() from None
        try:
            message = json.load(exc)["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = exc.reason
        raise UsageError(f"{args.server} answered {exc.code}: {message}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise UsageError(f"cannot reach {args.server}: {getattr(exc, 'reason', exc)}") from None
