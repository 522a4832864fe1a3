"""The sidecar server: a Starlette app on uvicorn, its endpoints, start-up, reload signals and logs.

    POST <route>                one per protocol (`switchyard.protocols`): /v1/chat/completions is
                                client protocol `chat`, /v1/responses is `responses`, ...
    GET  /v1/models             the `models:` of all packs, OpenAI list format
    POST <prefix>...            protocols that name facts in the path (Gemini's /v1beta/models/{model}:...)
    GET  /v1beta/models         a protocol's own listing of the packs' models (`Protocol.model_lists`)
    GET  /healthz, /readyz      process alive; packs loaded
    GET  /metrics               Prometheus text format
    GET  /-/rules               loaded packs, their hashes, the last reload's problems (no secrets)
    POST /-/reload              same as SIGHUP
    GET  /-/requests[/{id}]     traces of the last requests (`server/traces.py`)

`/-/` endpoints answer loopback clients only, unless an admin token is configured, in which case
any client presenting it (`Authorization: Bearer <token>`) is admitted too.

One process is the default deployment: the work per request is small next to an LLM's latency,
and one process keeps reloads, metrics and connection pools simple. `--workers N` runs N of these
apps in worker processes under a supervisor (`switchyard.server.supervisor`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import logging
import os
import signal
import socket
import sys
import time
from urllib.parse import urlsplit, urlunsplit

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from switchyard import protocols
from switchyard.errors import PackError, RequestError
from switchyard.protocols.openai import error_body
from switchyard.server.access import ClientGate, admin_denied, open_bind_refusal, read_tokens
from switchyard.server.asgi import Incoming
from switchyard.server.http_guard import DEFAULT_BODY_TIMEOUT, guarded
from switchyard.server.lifecycle import Lifecycle
from switchyard.server.lifecycle import run as lifecycle_run
from switchyard.server.logs import setup_logging
from switchyard.server.metrics import Metrics
from switchyard.server.proxy import BodyTooSlow, Proxy
from switchyard.server.reloader import Rules, version
from switchyard.server.traces import DEFAULT_CAPACITY, Traces
from switchyard.server.traces import routes as trace_routes
from switchyard.server.upstream import Upstreams

log = logging.getLogger("switchyard")


def create_app(
    rules_dir: str,
    *,
    max_body: int = 64 * 1024 * 1024,
    admin_token: str | None = None,
    watch: bool = False,
    rules: Rules | None = None,
    partial: bool = False,
    client_tokens: tuple[str, ...] = (),
    upstream_proxy: str | None = None,
    lifecycle: Lifecycle | None = None,
    admin_port: int | None = None,
    max_concurrency: int | None = None,
    keepalive: float = 10.0,
    metrics: Metrics | None = None,
    trace: int = DEFAULT_CAPACITY,
    trace_bodies: bool = False,
    body_timeout: float = DEFAULT_BODY_TIMEOUT,
):
    """Build the app. Loading the rules here (not at start-up) makes a broken pack fail before binding."""
    metrics = metrics or Metrics()
    rules = rules or Rules.load(rules_dir, metrics, partial)
    upstreams = Upstreams(upstream_proxy)
    lifecycle = lifecycle or Lifecycle()
    traces = Traces(trace, trace_bodies)
    gate = ClientGate(client_tokens)
    proxy = Proxy(
        rules, upstreams, metrics, max_body, gate, lifecycle, max_concurrency, keepalive, traces, body_timeout
    )
    tasks: set[asyncio.Task] = set()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        await upstreams.start()
        loop = asyncio.get_running_loop()

        # uvicorn handles SIGINT/SIGTERM only; SIGHUP's default action would kill the process.
        def spawn(coroutine) -> None:
            # Kept until done (a task nobody references may be collected mid-run), then dropped.
            task = loop.create_task(coroutine)
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        loop.add_signal_handler(signal.SIGHUP, lambda: spawn(rules.reload("SIGHUP")))
        if watch:
            spawn(rules.watch())
        log.info("serving %d pack(s) from %s", len(rules.current.packs), rules_dir)
        try:
            yield
        finally:
            loop.remove_signal_handler(signal.SIGHUP)
            for task in list(tasks):
                task.cancel()
            await upstreams.close()

    async def models(request: Request) -> Response:
        started = int(rules.current.loaded_at)
        data = [
            {"id": model, "object": "model", "created": started, "owned_by": pack.name}
            for model, pack in rules.current.models()
        ]
        return JSONResponse({"object": "list", "data": data})

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        if lifecycle.draining:  # SIGTERM: out of rotation at once, while in-flight requests finish
            return JSONResponse({"status": "draining"}, status_code=503)
        if proxy.saturated:  # `--max-concurrency` reached: send new work elsewhere until a place frees
            return JSONResponse({"status": "saturated", "in_flight": proxy.in_flight}, status_code=503)
        ready = bool(rules.current.packs)
        body: dict = {"status": "ready" if ready else "no packs loaded"}
        if rules.current.left_out:  # `--partial`: which files are out, and why (messages carry no secrets)
            body["left_out"] = _left_out(rules.current)
        return JSONResponse(body, status_code=200 if ready else 503)

    async def metrics_endpoint(request: Request) -> Response:
        return Response(metrics.render(), media_type=metrics.content_type)

    async def rules_endpoint(request: Request) -> Response:
        if denied := admin_denied(request, admin_token):
            return denied
        current = rules.current
        return JSONResponse(
            {
                "folder": rules_dir,
                "version": version(current),  # the same from every worker of `serve --workers`
                "pid": os.getpid(),  # which process answered (one of the workers)
                "loaded_at": _iso(current.loaded_at),
                "left_out": _left_out(current),
                "last_reload": {
                    "at": _iso(rules.last.at),
                    "ok": rules.last.ok,
                    "problems": list(rules.last.problems),
                },
                "packs": [
                    {
                        "name": p.name,
                        "file": p.file,
                        "priority": p.priority,
                        "match": p.match.source,
                        "models": list(p.models),
                        "upstream": {
                            "url": redact_url(p.upstream.url),
                            "protocol": p.upstream.protocol,
                            "force_stream": p.upstream.force_stream,
                            "api_key": "set" if p.upstream.api_key else "client's",
                            "headers": sorted(p.upstream.headers),  # names only: values may be secrets
                        },
                        "request_steps": len(p.request),
                        "response_steps": len(p.response),
                        "hash": p.digest,
                        "loaded_at": _iso(current.loaded_at),
                    }
                    for p in current.packs
                ],
            }
        )

    async def reload_endpoint(request: Request) -> Response:
        if denied := admin_denied(request, admin_token):
            return denied
        ok = await rules.reload("POST /-/reload")
        body = {"ok": ok, "packs": len(rules.current.packs), "problems": list(rules.last.problems)}
        return JSONResponse(body, status_code=200 if ok else 422)

    def model_list(listing):
        # The packs' models in another protocol's listing shape (Gemini's `GET /v1beta/models`).
        async def endpoint(request: Request) -> Response:
            return JSONResponse(listing([(model, pack.name) for model, pack in rules.current.models()]))

        return endpoint

    def local_route(protocol: str, path: str, answer):
        # Answered by the proxy itself (Anthropic's count_tokens), in the protocol's error shape when refused.
        async def endpoint(request: Request) -> Response:
            if not proxy.gate.admits(request.headers):
                error = RequestError("a client token is required", status=401, type="authentication_error")
                return JSONResponse(protocols.get(protocol).render_error(error), status_code=401)
            headers = None
            try:  # the body read as on the proxy routes: `--max-body`, `--body-timeout`
                raw = await proxy.read_body(Incoming(request.scope, request.receive))
                return JSONResponse(answer(orjson.loads(raw)))
            except BodyTooSlow as exc:
                error, headers = exc, {"Connection": "close"}
            except orjson.JSONDecodeError:
                error = RequestError("The request body is not valid JSON.", code="invalid_json")
            except RequestError as exc:
                error = exc
            return JSONResponse(protocols.get(protocol).render_error(error), error.status, headers)

        return Route(path, endpoint, methods=["POST"])

    routes = [
        *(
            local_route(name, path, answer)
            for name in protocols.names()
            for path, answer in protocols.get(name).local_routes
        ),
        # Reached only by what the dispatch below does not take (a GET gets its 405 here).
        *(
            Route(protocols.get(name).route, functools.partial(proxy.serve, client=name), methods=["POST"])
            for name in protocols.names()
        ),
        Route("/v1/models", models, methods=["GET"]),
        *(
            Route(path, model_list(listing), methods=["GET"])
            for name in protocols.names()
            for path, listing in protocols.get(name).model_lists
        ),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        Route("/-/rules", rules_endpoint, methods=["GET"]),
        Route("/-/reload", reload_endpoint, methods=["POST"]),
        *trace_routes(traces, admin_token),
    ]
    others = Starlette(routes=routes, lifespan=lifespan, exception_handlers={404: _not_found, 405: _not_allowed})
    others.state.rules = rules
    others.state.metrics = metrics
    others.state.lifecycle = lifecycle
    # The client routes, one per protocol, are the hot path: plain ASGI (`server/asgi.py`), in front of
    # Starlette's router and middleware, which serve everything else (other methods on these paths too).
    client_routes = {protocols.get(name).route: name for name in protocols.names()}
    # Protocols whose routes name facts in the path (Gemini's model): their prefixes, each path read by them.
    routed = [(p, protocols.get(name)) for name in protocols.names() for p in protocols.get(name).route_prefixes]

    async def app(scope, receive, send):
        if scope["type"] == "http" and scope["method"] == "POST":
            path = scope["path"]
            client = client_routes.get(path)
            if client is not None:
                await proxy.serve(scope, receive, send, client)
                return
            for prefix, protocol in routed:
                if path.startswith(prefix) and protocol.read_route:
                    found = protocol.read_route(path, scope["query_string"].decode("latin-1"))
                    if found is not None:
                        await proxy.serve(scope, receive, send, protocol.name, found)
                        return
        await others(scope, receive, send)

    app.state = others.state  # type: ignore[attr-defined]
    return split_ports(app, admin_port) if admin_port else app


# Served on the admin listener only, when there is one (`--admin-port`); health checks answer on both.
_ADMIN_ONLY = ("/metrics", "/-/")
_EITHER = ("/healthz", "/readyz")


def split_ports(app, admin_port: int):
    """`--admin-port`: metrics and `/-/` on the admin listener only, `/v1` on the main one only.

    One app serves both sockets; which one a request came in on is the ASGI scope's `server` port.
    Scraping metrics from outside the pod then needs no route to the API.
    """

    async def dispatch(scope, receive, send):
        if scope["type"] == "http" and not scope["path"].startswith(_EITHER):
            on_admin = (scope.get("server") or (None, None))[1] == admin_port
            if on_admin != scope["path"].startswith(_ADMIN_ONLY):
                await _not_found_asgi(scope, receive, send)
                return
        await app(scope, receive, send)

    dispatch.state = app.state  # type: ignore[attr-defined]
    return dispatch


async def _not_found_asgi(scope, receive, send) -> None:
    body = error_body(f"no such endpoint on this port: {scope['method']} {scope['path']}", code="not_found")
    await JSONResponse(body, status_code=404)(scope, receive, send)


async def _not_found(request: Request, exc: Exception) -> Response:
    body = error_body(
        f"no such endpoint: {request.method} {request.url.path}", "invalid_request_error", None, "not_found"
    )
    return JSONResponse(body, status_code=404)


async def _not_allowed(request: Request, exc: Exception) -> Response:
    body = error_body(f"method {request.method} not allowed on {request.url.path}", "invalid_request_error")
    return JSONResponse(body, status_code=405)


def _left_out(rules) -> list[dict]:
    return [{"file": file, "problems": [str(p) for p in problems]} for file, problems in rules.left_out]


def redact_url(url: str) -> str:
    """A URL without user info or query string: either may carry a key."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def serve(args: argparse.Namespace) -> int:
    """`switchyard serve` in one process (`--workers 1`, the default; `server.supervisor` runs more)."""
    setup_logging(args.log_format, args.log_level)
    if refusal := refused_bind(args):
        print(f"switchyard serve: {refusal}", file=sys.stderr)
        return 2
    lifecycle = Lifecycle(args.grace, args.shutdown_delay)
    try:
        app = app_from_args(args, lifecycle)
    except PackError as exc:
        return report_pack_error(exc, args.rules)
    config = server_config(app, args)
    try:
        sockets = [_listen(args.host, args.port)]
        if args.admin_port:
            sockets.append(_listen(args.admin_host, args.admin_port))
    except OSError as exc:
        print(f"switchyard serve: cannot listen: {exc.strerror or exc}", file=sys.stderr)
        return 2
    lifecycle_run(config, lifecycle, sockets)
    return 0


def refused_bind(args: argparse.Namespace) -> str | None:
    """Why `serve` must not bind as asked (a non-loopback --host with nothing guarding /v1), or None."""
    client_tokens = read_tokens(args.client_token or (), args.client_token_file or ())
    return open_bind_refusal(args.host, client_tokens, args.allow_open)


def report_pack_error(exc: PackError, folder: str) -> int:
    for problem in exc.problems:
        print(problem, file=sys.stderr)
    print(f"switchyard serve: {len(exc.problems)} problem(s) in {folder}; not starting", file=sys.stderr)
    return 1


def app_from_args(args: argparse.Namespace, lifecycle: Lifecycle, **overrides):
    """The app of `serve`'s flags; `overrides` are `create_app`'s (a worker passes its rules and metrics)."""
    client_tokens = read_tokens(args.client_token or (), args.client_token_file or ())
    admin_tokens = read_tokens(
        [args.admin_token] if args.admin_token else (), [args.admin_token_file] if args.admin_token_file else ()
    )
    options = dict(
        max_body=args.max_body,
        admin_token=admin_tokens[0] if admin_tokens else None,
        watch=args.watch,
        partial=args.partial,
        client_tokens=client_tokens,
        upstream_proxy=args.upstream_proxy,
        lifecycle=lifecycle,
        admin_port=args.admin_port,
        max_concurrency=args.max_concurrency,
        keepalive=args.keepalive,
        trace=args.trace,
        trace_bodies=args.trace_bodies,
        body_timeout=args.body_timeout,
    )
    return create_app(args.rules, **{**options, **overrides})


def server_config(app, args: argparse.Namespace):
    import uvicorn

    return uvicorn.Config(
        app,
        loop="uvloop",
        # httptools, with a head size limit, a head read timeout and a body read timeout
        http=guarded(args.header_timeout, body_timeout=args.body_timeout),
        log_config=None,  # our logging set-up stays in force
        access_log=False,  # one structured line per request comes from the proxy instead
        # The drain ends streams itself when the grace is over (with an error event each); uvicorn's
        # own deadline is only the backstop after that.
        timeout_graceful_shutdown=args.grace + 5,
        server_header=False,
        # `/-/` endpoints judge the peer address; uvicorn would otherwise let any loopback client
        # claim another address with X-Forwarded-For. A sidecar is its pod's first hop.
        proxy_headers=False,
    )


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=2048)
