"""The export thread: finished requests' spans in batches, metrics on an interval, to the OTLP/HTTP endpoints.

The event loop only appends a finished request to a deque (`Exporter.add`, bounded by
`OTEL_BSP_MAX_QUEUE_SIZE`: when the collector is slow, requests are dropped from telemetry, never
delayed). This thread wakes every `OTEL_BSP_SCHEDULE_DELAY` (or when a batch is full), encodes the
spans (`wire.py`) and POSTs them; every `OTEL_METRIC_EXPORT_INTERVAL` it POSTs the metrics. A failed
export is dropped and logged (at most one line a minute): telemetry never retries at the expense of
the requests it describes. `close` sends what is left, once, within the export timeout.

Design choice: a plain thread and `urllib`, not the event loop and aiohttp: an export (a collector
that is slow, unreachable or answering 503) must never take the loop's time, and the thread holds
the GIL only while it encodes.
"""

from __future__ import annotations

import gzip
import logging
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable
from urllib.parse import urlsplit

log = logging.getLogger("switchyard")


class Exporter:
    def __init__(
        self,
        config,
        encode_spans: Callable[[list], bytes] | None,
        encode_metrics: Callable[[], bytes | None] | None,
    ):
        self.config = config
        self.encode_spans = encode_spans
        self.encode_metrics = encode_metrics
        self.queue: deque = deque()
        self.dropped = 0
        self._wake = threading.Event()
        self._stop = False
        self._thread: threading.Thread | None = None
        self._last_warning = 0.0
        self._next_metrics = time.monotonic() + config.metric_interval
        # No proxy from the environment: a collector is reached directly (HTTP_PROXY is for upstreams).
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="switchyard-otel", daemon=True)
            self._thread.start()

    def add(self, item) -> None:
        """A finished request's spans (the event loop's only call): appended, or dropped when the queue is full."""
        queue = self.queue
        if len(queue) >= self.config.max_queue:
            self.dropped += 1
            return
        queue.append(item)
        if len(queue) == self.config.max_batch:
            self._wake.set()

    def close(self) -> None:
        """Export what is left and stop the thread (at shutdown)."""
        self._stop = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(self.config.timeout * 2 + 1)
            self._thread = None
        else:
            self._flush(final=True)

    def _run(self) -> None:
        while not self._stop:
            now = time.monotonic()
            wait = min(self.config.schedule_delay, max(0.0, self._next_metrics - now))
            self._wake.wait(wait)
            self._wake.clear()
            self._flush(final=False)
        self._flush(final=True)

    def _flush(self, final: bool) -> None:
        try:
            if self.encode_spans is not None:
                while self.queue:
                    batch = [self.queue.popleft() for _ in range(min(len(self.queue), self.config.max_batch))]
                    self._post(self.config.traces_url, self.config.traces_headers, self.encode_spans(batch))
            if self.encode_metrics is not None and (final or time.monotonic() >= self._next_metrics):
                self._next_metrics = time.monotonic() + self.config.metric_interval
                data = self.encode_metrics()
                if data is not None:
                    self._post(self.config.metrics_url, self.config.metrics_headers, data)
        except Exception:  # a bug here must cost telemetry, never the process
            log.exception("telemetry export failed")

    def _post(self, url: str, headers: dict, data: bytes) -> None:
        head = {"Content-Type": "application/x-protobuf", **headers}
        if self.config.gzip:
            data, head["Content-Encoding"] = gzip.compress(data, 5), "gzip"
        request = urllib.request.Request(url, data=data, headers=head, method="POST")
        try:
            with self._opener.open(request, timeout=self.config.timeout) as resp:
                resp.read()
        except (urllib.error.URLError, OSError, ValueError) as exc:
            now = time.monotonic()
            if now - self._last_warning > 60:
                self._last_warning = now
                reason = getattr(exc, "reason", None) or exc
                where = urlsplit(url).hostname  # never the URL's user info or query
                log.warning("telemetry: export to %s failed (%s); dropped, and so are later failures' for a minute",
                            where, reason)  # fmt: skip
