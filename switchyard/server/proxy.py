"""The proxy hop: one client request through its pack to the upstream and back.

    body -> select pack -> [bridge] -> request steps -> upstream
    upstream events -> response steps -> [bridge] -> client, one read at a time

A request takes the rule set that is current when it arrives and keeps that snapshot (through
the `Pack` object it holds) to its last stream event, whatever reloads happen meanwhile.

Streams are translated as they arrive: each read from the upstream is decoded into SSE events and
handed to the stream's `Relay` (switchyard/server/relay.py), which runs the `response` steps and the bridge
and returns one client write per upstream read. This module owns what surrounds that: the
upstream call, timeouts and cuts mid-stream (the relay turns them into an error event in the
client's protocol, never a stream that just stops), aggregation for `force_stream`, metrics and
the access log line.

Errors the proxy makes up itself use the OpenAI error shape shared by both client protocols.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

import aiohttp
import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse

from switchyard.bridges import get_bridge
from switchyard.errors import RequestError, StepError, UpstreamError, error_body
from switchyard.ids import new_id
from switchyard.language.pack import Pack
from switchyard.pipeline import upstream_request
from switchyard.protocols.aggregate import chat_completion, final_response, upstream_error
from switchyard.protocols.sse import SSEDecoder
from switchyard.server.logs import access_log
from switchyard.server.metrics import Metrics
from switchyard.server.relay import Relay
from switchyard.server.reloader import Rules
from switchyard.server.upstream import NOT_BACK, Upstreams, describe, upstream_headers

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

    @property
    def pack_name(self) -> str:
        return self.pack.name if self.pack else "-"

    @property
    def upstream_protocol(self) -> str:
        return self.pack.upstream.protocol if self.pack else "-"


class Proxy:
    """The request handler behind both client endpoints; one per app, stateless between requests."""

    def __init__(self, rules: Rules, upstreams: Upstreams, metrics: Metrics, max_body: int):
        self.rules = rules
        self.upstreams = upstreams
        self.metrics = metrics
        self.max_body = max_body

    async def handle(self, request: Request, client: str) -> Response:
        ex = Exchange(_request_id(request), client)
        try:
            return await self._handle(request, ex)
        except RequestError as exc:
            return self._fail(ex, exc.status, exc.body(), str(exc))
        except UpstreamError as exc:  # unreachable, timed out, cut, or a failure the upstream reported
            return self._fail(ex, exc.status, exc.body(), str(exc))
        except StepError as exc:
            self.metrics.step_errors.labels(ex.pack_name, exc.stage).inc()  # counted here, once
            body = error_body(f"pack {ex.pack_name} failed: {exc}", "server_error", None, "step_failed")
            return self._fail(ex, 500, body, str(exc))
        except ClientDisconnect:
            ex.status = 499  # nginx's convention for "client closed the request"
            self._done(ex)
            return Response(status_code=499)
        except Exception as exc:  # a bug: still one answer in the client's error shape, and a log with the trace
            log.exception("request %s failed", ex.request_id)
            body = error_body(f"internal error in the proxy ({type(exc).__name__})", "server_error", None, "internal")
            return self._fail(ex, 500, body, f"internal error: {type(exc).__name__}")

    async def _handle(self, request: Request, ex: Exchange) -> Response:
        raw = await self._read_body(request)
        ex.bytes_in = len(raw)
        body = _parse(raw)
        ex.model = body.get("model")
        ex.stream = body.get("stream") is True
        rules = self.rules.current  # the snapshot this request keeps to its end
        pack = ex.pack = rules.select(body)
        if pack is None:
            raise RequestError(
                f"no pack serves the model {ex.model!r}", param="model", code="model_not_found", status=404
            )
        bridge = get_bridge(ex.client, pack.upstream.protocol)
        # The bridge's stream translator reads the client's own request (tools, include_usage);
        # a second parse is cheaper than a deep copy and is safe from steps changing shared objects.
        client_body = orjson.loads(raw) if bridge else body
        outgoing = upstream_request(pack, ex.client, body)
        upstream_stream = ex.stream or pack.upstream.force_stream
        headers = upstream_headers(request.headers, pack.upstream, ex.request_id, upstream_stream)
        sent = time.perf_counter()
        try:
            resp = await self.upstreams.post(pack.upstream, headers, orjson.dumps(outgoing))
        except UpstreamError as exc:
            self.metrics.upstream_errors.labels(pack.name, exc.code).inc()
            raise
        ex.upstream_ms = (time.perf_counter() - sent) * 1000
        self.metrics.upstream_latency.labels(pack.name).observe(ex.upstream_ms / 1000)
        passed = {k: v for k, v in resp.headers.items() if k.lower() not in NOT_BACK}
        passed["X-Request-Id"] = ex.request_id
        if resp.status >= 400:
            return await self._upstream_error(ex, resp, passed)
        is_sse = "text/event-stream" in resp.headers.get("Content-Type", "")
        if not is_sse:
            return await self._whole(ex, resp, passed, pack, bridge, client_body)
        translate = Relay(pack, bridge, ex.client, client_body, self.metrics)
        if ex.stream:
            self.metrics.active_streams.inc()
            passed.update(SSE_HEADERS)
            return StreamingResponse(
                self._stream(ex, resp, translate, sent), status_code=200, headers=passed, media_type="text/event-stream"
            )
        return await self._aggregate(ex, resp, passed, translate, sent)

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

    async def _upstream_error(self, ex: Exchange, resp: aiohttp.ClientResponse, headers: dict) -> Response:
        """The provider's error, with its real message, in the shape and status the client can act on."""
        try:
            data = await resp.read()
        except (TimeoutError, aiohttp.ClientError) as exc:
            data = f"(body unreadable: {describe(exc)})".encode()
        finally:
            resp.release()
        content = upstream_error_body(data, resp.status, ex.pack)
        status = resp.status
        if ex.client == "responses" and 400 < status < 500 and status not in _CLIENT_KEEPS:
            # Codex treats a 400 as a request error to show the user, but retries other statuses
            # blindly (protocols.md D.4): a provider's 404 or 422 for a bad request is a 400 to it.
            headers["X-Upstream-Status"] = str(status)
            status = 400
        ex.status, ex.error = status, "upstream error"
        ex.bytes_out = len(content)
        self._done(ex)
        return Response(content, status_code=status, headers=headers, media_type=JSON)

    async def _whole(self, ex, resp, headers, pack: Pack, bridge, client_body) -> Response:
        try:
            data = await resp.read()
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise UpstreamError(f"upstream body cut: {describe(exc)}", code="upstream_cut", status=502) from None
        finally:
            resp.release()
        ex.first_byte_ms = ex.upstream_ms
        try:
            body = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise UpstreamError("upstream sent a body that is not JSON", code="upstream_bad_body", status=502) from None
        pack.run_response(body)
        if type(body) is dict and isinstance(body.get("error"), dict | str) and bridge is None:
            # An error inside a 200 (or one a pack step marked) is an error to the client, as the
            # bridges treat it: never a success whose body happens to say otherwise.
            raise upstream_error(body)
        if bridge is not None:
            body = bridge.response(body, client_body)
        return self._ok(ex, orjson.dumps(body), headers)

    async def _stream(self, ex: Exchange, resp, translate: Relay, sent: float):
        try:
            async for out in self._events(ex, resp, translate, sent):
                ex.bytes_out += len(out)
                yield out
            ex.status = ex.status or 200
        except asyncio.CancelledError:
            ex.status, ex.error = 499, "client went away"
            raise
        finally:
            if not ex.status:  # closed from outside (the generator abandoned): the client went away
                ex.status, ex.error = 499, ex.error or "client went away"
            resp.release()
            self.metrics.active_streams.dec()
            self._done(ex)

    async def _events(self, ex: Exchange, resp, translate: Relay, sent: float):
        """Client-ready bytes, one blob per upstream read; ends with an error event if the upstream breaks."""
        decoder = SSEDecoder()
        try:
            async for chunk in resp.content.iter_any():
                if ex.first_byte_ms is None:
                    ex.first_byte_ms = (time.perf_counter() - sent) * 1000
                    self.metrics.upstream_ttfb.labels(translate.pack.name).observe(ex.first_byte_ms / 1000)
                out = translate.events(decoder.decode(chunk))
                if out:
                    yield out
            out = translate.events(decoder.flush()) + translate.close()
        except (TimeoutError, aiohttp.ClientError) as exc:
            kind = "timeout" if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError) else "cut"
            self.metrics.upstream_errors.labels(translate.pack.name, f"stream_{kind}").inc()
            ex.error = f"upstream stream {kind}: {describe(exc)}"
            out = translate.fail(f"upstream stream broke: {describe(exc)}")
        except StepError as exc:
            self.metrics.step_errors.labels(translate.pack.name, "response").inc()
            ex.error = str(exc)
            out = translate.fail(f"pack {translate.pack.name} failed: {exc}", code="step_failed")
        except Exception as exc:  # a bug must still end the client's stream with an error, not a hang
            log.exception("stream translation failed (request %s)", ex.request_id)
            ex.error = f"internal error: {type(exc).__name__}"
            out = translate.fail("internal error in the proxy while translating the stream")
        if out:
            yield out

    async def _aggregate(self, ex: Exchange, resp, headers: dict, translate: Relay, sent: float) -> Response:
        """force_stream for a client that asked for one body: read the whole stream, answer once."""
        translate.collect = []
        try:
            async for _ in self._events(ex, resp, translate, sent):
                pass
        finally:
            resp.release()
        if ex.client == "chat":
            body = chat_completion(translate.collect)
        else:
            body = final_response(translate.collect)
        return self._ok(ex, orjson.dumps(body), headers)

    def _ok(self, ex: Exchange, content: bytes, headers: dict) -> Response:
        ex.status = 200
        ex.bytes_out = len(content)
        self._done(ex)
        return Response(content, status_code=200, headers=headers, media_type=JSON)

    def _fail(self, ex: Exchange, status: int, body: dict, reason: str) -> Response:
        ex.status, ex.error = status, reason
        content = orjson.dumps(body)
        ex.bytes_out = len(content)
        self._done(ex)
        return Response(content, status_code=status, headers={"X-Request-Id": ex.request_id}, media_type=JSON)

    def _done(self, ex: Exchange) -> None:
        elapsed = time.perf_counter() - ex.started
        self.metrics.requests.labels(ex.pack_name, ex.client, ex.upstream_protocol, str(ex.status)).inc()
        self.metrics.request_duration.labels(ex.pack_name, ex.client).observe(elapsed)
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
                "error": ex.error,
            }
        )


# Statuses a Responses client must see as they are: auth (401, 403) and rate limiting (429).
_CLIENT_KEEPS = frozenset({401, 403, 429})


def upstream_error_body(data: bytes, status: int, pack: Pack | None = None) -> bytes:
    """An upstream error body in the OpenAI error shape: kept as is when it already is, else wrapped.

    Providers answer `{"error": {...}}` (kept), or `{"detail": "..."}`, bare `{"code", "message"}`
    objects, HTML pages from load balancers: those are wrapped, their message kept, so the client's
    SDK raises with the provider's own words. A JSON body is an upstream body like any other: the
    pack's `response` steps run on it first (a pack may give a provider's error an OpenAI code). A
    step that fails on it leaves it as the provider sent it: the provider's error is the news.
    """
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError:
        parsed = None
    if isinstance(parsed, dict) and pack is not None and pack.response:
        try:
            pack.run_response(parsed)
        except StepError:
            parsed = orjson.loads(data)
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
        return orjson.dumps(parsed)
    if isinstance(parsed, dict):
        inner = parsed.get("error") if isinstance(parsed.get("error"), str) else None
        message = inner or parsed.get("message") or parsed.get("detail") or parsed.get("msg")
        if not isinstance(message, str):
            message = orjson.dumps(parsed).decode()[:500]
        code = parsed.get("code")
        kind = parsed.get("type") if isinstance(parsed.get("type"), str) else "upstream_error"
        return orjson.dumps(error_body(message, kind, None, str(code) if code is not None else None))
    text = data.decode("utf-8", "replace").strip()[:500]
    return orjson.dumps(error_body(f"upstream answered {status}: {text}", "upstream_error"))


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
