"""The stream relay: an upstream's SSE stream through the pack's response path to the client.

    upstream chunks -> SSE decoder -> Stream.feed (steps, bridge back) -> Stream.encode -> client

One upstream read gives at most one write to the client; nothing is held back but what the decoder
holds of an unfinished event (and, before a call that may still be retried, its first events). A
stream never just stops: a cut, a timeout, an oversized event, a bug or the drain's end all close it
with an error event in the client's protocol. A quiet upstream gets keep-alive events where the
client's protocol has one. A client that asked for one body from a stream-only upstream
(`force_stream`) gets the same events aggregated (`Relay.aggregate`).

Design choice: this is the hot path, so it is written for it: the label children are bound once
(`Bound`), a read waits under `asyncio.timeout` rather than `wait_for` (no task per chunk), and the
answer is a `StreamAnswer` (`server/asgi.py`: plain ASGI, no anyio task group per stream). The relay
knows nothing of attempts or fallbacks (`server/proxy.py` decides which response is relayed) and
ends every stream through `Finish.done` (`server/exchange.py`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import aiohttp
import orjson

from switchyard.errors import SSEError
from switchyard.pipeline import Pipeline, Stream
from switchyard.protocols.sse import SSEDecoder
from switchyard.server.asgi import Answer, StreamAnswer
from switchyard.server.exchange import Exchange, Finish, redact
from switchyard.server.lifecycle import Lifecycle
from switchyard.server.metrics import Bound, Metrics
from switchyard.server.upstream import describe, failure

log = logging.getLogger("switchyard.access")

# What a stream's answer says besides the upstream's headers: never cached, never buffered by a proxy in front.
SSE_HEADERS = [(b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no")]
_SSE_NAMES = frozenset(name for name, _ in SSE_HEADERS)


class Reader:
    """An upstream stream being read: its response, its chunks, its SSE decoder, and events read ahead."""

    def __init__(self, resp: aiohttp.ClientResponse):
        self.resp = resp
        self.chunks = resp.content.iter_any()
        self.decoder = SSEDecoder()
        self.primed: list = []


class Relay:
    """Relays the upstream streams of one app; `released` gives a stream's place in flight back when it ends."""

    def __init__(
        self, metrics: Metrics, lifecycle: Lifecycle, keepalive: float, finish: Finish, released: Callable[[], None]
    ):
        self.metrics = metrics
        self.lifecycle = lifecycle
        # After this many seconds without upstream data, a stream whose client protocol has a keep-alive
        # event (Anthropic's `ping`) gets one: a model thinking for a minute must not look dead.
        self.keepalive = keepalive
        self.finish = finish
        self.released = released
        self._ttfb = Bound(metrics.upstream_ttfb)
        self._events_counted = Bound(metrics.stream_events)

    def answer(self, ex: Exchange, reader: Reader, stream: Stream, passed: list, sent: float) -> StreamAnswer:
        """The client's streamed answer; from here the stream is counted until it ends."""
        self.metrics.active_streams.inc()
        # The upstream's own caching headers give way to the stream's.
        passed = [h for h in passed if h[0] not in _SSE_NAMES] + SSE_HEADERS
        resp = reader.resp
        answer = self.stream(ex, reader, stream, sent)
        return StreamAnswer(passed, answer, lambda: self.end_stream(ex, resp), stream.media_type)

    async def first_events(self, ex: Exchange, reader: Reader, stream: Stream, sent: float) -> str | None:
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
            return None  # not a fault another call would fix: `events` ends the stream with the error

    async def stream(self, ex: Exchange, reader: Reader, stream: Stream, sent: float):
        resp = reader.resp

        def end_for_shutdown() -> None:
            # The grace is over: closing the upstream ends the read loop, which ends the client's
            # stream with an error event in its protocol (see `events`).
            ex.shutdown = True
            resp.close()

        self.lifecycle.track(id(ex), end_for_shutdown)
        try:
            async for events in self.events(ex, reader, stream, sent):
                out = stream.encode(events)
                ex.bytes_out += len(out)
                if ex.trace is not None:
                    ex.trace.sent(out)
                yield out
            ex.status = ex.status or 200
        except asyncio.CancelledError:
            ex.status, ex.error = 499, "client went away"
            raise
        finally:
            self.end_stream(ex, resp)

    def end_stream(self, ex: Exchange, resp) -> None:
        """A stream's clean-up, once: from the generator's `finally`, or after the answer if it never ran."""
        if ex.ended:
            return
        ex.ended = True
        if not ex.status:  # closed from outside (the generator abandoned or never started): the client went away
            ex.status, ex.error = 499, ex.error or "client went away"
        resp.release()
        self.lifecycle.untrack(id(ex))
        self.released()
        self.metrics.active_streams.dec()
        self.finish.done(ex)

    async def events(self, ex: Exchange, reader: Reader, stream: Stream, sent: float):
        """Client events, one list per upstream read; ends with an error event if the upstream breaks."""
        decoder = reader.decoder
        pack = stream.pack.name
        events_in = self._events_counted(pack, "in")
        events_out = self._events_counted(pack, "out")
        if ex.first_byte_ms is not None:  # read ahead by `first_events`
            self._ttfb(pack).observe(ex.first_byte_ms / 1000)
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
                            # `timeout`, not `wait_for`: no task per read, and no loop round trip
                            # when the next chunk is already there.
                            async with asyncio.timeout(self.keepalive):
                                chunk = await reader.chunks.__anext__()
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
                    self._ttfb(pack).observe(ex.first_byte_ms / 1000)
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

    async def aggregate(self, ex, reader: Reader, headers: list, pipeline: Pipeline, stream: Stream, sent) -> Answer:
        """force_stream for a client that asked for one body: read the whole stream, answer once."""
        events: list = []
        try:
            async for out in self.events(ex, reader, stream, sent):
                events.extend(out)
        finally:
            reader.resp.release()
        return self.finish.ok(ex, orjson.dumps(pipeline.aggregate(events)), headers)
