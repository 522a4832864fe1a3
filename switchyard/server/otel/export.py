"""The export thread: finished requests' spans in batches, metrics on an interval, to the OTLP/HTTP endpoints.

The event loop only appends a finished request to a deque (`Exporter.add`, bounded by
`OTEL_BSP_MAX_QUEUE_SIZE`: when the collector is slow, requests are dropped from telemetry, never
delayed). This thread wakes every `OTEL_BSP_SCHEDULE_DELAY` (or when a batch is full), encodes the
spans (`wire.py`) and POSTs them; every `OTEL_METRIC_EXPORT_INTERVAL` it POSTs the metrics. A failed
export is dropped and logged (at most one line a minute): telemetry never retries at the expense of
the requests it describes. `close` sends what is left, once, within the export timeout.

Design choice: a plain thread and `http.client` on a kept connection, not the event loop and
aiohttp: an export (a collector that is slow, unreachable or answering 503) must never take the
loop's time, and the thread holds the GIL only while it encodes.
"""

from __future__ import annotations

import gzip
import http.client
import logging
import threading
import time
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
        # Kept connections to the collector, made by the thread: an export is one request on a warm socket.
        self._connections: dict[tuple, http.client.HTTPConnection] = {}

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
        parts = urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        try:
            for attempt in (1, 2):
                connection, reused = self._connection(parts)
                try:
                    connection.request("POST", target or "/", body=data, headers=head)
                    resp = connection.getresponse()
                    resp.read()
                    break
                except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                    self._drop(parts)
                    if not reused or attempt == 2:  # a kept connection the collector closed: one more try
                        raise
            if resp.status >= 300:
                raise OSError(f"HTTP {resp.status}")
        except (OSError, http.client.HTTPException, ValueError) as exc:
            self._drop(parts)
            now = time.monotonic()
            if now - self._last_warning > 60:
                self._last_warning = now
                log.warning("telemetry: export to %s failed (%s); dropped, and so are later failures' for a minute",
                            parts.hostname, exc)  # fmt: skip

    def _connection(self, parts) -> tuple[http.client.HTTPConnection, bool]:
        """The kept connection to the collector (one per host), or a new one."""
        key = (parts.scheme, parts.netloc)
        found = self._connections.get(key)
        if found is not None:
            return found, True
        kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        # Never the URL's user info: the host and port only (a proxy from the environment is not used either).
        made = self._connections[key] = kind(parts.hostname or "", parts.port, timeout=self.config.timeout)
        return made, False

    def _drop(self, parts) -> None:
        connection = self._connections.pop((parts.scheme, parts.netloc), None)
        if connection is not None:
            connection.close()
