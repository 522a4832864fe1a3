"""`switchyard serve`: the sidecar server (`switchyard.server`), with its flags.

Every flag has a help line and an environment variable (`SWITCHYARD_` and its name: `--log-format`
is `SWITCHYARD_LOG_FORMAT`); a flag given on the command line wins.
"""

from __future__ import annotations

import argparse
import os

from switchyard.cli.common import rules_to_serve
from switchyard.errors import UsageError
from switchyard.server.http_guard import DEFAULT_BODY_TIMEOUT, DEFAULT_HEADER_TIMEOUT
from switchyard.server.lifecycle import DEFAULT_GRACE, DEFAULT_SHUTDOWN_DELAY


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("serve", help="run the sidecar server")
    p.add_argument(
        "--rules",
        metavar="DIR",
        help="the folder of pack files to serve (default: ./rules, or the packs shipped with switchyard without it)",
    )
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
        "--cors-origin",
        action="append",
        metavar="ORIGIN",
        help="let pages from this web origin (scheme://host[:port]) call the proxy; others are refused (repeatable)",
    )
    p.add_argument(
        "--allowed-host",
        action="append",
        metavar="NAME",
        help="also serve requests whose Host is NAME; on loopback only loopback names are served (repeatable)",
    )
    p.add_argument(
        "--upstream-proxy", metavar="URL", help="send upstream calls through this HTTP(S) proxy (corporate egress)"
    )
    p.add_argument(
        "--partial",
        action="store_true",
        help="leave a broken pack file out and serve the others (default: any problem stops start-up and reloads)",
    )
    p.add_argument(
        "--grace",
        type=float,
        default=DEFAULT_GRACE,
        metavar="SECONDS",
        help="on SIGTERM, how long in-flight requests and streams may run on before they are ended",
    )
    p.add_argument(
        "--shutdown-delay",
        type=float,
        default=DEFAULT_SHUTDOWN_DELAY,
        metavar="SECONDS",
        help="on SIGTERM, how long to keep accepting (with /readyz already 503) before draining",
    )
    p.add_argument("--admin-port", type=int, metavar="PORT", help="serve /metrics and /-/ on this port only")
    p.add_argument(
        "--keepalive",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="a quiet upstream's stream gets a keep-alive event (Anthropic's ping) after this long",
    )
    p.add_argument(
        "--max-concurrency",
        type=int,
        metavar="N",
        help="requests and streams in flight at most; beyond, 503 with Retry-After at once (default: unlimited)",
    )
    p.add_argument(
        "--header-timeout",
        type=float,
        default=DEFAULT_HEADER_TIMEOUT,
        metavar="SECONDS",
        help="a connection whose request head is not complete this long is closed (slowloris)",
    )
    p.add_argument(
        "--body-timeout",
        type=float,
        default=DEFAULT_BODY_TIMEOUT,
        metavar="SECONDS",
        help="a request body not all received this long after its head is answered 408 and its connection closed",
    )
    p.add_argument("--admin-host", default="127.0.0.1", help="the address of the admin listener")
    p.add_argument(
        "--workers",
        type=worker_count,
        default=1,
        metavar="N",
        help="worker processes on the one port (0 or 'auto': one per core); 1 is a single process",
    )
    p.add_argument(
        "--trace",
        type=int,
        default=100,
        metavar="N",
        help="keep traces of the last N requests in memory, failed ones in preference (GET /-/requests); 0: off",
    )
    p.add_argument(
        "--trace-bodies",
        action="store_true",
        help="traces also keep bodies and first/last stream events (user data: for debugging only)",
    )
    p.add_argument(
        "--rate-limit-store",
        metavar="URL",
        help="keep the packs' limits in Redis (redis://HOST:PORT/DB), shared by every worker and replica "
        "(default: in each process's memory)",
    )
    p.add_argument(
        "--rate-limit-on-store-error",
        choices=("open", "closed"),
        default="open",
        help="when the rate-limit store fails mid-way: admit the request (open) or answer 503 (closed)",
    )
    environment_defaults(p)
    return p


def environment_defaults(parser: argparse.ArgumentParser) -> None:
    """Every flag can also come from the environment, the container way: `--log-format` from
    `SWITCHYARD_LOG_FORMAT`, `--client-token` from `SWITCHYARD_CLIENT_TOKEN` (comma-separated), and so
    on. A flag on the command line wins over the environment, which wins over the built-in default."""
    for action in parser._actions:
        if not action.option_strings or action.dest == "help":
            continue
        name = "SWITCHYARD_" + action.dest.upper()
        value = os.environ.get(name)
        if value is None:
            continue
        if isinstance(action, argparse._StoreTrueAction):
            parsed: object = value.strip().lower() in ("1", "true", "yes", "on")
        elif isinstance(action, argparse._AppendAction):
            parsed = _FromEnvironment(item.strip() for item in value.split(",") if item.strip())
            action.__class__ = _AppendReplacingEnvironment
        else:
            try:
                parsed = action.type(value) if action.type else value
            except ValueError:
                parser.error(f"{name}={value!r} is not a valid value for {action.option_strings[0]}")
            if action.choices is not None and parsed not in action.choices:
                choices = ", ".join(map(str, action.choices))
                parser.error(f"{name}={value!r}: choose from {choices}")
        parser.set_defaults(**{action.dest: parsed})


class _FromEnvironment(list):
    """A repeatable flag's values taken from the environment (so the command line can tell them apart)."""


class _AppendReplacingEnvironment(argparse._AppendAction):
    """A repeatable flag whose first use on the command line replaces the environment's values.

    argparse's own append adds to its default, which would make `SWITCHYARD_CLIENT_TOKEN=a` and
    `--client-token b` accept both tokens: the command line must win, as it does for every other flag.
    """

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        if isinstance(getattr(namespace, self.dest, None), _FromEnvironment):
            setattr(namespace, self.dest, None)
        super().__call__(parser, namespace, values, option_string)


def worker_count(value: str) -> int:
    """`--workers`: a number of processes, or `0` / `auto` for one per core this process may use."""
    if value.strip().lower() in ("0", "auto"):
        return cores()
    number = int(value)  # argparse turns the ValueError into a usage error naming the flag
    if number < 0:
        raise ValueError(value)
    return number


def cores() -> int:
    """The cores this process may use: its CPU affinity, and in a container its CPU limit (cgroup v2
    `cpu.max`, rounded up), which Kubernetes sets from `resources.limits.cpu`."""
    count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        with open("/sys/fs/cgroup/cpu.max") as f:
            quota, period = f.read().split()[:2]
        if quota != "max":
            count = min(count, max(1, -(-int(quota) // int(period))))
    except (OSError, ValueError):
        pass
    return count


def run(args: argparse.Namespace) -> int:
    args.rules, shipped = rules_to_serve(args.rules)
    if shipped:  # the first log line, in the format and at the level the server's lines will have
        import logging

        from switchyard.server.logs import setup_logging

        setup_logging(args.log_format, args.log_level)
        logging.getLogger("switchyard.serve").info(shipped)
    if args.rate_limit_store:  # an unreachable Redis stops start-up here, before anything binds
        from switchyard.server.limit_store import check

        check(args.rate_limit_store)
    from switchyard.server.origins import normal_origin

    try:  # from the command line or SWITCHYARD_CORS_ORIGIN: an origin as a browser writes it
        args.cors_origin = [normal_origin(o) for o in args.cors_origin or ()]
    except ValueError as exc:
        raise UsageError(f"--cors-origin: {exc}") from None
    if args.workers > 1:
        from switchyard.server.supervisor import serve as serve_workers

        return serve_workers(args)
    from switchyard.server.app import serve  # the server's imports are paid by `serve` only

    return serve(args)
