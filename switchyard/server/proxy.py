"""The proxy hop: one client request through its pack to the upstream and back.

    body -> select pack -> Pipeline.request (bridge, request steps) -> upstream
    upstream events -> Pipeline.stream (response steps, bridge back) -> client, one read at a time

A request takes the rule set that is current when it arrives and keeps that snapshot (through the
`Pack` its pipeline holds) to its last stream event, whatever reloads happen meanwhile.

What happens to bodies and events is `switchyard.pipeline`'s, shared with `apply` and `test`. This
module owns what surrounds it: reading the request, the upstream call, timeouts and cuts mid-stream
(the stream ends with an error event in the client's protocol, never just stops), metrics and the
access log line. Every error the client sees is rendered by the client's protocol.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp
import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse

from switchyard import protocols
from switchyard.errors import ClientFacing, RequestError, SSEError, StepError, UpstreamError
from switchyard.ids import new_id
from switchyard.language.pack import Pack
from switchyard.pipeline import Pipeline, Stream
from switchyard.protocols.sse import SSEDecoder
from switchyard.server import attempts
from switchyard.server.access import ClientGate
from switchyard.server.lifecycle import Lifecycle
from switchyard.server.logs import access_log
from switchyard.server.metrics import Metrics
from switchyard.server.reloader import Rules
from switchyard.server.streaming import ClientStream
from switchyard.server.upstream import NOT_BACK, Upstreams, describe, failure, upstream_headers

log = logging.getLogger("switchyard.access")

JSON = "application/json"
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@dataclass
class Exchange:
    """What one request log line and the metrics say about a request."""

    request_id: str
    client: str
    started: float = field(default_factory=time.perf_counter)
    pack: Pack | None = None
    model: object = None
    stream: bool = False
    status: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    upstream_ms: float | None = None
    first_byte_ms: float | None = None
    error: str | None = None
    source: str | None = None  # whose failure it was: "proxy", "upstream" or "step" (None: served)
    attempts: attempts.Attempts | None = None  # calls that failed before the one that answered
    shutdown: bool = False  # the drain ended this stream when the grace was over
    counted_until_stream_end: bool = False  # in `Proxy.in_flight` until its stream ends
    client_gone: bool = False  # the client hung up mid-stream (see server/streaming.py)

    @property
    def pack_name(self) -> str:
        return self.pack.name if self.pack else "-"

    @property
    def upstream_protocol(self) -> str:
        return self.pack.upstream.protocol if self.pack else "-"


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
    ):
        self.rules = rules
        self.upstreams = upstreams
        self.metrics = metrics
        self.max_body = max_body
        self.gate = gate or ClientGate()
        self.lifecycle = lifecycle or Lifecycle()
        self.max_concurrency = max_concurrency  # `--max-concurrency`: beyond it, 503 at once (None: unlimited)
        self.in_flight = 0  # requests and streams not finished yet
        # After this many seconds without upstream data, a stream whose client protocol has a keep-alive
        # event (Anthropic's `ping`) gets one: a model thinking for a minute must not look dead.
        self.keepalive = keepalive

    @property
    def saturated(self) -> bool:
        return self.max_concurrency is not None and self.in_flight >= self.max_concurrency

    async def handle(self, request: Request, client: str) -> Response:
        ex = Exchange(_request_id(request), client)
        if self.saturated:
            # Refused at once rather than queued without bound; the client's SDK retries after the pause.
            ex.source = "proxy"
            error = ClientFacing(
                f"the proxy is at its limit of {self.max_concurrency} requests in flight; retry shortly",
                code="overloaded",
                status=503,
            )
            return self._fail(ex, error, "over --max-concurrency", {"Retry-After": "1"})
        self.in_flight += 1
        try:
            response = await self._handle(request, ex)
            if isinstance(response, StreamingResponse):
                ex.counted_until_stream_end = True  # the stream gives the place back when it ends
            return response
        except UpstreamError as exc:  # unreachable, timed out, cut, or the upstream reported a failure
            ex.source = "upstream"
            return self._fail(ex, exc, redact(str(exc), ex.pack.upstream.api_key if ex.pack else ""))
        except RequestError as exc:  # refused: by the proxy, a bridge, or a pack's `reject`
            ex.source = "proxy"
            return self._fail(ex, exc, str(exc))
        except StepError as exc:
            self.metrics.step_errors.labels(ex.pack_name, exc.stage).inc()  # counted here, once
            ex.source = "step"
            error = ClientFacing(f"pack {ex.pack_name} failed: {exc}", code="step_failed")
            return self._fail(ex, error, str(exc))
        except ClientDisconnect:
            ex.status = 499  # nginx's convention for "client closed the request"
            self._done(ex)
            return Response(status_code=499)
        except Exception as exc:  # a bug: still one answer in the client's error shape, and a log with the trace
            log.exception("request %s failed", ex.request_id)
            ex.source = "proxy"
            error = ClientFacing(f"internal error in the proxy ({type(exc).__name__})", code="internal")
            return self._fail(ex, error, f"internal error: {type(exc).__name__}")
        finally:
            if not ex.counted_until_stream_end:
                self.in_flight -= 1

    async def _handle(self, request: Request, ex: Exchange) -> Response:
        if not self.gate.admits(request.headers):
            raise RequestError(
                "a client token is required: send it as 'Authorization: Bearer <token>' or 'x-api-key'",
                code="invalid_client_token",
                status=401,
                type="authentication_error",
            )
        raw = await self._read_body(request)
        ex.bytes_in = len(raw)
        rules = self.rules.current  # the snapshot this request keeps to its end, fallbacks included
        first = await self._prepared(raw, rules, ex)
        targets = attempts.plan(first[0].pack, rules)
        calls = ex.attempts = attempts.Attempts()
        last: Retry | None = None
        for i, target in enumerate(targets):
            prepared = first if i == 0 else await self._prepared(raw, rules, ex, target)
            tries = target.pack.upstream.retries + 1
            for n in range(tries):
                if n:
                    wait = attempts.delay(n, last.retry_after if last else None)
                    if wait is None:  # the upstream asked for a longer pause than a retry is worth
                        break
                    await asyncio.sleep(wait)
                more = n + 1 < tries or i + 1 < len(targets)
                outcome = await self._attempt(request, ex, prepared, more)
                if not isinstance(outcome, Retry):
                    return outcome
                calls.add(target.pack.name, outcome.reason)
                self.metrics.retries.labels(target.pack.name, outcome.reason).inc()
                last = outcome
        # Every target failed in a way another call might have fixed: the last failure is the answer.
        assert last is not None
        return await last.answer()

    async def _prepared(self, raw: bytes, rules, ex: Exchange, target: attempts.Target | None = None):
        if len(raw) > OFF_LOOP_BYTES:
            # Parsing and stepping through a body of many megabytes takes long enough to stall every
            # other request on this loop; a thread lets the loop run between its slices of the GIL.
            return await asyncio.to_thread(self._prepare, raw, rules, ex, target)
        return self._prepare(raw, rules, ex, target)

    async def _attempt(self, request: Request, ex: Exchange, prepared, more: bool) -> Response | Retry:
        """One call of the upstream. With `more` calls left, a failure another call may fix is a `Retry`."""
        pipeline, client_body, upstream_stream, outgoing = prepared
        pack = ex.pack = pipeline.pack
        # A gateway token is the gateway's: never sent on to a provider.
        headers = upstream_headers(request.headers, pack.upstream, ex.request_id, upstream_stream, not self.gate)
        sent = time.perf_counter()
        try:
            resp = await self.upstreams.post(pack.upstream, headers, outgoing)
        except UpstreamError as exc:
            self.metrics.upstream_errors.labels(pack.name, exc.code).inc()
            if more:
                return Retry(exc.code or "unreachable", None, _raiser(exc))
            raise
        ex.upstream_ms = (time.perf_counter() - sent) * 1000
        self.metrics.upstream_latency.labels(pack.name).observe(ex.upstream_ms / 1000)
        passed = {k: v for k, v in resp.headers.items() if k.lower() not in NOT_BACK}
        passed["X-Request-Id"] = ex.request_id
        passed["X-Switchyard-Pack"] = pack.name
        if resp.status >= 400:
            if more and resp.status in attempts.RETRY_STATUSES:
                data = await self._error_data(resp)
                self.metrics.upstream_http_errors.labels(pack.name, str(resp.status)).inc()
                later = functools.partial(self._upstream_error, ex, resp.status, data, passed, pipeline, counted=True)
                return Retry(str(resp.status), resp.headers.get("Retry-After"), later)
            return await self._upstream_error(ex, resp.status, await self._error_data(resp), passed, pipeline)
        if "text/event-stream" not in resp.headers.get("Content-Type", ""):
            return await self._whole(ex, resp, passed, pipeline, client_body)
        stream = pipeline.stream(client_body)
        reader = Reader(resp)
        if more:
            # Nothing is sent before the first event: a stream that breaks or ends before it can
            # still be tried again.
            failed = await self._first_events(ex, reader, stream, sent)
            if failed:
                resp.release()
                return Retry(failed, None, _raiser(UpstreamError(f"upstream stream {failed}", code=failed)))
        if ex.stream:
            self.metrics.active_streams.inc()
            passed.update(SSE_HEADERS)
            return ClientStream(
                self._stream(ex, reader, stream, sent),
                gone=functools.partial(setattr, ex, "client_gone", True),
                status_code=200,
                headers=passed,
                media_type="text/event-stream",
            )
        return await self._aggregate(ex, reader, passed, pipeline, stream, sent)

    def _prepare(self, raw: bytes, rules, ex: Exchange, target: attempts.Target | None = None):
        """The request's CPU work: parse, select the pack, run the request path, encode for the upstream.

        With a `target` (a fallback), the body goes to that pack with its model, as the client sent it
        otherwise: the pack's `match` is not consulted.
        """
        body = _parse(raw)
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
        client_body = body if pipeline.bridge.identity else orjson.loads(raw)
        if target is not None and target.model is not None:
            client_body["model"] = target.model
        upstream_stream = pipeline.upstream_streams(body)
        return pipeline, client_body, upstream_stream, _dumps(pipeline.request(body), "request body")

    async def _read_body(self, request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.max_body:
            raise RequestError(f"request body over {self.max_body} bytes", code="request_too_large", status=413)
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_body:
                raise RequestError(f"request body over {self.max_body} bytes", code="request_too_large", status=413)
            chunks.append(chunk)
        return b"".join(chunks)

    async def _error_data(self, resp) -> bytes:
        try:
            return await _read_capped(resp, MAX_ERROR_BODY)
        except (TimeoutError, aiohttp.ClientError) as exc:
            return f"(body unreadable: {failure(exc, 'body').message})".encode()
        finally:
            resp.release()

    async def _upstream_error(
        self, ex: Exchange, upstream_status: int, data: bytes, headers: dict, pipeline, counted: bool = False
    ) -> Response:
        """The provider's error, with its real message, in the shape and status the client can act on."""
        status, body, message = pipeline.error(data, upstream_status)
        if status != upstream_status:
            headers["X-Upstream-Status"] = str(upstream_status)
        if not counted:
            self.metrics.upstream_http_errors.labels(pipeline.pack.name, str(upstream_status)).inc()
        content = orjson.dumps(body)
        # The provider's own words, so a 400 can be diagnosed from the log line alone (keys masked).
        ex.status, ex.source = status, "upstream"
        ex.error = f"upstream {upstream_status}: {redact(message, pipeline.pack.upstream.api_key)}"
        ex.bytes_out = len(content)
        self._done(ex)
        return Response(content, status_code=status, headers=headers, media_type=JSON)

    async def _whole(self, ex: Exchange, resp, headers: dict, pipeline: Pipeline, client_body: dict) -> Response:
        try:
            data = await resp.read()
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise failure(exc, "body") from None
        finally:
            resp.release()
        ex.first_byte_ms = ex.upstream_ms
        if len(data) > OFF_LOOP_BYTES:
            return self._ok(ex, await asyncio.to_thread(_answer, pipeline, data, client_body), headers)
        return self._ok(ex, _answer(pipeline, data, client_body), headers)

    async def _first_events(self, ex: Exchange, reader: Reader, stream: Stream, sent: float) -> str | None:
        """Read until the stream gives its first client events; the failure's name if it fails first."""
        try:
            async for chunk in reader.chunks:
                if ex.first_byte_ms is None:
                    ex.first_byte_ms = (time.perf_counter() - sent) * 1000
                reader.primed = stream.feed(reader.decoder.decode(chunk))
                if reader.primed or stream.ended or stream.step_error or stream.upstream_fault:
                    return None
            reader.primed = stream.feed(reader.decoder.flush())
            return None if reader.primed else "stream_empty"
        except (TimeoutError, aiohttp.ClientError) as exc:
            return failure(exc, "stream").code
        except SSEError:
            return None  # not a fault another call would fix: `_events` ends the stream with the error

    async def _stream(self, ex: Exchange, reader: Reader, stream: Stream, sent: float):
        resp = reader.resp

        def end_for_shutdown() -> None:
            # The grace is over: closing the upstream ends the read loop, which ends the client's
            # stream with an error event in its protocol (see `_events`).
            ex.shutdown = True
            resp.close()

        self.lifecycle.track(id(ex), end_for_shutdown)
        try:
            async for events in self._events(ex, reader, stream, sent):
                out = stream.encode(events)
                ex.bytes_out += len(out)
                yield out
                if ex.client_gone:  # see server/streaming.py: a cancellation may not land with a fast upstream
                    ex.status, ex.error = 499, "client went away"
                    return
            ex.status = ex.status or 200
        except asyncio.CancelledError:
            ex.status, ex.error = 499, "client went away"
            raise
        finally:
            if not ex.status:  # closed from outside (the generator abandoned): the client went away
                ex.status, ex.error = 499, ex.error or "client went away"
            resp.release()
            self.lifecycle.untrack(id(ex))
            self.in_flight -= 1
            self.metrics.active_streams.dec()
            self._done(ex)

    async def _events(self, ex: Exchange, reader: Reader, stream: Stream, sent: float):
        """Client events, one list per upstream read; ends with an error event if the upstream breaks."""
        decoder = reader.decoder
        pack = stream.pack.name
        events_in = self.metrics.stream_events.labels(pack, "in")
        events_out = self.metrics.stream_events.labels(pack, "out")
        if ex.first_byte_ms is not None:  # read ahead by `_first_events`
            self.metrics.upstream_ttfb.labels(pack).observe(ex.first_byte_ms / 1000)
        keepalive = stream.keeps_alive
        try:
            out = reader.primed
            while not (stream.step_error or stream.upstream_fault):
                if out:
                    yield out
                try:
                    if keepalive:
                        try:
                            # A quiet upstream (a model thinking) must not look dead to the client.
                            chunk = await asyncio.wait_for(reader.chunks.__anext__(), self.keepalive)
                        except aiohttp.ServerTimeoutError:
                            raise  # the pack's read timeout: the upstream is gone, not quiet
                        except TimeoutError:
                            out = stream.keepalive()
                            continue
                    else:
                        chunk = await reader.chunks.__anext__()
                except StopAsyncIteration:
                    if ex.shutdown:  # closed by the drain, not by the upstream
                        raise aiohttp.ClientConnectionError("closed for the shutdown") from None
                    out = stream.feed(decoder.flush()) + stream.close()
                    break
                if ex.first_byte_ms is None:
                    ex.first_byte_ms = (time.perf_counter() - sent) * 1000
                    self.metrics.upstream_ttfb.labels(pack).observe(ex.first_byte_ms / 1000)
                out = stream.feed(decoder.decode(chunk))
        except (TimeoutError, aiohttp.ClientError) as exc:
            if ex.shutdown:
                ex.error, ex.source = "ended by the shutdown: the grace period was over", "proxy"
                out = stream.fail("the proxy is shutting down and ended this stream before it finished; retry")
            else:
                error = failure(exc, "stream")
                self.metrics.upstream_errors.labels(pack, error.code).inc()
                ex.error, ex.source = error.message, "upstream"
                out = stream.fail(f"upstream stream broke: {describe(exc)}")
        except SSEError as exc:  # an event or a line over the decoder's bound: the stream cannot go on safely
            self.metrics.upstream_errors.labels(pack, "stream_oversized").inc()
            ex.error, ex.source = f"upstream stream: {exc}", "upstream"
            out = stream.fail(f"upstream stream broke: {exc}")
        except Exception as exc:  # a bug must still end the client's stream with an error, not a hang
            log.exception("stream translation failed (request %s)", ex.request_id)
            ex.error, ex.source = f"internal error: {type(exc).__name__}", "proxy"
            out = stream.fail("internal error in the proxy while translating the stream")
        if stream.step_error is not None:
            self.metrics.step_errors.labels(pack, "response").inc()
            ex.error, ex.source = str(stream.step_error), "step"
        elif stream.failure is not None and ex.source is None:
            # The upstream itself ended the stream with an error (an error event, or it stopped short).
            ex.error, ex.source = f"upstream stream failed: {redact(stream.failure, '')}", "upstream"
        events_in.inc(stream.events_in)
        events_out.inc(stream.events_out)
        if out:
            yield out

    async def _aggregate(self, ex, reader: Reader, headers: dict, pipeline: Pipeline, stream: Stream, sent) -> Response:
        """force_stream for a client that asked for one body: read the whole stream, answer once."""
        events: list = []
        try:
            async for out in self._events(ex, reader, stream, sent):
                events.extend(out)
        finally:
            reader.resp.release()
        return self._ok(ex, orjson.dumps(pipeline.aggregate(events)), headers)

    def _ok(self, ex: Exchange, content: bytes, headers: dict) -> Response:
        ex.status = 200
        ex.bytes_out = len(content)
        self._done(ex)
        return Response(content, status_code=200, headers=headers, media_type=JSON)

    def _fail(self, ex: Exchange, error: ClientFacing, reason: str, headers: dict | None = None) -> Response:
        ex.status, ex.error = error.status, reason
        content = orjson.dumps(protocols.get(ex.client).render_error(error))
        ex.bytes_out = len(content)
        self._done(ex)
        headers = {"X-Request-Id": ex.request_id, **(headers or {})}
        return Response(content, status_code=error.status, headers=headers, media_type=JSON)

    def _done(self, ex: Exchange) -> None:
        elapsed = time.perf_counter() - ex.started
        self.metrics.requests.labels(ex.pack_name, ex.client, ex.upstream_protocol, str(ex.status)).inc()
        self.metrics.request_duration.labels(ex.pack_name, ex.client).observe(elapsed)
        if ex.status == 200 and ex.source is not None:  # a stream answered 200 that ended in an error event
            self.metrics.failed_streams.labels(ex.pack_name, ex.client, ex.source).inc()
        level = "error" if ex.source == "step" else "warning" if ex.source or ex.status >= 400 else "info"
        access_log(
            {
                "request_id": ex.request_id,
                "pack": ex.pack_name,
                "model": ex.model[:200] if isinstance(ex.model, str) else None,
                "client": ex.client,
                "upstream": ex.upstream_protocol,
                "stream": ex.stream,
                "status": ex.status,
                "duration_ms": round(elapsed * 1000, 2),
                "upstream_ms": None if ex.upstream_ms is None else round(ex.upstream_ms, 2),
                "first_byte_ms": None if ex.first_byte_ms is None else round(ex.first_byte_ms, 2),
                "bytes_in": ex.bytes_in,
                "bytes_out": ex.bytes_out,
                "source": ex.source,
                "error": ex.error,
                "retried": str(ex.attempts) if ex.attempts else None,
            },
            level,
        )


# What a provider's message may carry of a key: OpenAI-style keys (masked or not) and bearer tokens.
_KEYS = re.compile(r"\b(sk|pk|rk|ak)-[A-Za-z0-9_*\-.]{4,}|\bBearer\s+\S+", re.IGNORECASE)


def redact(message: str, key: str = "", limit: int = 300) -> str:
    """A provider's message for the log: shortened, on one line, with anything like a key masked."""
    if key:
        message = message.replace(key, "[key]")
    return _KEYS.sub("[key]", " ".join(message.split()))[:limit]


@dataclass
class Retry:
    """A call that failed in a way another call may fix: why (for the log and metrics), the upstream's
    `Retry-After`, and how to answer the client with this failure if no call is left."""

    reason: str
    retry_after: str | None
    answer: Callable[[], Awaitable[Response]]


class Reader:
    """An upstream stream being read: its response, its chunks, its SSE decoder, and events read ahead."""

    def __init__(self, resp: aiohttp.ClientResponse):
        self.resp = resp
        self.chunks = resp.content.iter_any()
        self.decoder = SSEDecoder()
        self.primed: list = []


def _raiser(error: Exception) -> Callable[[], Awaitable[Response]]:
    async def answer() -> Response:
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


def _answer(pipeline: Pipeline, data: bytes, client_body: dict) -> bytes:
    """A whole upstream body through the response path, encoded for the client."""
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise UpstreamError("upstream sent a body that is not JSON", code="upstream_bad_body", status=502) from None
    return _dumps(pipeline.body(body, client_body), "upstream body")


def _dumps(value, what: str) -> bytes:
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        # orjson reads 1,024 levels of nesting but writes 254: a body between the two is refused here,
        # in the client's error shape, rather than failing as a bug.
        if what == "request body":
            raise RequestError("request body is nested too deeply (at most 254 levels)", code="invalid_json") from None
        raise UpstreamError(f"{what} is nested too deeply to relay", code="upstream_bad_body", status=502) from None


def _parse(raw: bytes) -> dict:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise RequestError(f"request body is not valid JSON: {exc}", code="invalid_json") from None
    if type(body) is not dict:
        raise RequestError("request body must be a JSON object", code="invalid_json")
    return body


def _request_id(request: Request) -> str:
    given = request.headers.get("x-request-id", "")
    # Taken from the client only when it is a sane token: it goes into logs and upstream headers.
    if 0 < len(given) <= 128 and given.isprintable() and " " not in given:
        return given
    return new_id("req")
