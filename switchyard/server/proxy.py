"""The proxy hop: one client request through its pack to the upstream and back.

    body -> select pack -> Pipeline.request (bridge, request steps) -> upstream
    upstream events -> Pipeline.stream (response steps, bridge back) -> client, one read at a time

A request takes the rule set that is current when it arrives and keeps that snapshot (through the
`Pack` its pipeline holds) to its last stream event, whatever reloads happen meanwhile.

What happens to bodies and events is `switchyard.pipeline`'s, shared with `apply` and `test`. This
module owns what surrounds it: admitting and reading the request, the attempts (retries and
fallbacks, `server/attempts.py`), the upstream call and its error answer, a whole (non-stream)
answer. A streamed answer is `server/relay.py`'s (keep-alives, the drain, the error event that ends
a broken stream); how every request ends (metrics, the access log line, the trace) is
`server/exchange.py`'s. Every error the client sees is rendered by the client's protocol.

Design choice: the proxy decides which upstream response answers the client and hands it on; it
holds the in-flight count (`--max-concurrency`), which a stream gives back when the relay ends it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from jmespath.exceptions import JMESPathError

from switchyard import protocols
from switchyard.errors import ClientFacing, RequestError, StepError, UpstreamError
from switchyard.ids import new_id
from switchyard.pipeline import Pipeline
from switchyard.protocols import Routed
from switchyard.server import attempts
from switchyard.server.access import ClientGate
from switchyard.server.asgi import Answer, ClientDisconnect, Incoming, StreamAnswer, raw_headers
from switchyard.server.exchange import Exchange, Finish, redact
from switchyard.server.http_guard import DEFAULT_BODY_TIMEOUT
from switchyard.server.lifecycle import Lifecycle
from switchyard.server.limits import Limits, Over, StoreUnavailable
from switchyard.server.metrics import Bound, Metrics
from switchyard.server.pool import KEY_STATUSES, Pick, Pool, Pools, affinity_key
from switchyard.server.relay import Reader, Relay
from switchyard.server.reloader import Rules
from switchyard.server.traces import Traces
from switchyard.server.upstream import Upstreams, back_headers, failure, scrub_secrets, upstream_headers

log = logging.getLogger("switchyard.access")

Response = Answer | StreamAnswer


class Proxy:
    """The request handler behind every client route; one per app, stateless between requests."""

    def __init__(
        self,
        rules: Rules,
        upstreams: Upstreams,
        metrics: Metrics,
        max_body: int,
        gate: ClientGate | None = None,
        lifecycle: Lifecycle | None = None,
        max_concurrency: int | None = None,
        keepalive: float = 10.0,
        traces: Traces | None = None,
        body_timeout: float = DEFAULT_BODY_TIMEOUT,
        limits: Limits | None = None,
    ):
        self.rules = rules
        self.upstreams = upstreams
        self.metrics = metrics
        self.max_body = max_body
        self.body_timeout = body_timeout  # `--body-timeout` (the protocol's timer), for the 408's message
        self.gate = gate or ClientGate()
        self.lifecycle = lifecycle or Lifecycle()
        self.max_concurrency = max_concurrency  # `--max-concurrency`: beyond it, 503 at once (None: unlimited)
        self.in_flight = 0  # requests and streams not finished yet
        self.traces = traces if traces is not None else Traces(0)  # (an empty store is falsy)
        self.telemetry = None  # OpenTelemetry (`server/otel`), set by the app when OTEL_* asks for it
        self.finish = Finish(metrics, self.traces)
        self.relay = Relay(metrics, self.lifecycle, keepalive, self.finish, self._released)
        # A label child looked up in a dict: `labels()` validates and takes a lock on every call.
        self._latency = Bound(metrics.upstream_latency)
        self._calls = Bound(metrics.upstream_calls)
        rests = Bound(metrics.rests)
        # Each pack's endpoints and keys: which one a call uses, which rest (`server/pool.py`).
        self.pools = Pools(lambda pack, endpoint, key: rests(pack, endpoint, "-" if key is None else key).inc())
        limited = Bound(metrics.rate_limited)
        self.limits = limits or Limits()
        self.limits.on_refusal = lambda pack, per: limited(pack, per).inc()
        self.limits.on_store_fail = metrics.rate_limit_store_errors.inc

    def _released(self) -> None:
        self.in_flight -= 1  # a stream's place, given back when it ends (`Relay.end_stream`)

    @property
    def saturated(self) -> bool:
        return self.max_concurrency is not None and self.in_flight >= self.max_concurrency

    async def serve(self, scope: dict, receive, send, client: str, routed: Routed | None = None) -> None:
        """The ASGI app of the route of `client`'s protocol (`routed`: what its path said, for Gemini's routes)."""
        request = Incoming(scope, receive)
        if routed is not None:
            for name, value in routed.headers.items():  # `?key=`: a credential, as the header it stands for
                request.headers.setdefault(name, value)
        if routed is not None and routed.local is not None:
            answer: Response = await self.local(request, client, routed.local)
        else:
            answer = await self.handle(request, client, routed.facts if routed is not None else None)
        await answer(scope, receive, send)

    async def local(self, request: Incoming, client: str, answer: Callable[[Any], Any]) -> Answer:
        """A request the proxy answers itself from its body (Gemini's countTokens), errors in the client's shape."""
        headers = raw_headers({"X-Request-Id": _request_id(request)})
        try:
            if not self.gate.admits(request.headers):
                raise RequestError("a client token is required", status=401, type="authentication_error")
            return Answer(200, orjson.dumps(answer(_parse(await self.read_body(request)))), headers)
        except ClientDisconnect:
            return Answer(499, b"", [], None)
        except RequestError as error:
            if isinstance(error, BodyTooSlow):
                headers.append((b"connection", b"close"))
            content = orjson.dumps(protocols.get(client).render_error(error))
            return Answer(error.status, content, headers)

    async def handle(self, request: Incoming, client: str, facts: dict | None = None) -> Response:
        """One proxied request; `facts` are the body fields its path stands for (Gemini's model)."""
        ex = Exchange(_request_id(request), client)
        ex.trace = self.traces.start(request.headers)
        if self.telemetry is not None:
            ex.otel = self.telemetry.start(request.headers, client)
        if self.saturated:
            # Refused at once rather than queued without bound; the client's SDK retries after the pause.
            ex.source = "proxy"
            error = ClientFacing(
                f"the proxy is at its limit of {self.max_concurrency} requests in flight; retry shortly",
                code="overloaded",
                status=503,
            )
            return self.finish.fail(ex, error, "over --max-concurrency", {"Retry-After": "1"})
        self.in_flight += 1
        try:
            response = await self._handle(request, ex, facts)
            if isinstance(response, StreamAnswer):
                ex.counted_until_stream_end = True  # the stream gives the place back when it ends
            return response
        except UpstreamError as exc:  # unreachable, timed out, cut, or the upstream reported a failure
            ex.source = "upstream"
            return self.finish.fail(ex, exc, redact(str(exc), ex.pack.upstream.api_key if ex.pack else ""))
        except (
            Over,
            StoreUnavailable,
        ) as exc:  # a pack's `limits`: 429 (or 503) with Retry-After, in the client's shape
            ex.source = "proxy"
            return self.finish.fail(ex, exc, str(exc), {"Retry-After": str(exc.retry_after)})
        except BodyTooSlow as exc:
            # The rest of that body may still come: the connection is closed after the answer rather
            # than read to the end of a body nobody waits for (uvicorn honours `Connection: close`).
            ex.source = "proxy"
            return self.finish.fail(ex, exc, str(exc), {"Connection": "close"})
        except RequestError as exc:  # refused: by the proxy, a bridge, or a pack's `reject`
            ex.source = "proxy"
            return self.finish.fail(ex, exc, str(exc))
        except StepError as exc:
            self.metrics.step_errors.labels(ex.pack_name, exc.stage).inc()  # counted here, once
            ex.source = "step"
            error = ClientFacing(f"pack {ex.pack_name} failed: {exc}", code="step_failed")
            return self.finish.fail(ex, error, str(exc))
        except ClientDisconnect:
            ex.status = 499  # nginx's convention for "client closed the request"
            self.finish.done(ex)
            return Answer(499, b"", [], None)
        except Exception as exc:  # a bug: still one answer in the client's error shape, and a log with the trace
            log.exception("request %s failed", ex.request_id)
            ex.source = "proxy"
            error = ClientFacing(f"internal error in the proxy ({type(exc).__name__})", code="internal")
            return self.finish.fail(ex, error, f"internal error: {type(exc).__name__}")
        finally:
            if not ex.counted_until_stream_end:
                self.in_flight -= 1

    async def _handle(self, request: Incoming, ex: Exchange, facts: dict | None) -> Response:
        # Who the client is, for `per: client` limits: its token's name, or its address without tokens.
        caller = self.gate.identify(request.headers) if self.gate else (request.scope.get("client") or ("-",))[0]
        if self.gate:
            ex.caller = caller or ""
        if caller is None:
            raise RequestError(
                "a client token is required: send it as 'Authorization: Bearer <token>' or 'x-api-key'",
                code="invalid_client_token",
                status=401,
                type="authentication_error",
            )
        raw = await self.read_body(request)
        ex.bytes_in = len(raw)
        if ex.trace is not None:
            ex.trace.client(raw)
        rules = self.rules.current  # the snapshot this request keeps to its end, fallbacks included
        first = await self._prepared(raw, rules, ex, None, facts)
        if first[0].pack.limits:  # the selected pack's limits, before any upstream call
            limits = self.limits
            pack = first[0].pack
            ex.admitted = limits.admit_now(pack, caller) if limits.local else await limits.admit(pack, caller)
        targets = attempts.plan(first[0].pack, rules)
        calls = ex.attempts = attempts.Attempts()
        last: Retry | None = None
        failed: tuple[str, str] | None = None  # the last failure, counted as a retry once another call follows
        for i, target in enumerate(targets):
            prepared = first if i == 0 else await self._prepared(raw, rules, ex, target, facts)
            pool = self.pools.get(target.pack)
            tries = target.pack.upstream.retries + 1
            n, switches, avoid = 0, 0, None
            while True:
                pick = pool.pick(prepared[4], avoid)
                if pick is None:  # every endpoint or key of this pack rests: the next target, or a 503
                    last = Retry("resting", None, functools.partial(self._resting, ex, target.pack, pool))
                    failed = (target.pack.name, "resting")
                    break
                if failed is not None:
                    calls.add(*failed)
                    if ex.otel is not None:
                        ex.otel.retried(failed[1])
                    self.metrics.retries.labels(*failed).inc()
                    failed = None
                rotate = pool.active and pool.has_other(pick)
                more = n + 1 < tries or i + 1 < len(targets) or rotate
                if ex.trace is not None:
                    ex.trace.call(target.pack, target.model, prepared[3])
                if ex.otel is not None:
                    ex.otel.call(target.pack, target.model)
                outcome = await self._attempt(request, ex, prepared, more, pool, pick, rotate)
                if not isinstance(outcome, Retry):
                    return outcome
                if ex.otel is not None:
                    ex.otel.retried(outcome.reason)
                failed, last, avoid = (target.pack.name, outcome.reason), outcome, pick
                if rotate and outcome.status in KEY_STATUSES and switches < pool.size:
                    switches += 1  # the key was to blame and rests now: another key at once, no retry spent
                    continue
                n += 1
                if n >= tries:
                    break
                wait = attempts.delay(n, last.retry_after)
                if wait is None:  # the upstream asked for a longer pause than a retry is worth
                    break
                await asyncio.sleep(wait)
        # Every target failed in a way another call might have fixed: the last failure is the answer.
        assert last is not None
        return await last.answer()

    async def _resting(self, ex: Exchange, pack, pool: Pool) -> Answer:
        """503 with Retry-After: every endpoint or key of the pack rests (and no fallback answered)."""
        ex.pack, ex.source = pack, "proxy"
        wait = pool.retry_after()
        error = ClientFacing(
            f"every endpoint or key of pack {pack.name} is resting after failures; retry in {wait} s",
            code="upstream_resting",
            status=503,
        )
        return self.finish.fail(ex, error, f"pack {pack.name}: every endpoint or key rests", {"Retry-After": str(wait)})

    async def _prepared(self, raw: bytes, rules, ex: Exchange, target: attempts.Target | None, facts: dict | None):
        if len(raw) > OFF_LOOP_BYTES:
            # Parsing and stepping through a body of many megabytes takes long enough to stall every
            # other request on this loop; a thread lets the loop run between its slices of the GIL.
            return await asyncio.to_thread(self._prepare, raw, rules, ex, target, facts)
        return self._prepare(raw, rules, ex, target, facts)

    async def _attempt(
        self, request: Incoming, ex: Exchange, prepared, more: bool, pool: Pool, pick: Pick, rotate: bool = False
    ) -> Response | Retry:
        """One call of the upstream, with the endpoint and key of `pick`. With `more` calls left, a failure
        another call may fix is a `Retry`; with `rotate` (another key is healthy), so is a 401 or 403."""
        pipeline, client_body, upstream_stream, outgoing, _, path = prepared
        pack = ex.pack = pipeline.pack
        upstream = pick.upstream
        ex.endpoint, ex.key = pick.endpoint, pick.key
        self._calls(pack.name, pick.endpoint, pick.key).inc()
        # A gateway token is the gateway's: never sent on to a provider.
        headers = upstream_headers(request.headers, upstream, ex.request_id, upstream_stream, not self.gate)
        if ex.otel is not None:
            ex.otel.inject(headers)  # the upstream call's parent is its client span
        sent = time.perf_counter()
        try:
            resp = await self.upstreams.post(upstream, headers, outgoing, path)
        except UpstreamError as exc:
            self.metrics.upstream_errors.labels(pack.name, exc.code).inc()
            pool.unreachable(pick)
            if more:
                return Retry(exc.code or "unreachable", None, _raiser(exc))
            raise
        ex.upstream_ms = (time.perf_counter() - sent) * 1000
        if pool.active:
            pool.answered(pick, resp.status, resp.headers.get("Retry-After"))
        if ex.trace is not None:
            ex.trace.answered(resp.status, headers)
        if ex.otel is not None:
            ex.otel.answered(resp.status)
        self._latency(pack.name).observe(ex.upstream_ms / 1000)
        passed = back_headers(resp.raw_headers, ex.request_id, pack.name)
        ex.sent_fields = _fields(outgoing) if 400 <= resp.status < 500 else None
        if resp.status >= 400:
            data = await self._error_data(resp)
            if ex.trace is not None:
                ex.trace.error_data(data)
            if (more and resp.status in attempts.RETRY_STATUSES) or (rotate and resp.status in KEY_STATUSES):
                self.metrics.upstream_http_errors.labels(pack.name, str(resp.status)).inc()
                later = functools.partial(self._upstream_error, ex, resp.status, data, passed, pipeline, counted=True)
                return Retry(str(resp.status), resp.headers.get("Retry-After"), later, resp.status)
            return await self._upstream_error(ex, resp.status, data, passed, pipeline)
        if "text/event-stream" not in resp.headers.get("Content-Type", ""):
            return await self._whole(ex, resp, passed, pipeline, client_body)
        stream = pipeline.stream(client_body)
        reader = Reader(resp)
        if ex.trace is not None:
            ex.trace.watch(reader)
        if more:
            # Nothing is sent before the first event: a stream that breaks or ends before it can
            # still be tried again.
            failed = await self.relay.first_events(ex, reader, stream, sent)
            if failed:
                resp.release()
                return Retry(failed, None, _raiser(UpstreamError(f"upstream stream {failed}", code=failed)))
        if ex.stream:
            return self.relay.answer(ex, reader, stream, passed, sent)
        return await self.relay.aggregate(ex, reader, passed, pipeline, stream, sent)

    def _prepare(self, raw: bytes, rules, ex: Exchange, target: attempts.Target | None = None, facts=None):
        """The request's CPU work: parse, select the pack, run the request path, encode for the upstream.

        With a `target` (a fallback), the body goes to that pack with its model, as the client sent it
        otherwise: the pack's `match` is not consulted. `facts` (what a Gemini path names) are set on
        the body first, so the pack is selected by them.
        """
        body = _with_facts(_parse(raw), facts)
        if target is None:
            ex.model = body.get("model")
            ex.stream = body.get("stream") is True
            pack = ex.pack = rules.select(body)
            if pack is None and not isinstance(ex.model, str):
                # Not a model nobody serves: a body that is wrong. Said as such, naming the field.
                raise RequestError("'model' must be a string naming a model", param="model", code="invalid_model")
            if pack is None:
                raise RequestError(
                    f"no pack serves the model {ex.model!r}", param="model", code="model_not_found", status=404
                )
        else:
            pack = target.pack
            if target.model is not None:
                body["model"] = target.model
        pipeline = Pipeline(pack, ex.client)
        # The bridge's stream translator reads the client's own request (tools, include_usage);
        # a second parse is cheaper than a deep copy and is safe from steps changing shared objects.
        client_body = body if pipeline.bridge.identity else _with_facts(orjson.loads(raw), facts)
        if target is not None and target.model is not None:
            client_body["model"] = target.model
        upstream_stream = pipeline.upstream_streams(body)
        # `affinity`: evaluated on the request as the client sent it, before any step changes it.
        affinity = pack.upstream.affinity
        sticky = affinity_key(_affinity_value(affinity, body)) if affinity is not None else None
        outgoing, path = pipeline.request(body), None
        if pipeline.upstream.upstream_route is not None:
            # The upstream's URL names the model and the call (Gemini): those fields leave the body for the
            # path. A copy: on an identity bridge the body is the client's, whose facts (`alt`) the answer reads.
            outgoing = dict(outgoing)
            path = pipeline.upstream.upstream_route(outgoing)
        return pipeline, client_body, upstream_stream, _dumps(outgoing, "request body"), sticky, path

    async def read_body(self, request: Incoming) -> bytes:
        """The request's body: 413 (`RequestError`) over `--max-body`, 408 (`BodyTooSlow`) past `--body-timeout`."""
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.max_body:
            raise self._too_large()
        return await request.body(self.max_body, self._too_large, self._too_slow)

    def _too_large(self) -> RequestError:
        return RequestError(f"request body over {self.max_body} bytes", code="request_too_large", status=413)

    def _too_slow(self) -> RequestError:
        return BodyTooSlow(self.body_timeout)

    async def _error_data(self, resp) -> bytes:
        try:
            return await _read_capped(resp, MAX_ERROR_BODY)
        except (TimeoutError, aiohttp.ClientError) as exc:
            return f"(body unreadable: {failure(exc, 'body').message})".encode()
        finally:
            resp.release()

    async def _upstream_error(
        self, ex: Exchange, upstream_status: int, data: bytes, headers: list, pipeline, counted: bool = False
    ) -> Response:
        """The provider's error, with its real message, in the shape and status the client can act on."""
        # What a provider echoes of the pack's credentials (its key, a key in the URL's query) goes no further.
        status, body, message = pipeline.error(scrub_secrets(data, pipeline.pack.upstream), upstream_status)
        headers = [h for h in headers if h[0] != b"x-upstream-status"]
        if status != upstream_status:
            headers.append((b"x-upstream-status", str(upstream_status).encode()))
        if not counted:
            self.metrics.upstream_http_errors.labels(pipeline.pack.name, str(upstream_status)).inc()
        content = orjson.dumps(body)
        # The provider's own words, so a 400 can be diagnosed from the log line alone (keys masked).
        ex.status, ex.source = status, "upstream"
        ex.error = f"upstream {upstream_status}: {redact(message, pipeline.pack.upstream.api_key)}"
        ex.bytes_out = len(content)
        self.finish.done(ex)
        return Answer(status, content, headers)

    async def _whole(self, ex: Exchange, resp, headers: list, pipeline: Pipeline, client_body: dict) -> Response:
        try:
            data = await resp.read()
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise failure(exc, "body") from None
        finally:
            resp.release()
        ex.first_byte_ms = ex.upstream_ms
        if len(data) > OFF_LOOP_BYTES:
            return self.finish.ok(ex, await asyncio.to_thread(_answer, pipeline, data, client_body, ex), headers)
        return self.finish.ok(ex, _answer(pipeline, data, client_body, ex), headers)


class BodyTooSlow(RequestError):
    """A request body that did not arrive within `--body-timeout` (a 408, and the connection closed)."""

    def __init__(self, timeout: float):
        message = f"request body not received within {timeout:g} s of its head"
        super().__init__(message, code="request_timeout", status=408)


@dataclass
class Retry:
    """A call that failed in a way another call may fix: why (for the log and metrics), the upstream's
    `Retry-After`, and how to answer the client with this failure if no call is left."""

    reason: str
    retry_after: str | None
    answer: Callable[[], Awaitable[Answer]]
    status: int = 0  # the upstream's HTTP status (0: no answer, or a stream that broke)


def _raiser(error: Exception) -> Callable[[], Awaitable[Answer]]:
    async def answer() -> Answer:
        raise error

    return answer


# Bodies larger than this are parsed, stepped and encoded off the event loop (see `_handle`).
OFF_LOOP_BYTES = 1024 * 1024
# An upstream's error body is read up to this much: enough for any real error, bounded for a broken one.
MAX_ERROR_BODY = 64 * 1024


async def _read_capped(resp, limit: int) -> bytes:
    """At most `limit` bytes of a body; a longer one is cut there (the connection is then not reused)."""
    chunks, size = [], 0
    async for chunk in resp.content.iter_chunked(16 * 1024):
        chunks.append(chunk)
        size += len(chunk)
        if size >= limit:
            break
    return b"".join(chunks)[:limit]


def _answer(pipeline: Pipeline, data: bytes, client_body: dict, ex: Exchange) -> bytes:
    """A whole upstream body through the response path, encoded for the client (its usage on `ex`)."""
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise UpstreamError("upstream sent a body that is not JSON", code="upstream_bad_body", status=502) from None
    answer = pipeline.body(body, client_body)
    ex.answer = pipeline.client.meter().body(answer)
    ex.usage = ex.answer.usage
    return _dumps(answer, "upstream body")


def _dumps(value, what: str) -> bytes:
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        # orjson reads 1,024 levels of nesting but writes 254: a body between the two is refused here,
        # in the client's error shape, rather than failing as a bug.
        if what == "request body":
            raise RequestError("request body is nested too deeply (at most 254 levels)", code="invalid_json") from None
        raise UpstreamError(f"{what} is nested too deeply to relay", code="upstream_bad_body", status=502) from None


def _fields(sent: bytes) -> str | None:
    """`model,messages,stream`: the top-level fields of a body sent upstream, for the log of a 4xx (names only)."""
    try:
        body = orjson.loads(sent)
    except orjson.JSONDecodeError:
        return None
    return ",".join(body) if type(body) is dict else None


def _affinity_value(expression, body: dict):
    try:
        return expression.evaluate(body)
    except JMESPathError:  # an odd body is a request without affinity, not a failure
        return None


def _parse(raw: bytes) -> dict:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise RequestError(f"request body is not valid JSON: {exc}", code="invalid_json") from None
    if type(body) is not dict:
        raise RequestError("request body must be a JSON object", code="invalid_json")
    return body


def _with_facts(body: dict, facts: dict | None) -> dict:
    """The body with the fields its URL stands for (a None value removes the field)."""
    if facts:
        for key, value in facts.items():
            if value is None:
                body.pop(key, None)
            else:
                body[key] = value
    return body


def _request_id(request: Incoming) -> str:
    given = request.headers.get("x-request-id", "")
    # Taken from the client only when it is a sane token: it goes into logs and upstream headers.
    if 0 < len(given) <= 128 and given.isprintable() and " " not in given:
        return given
    return new_id("req")
