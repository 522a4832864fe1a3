"""Prometheus metrics of one server, in a registry of its own.

With `serve --workers N` the values live in prometheus-client's multiprocess files and every
worker's `/metrics` sums them (`switchyard.server.workermetrics`); the gauges below say how their
workers' values combine (`multiprocess_mode`, unused by one process).

Each app gets its own `CollectorRegistry` rather than the process-wide default, so that tests can
build several apps in one process and a library embedding Switchyard does not collide with its
host's metrics. Labels are pack names, protocols and status codes, and models from the packs'
`models` lists: never a model string a client chose (unbounded cardinality; `OTHER_MODEL` instead)
and never anything from a header (secrets).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

# Buckets for a proxy hop in front of LLMs: sub-millisecond to minutes.
_LATENCY = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)

# Buckets for a stream's output tokens per second: a slow local model to a fast hosted one.
_RATE = (1, 2.5, 5, 10, 20, 30, 50, 75, 100, 150, 200, 300, 500, 1000, 2500)
# The `model` label of a model not in its pack's `models` (a client's string is not a label value).
OTHER_MODEL = "other"


class Metrics:
    """Every metric of one server, registered in that server's own registry."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.requests = Counter(
            "switchyard_requests",
            "Requests served, by pack, client protocol, upstream protocol and HTTP status.",
            ["pack", "client", "upstream", "status"],
            registry=r,
        )
        self.request_duration = Histogram(
            "switchyard_request_duration_seconds",
            "Time from a request's arrival to its last byte sent.",
            ["pack", "client"],
            buckets=_LATENCY,
            registry=r,
        )
        self.upstream_latency = Histogram(
            "switchyard_upstream_latency_seconds",
            "Time from sending the upstream request to its response headers.",
            ["pack"],
            buckets=_LATENCY,
            registry=r,
        )
        self.upstream_ttfb = Histogram(
            "switchyard_upstream_first_byte_seconds",
            "Time from sending the upstream request to the first byte of its body.",
            ["pack"],
            buckets=_LATENCY,
            registry=r,
        )
        self.stream_events = Counter(
            "switchyard_stream_events",
            "Stream events processed: upstream events read (in) and client events sent (out).",
            ["pack", "direction"],
            registry=r,
        )
        self.step_errors = Counter(
            "switchyard_step_errors", "Steps that failed at run time, by pack and list.", ["pack", "stage"], registry=r
        )
        self.upstream_errors = Counter(
            "switchyard_upstream_errors",
            "Upstream calls that failed without an HTTP answer (unreachable, timeout, cut mid-stream).",
            ["pack", "kind"],
            registry=r,
        )
        self.upstream_http_errors = Counter(
            "switchyard_upstream_http_errors",
            "Upstream answers with an HTTP error status, by pack and the upstream's own status.",
            ["pack", "status"],
            registry=r,
        )
        self.failed_streams = Counter(
            "switchyard_failed_streams",
            "Streams answered 200 that ended in an error event, by pack and whose failure: upstream, step or proxy.",
            ["pack", "client", "source"],
            registry=r,
        )
        self.retries = Counter(
            "switchyard_upstream_retries",
            "Upstream calls that failed before the client saw anything and were followed by another call "
            "(a retry or a fallback), by pack and why: unreachable, timeout, 429, 502, 503, 504, 529, stream_cut, ...",
            ["pack", "reason"],
            registry=r,
        )
        self.upstream_calls = Counter(
            "switchyard_upstream_calls",
            "Upstream calls made, by pack, endpoint index and key index (never the key itself).",
            ["pack", "endpoint", "key"],
            registry=r,
        )
        self.rests = Counter(
            "switchyard_upstream_rests",
            "Times an endpoint or a key was put to rest, by pack, endpoint index and key index ('-': the endpoint).",
            ["pack", "endpoint", "key"],
            registry=r,
        )
        self.rate_limited = Counter(
            "switchyard_rate_limited",
            "Requests refused with 429 for a pack's limits, by pack and limit (per client or per pack).",
            ["pack", "per"],
            registry=r,
        )
        self.rate_limit_store_errors = Counter(
            "switchyard_rate_limit_store_errors",
            "Limit checks the rate-limit store (Redis) failed to answer; see --rate-limit-on-store-error.",
            registry=r,
        )
        self.tokens = Counter(
            "switchyard_tokens",
            "Tokens of the answers clients received, by pack, model (one of the pack's `models`, else other) "
            "and type: input (cached included), output (reasoning included), cached, reasoning, cache_written; "
            "client: the client token's name (empty without client tokens).",
            ["pack", "model", "type", "client"],
            registry=r,
        )
        self.time_to_first_token = Histogram(
            "switchyard_time_to_first_token_seconds",
            "Time from a streamed request's arrival to the first content event (text, reasoning, tool call) "
            "sent to its client.",
            ["pack"],
            buckets=_LATENCY,
            registry=r,
        )
        self.output_tokens_per_second = Histogram(
            "switchyard_output_tokens_per_second",
            "A stream's output tokens divided by the time from its first content event to its end.",
            ["pack"],
            buckets=_RATE,
            registry=r,
        )
        self.reloads = Counter("switchyard_reloads", "Rule reloads by result.", ["result"], registry=r)
        self.last_reload_ok = Gauge(
            "switchyard_last_reload_success",
            "1 when the last reload (or the start-up load) succeeded, else 0.",
            registry=r,
            multiprocess_mode="livemostrecent",
        )
        self.last_reload_time = Gauge(
            "switchyard_last_reload_timestamp_seconds",
            "When the last reload was tried (Unix time).",
            registry=r,
            multiprocess_mode="livemostrecent",
        )
        self.active_streams = Gauge(
            "switchyard_active_streams", "Streams in flight.", registry=r, multiprocess_mode="livesum"
        )
        self.packs = Gauge(
            "switchyard_packs_loaded", "Packs in the running rule set.", registry=r, multiprocess_mode="livemostrecent"
        )
        self.packs_left_out = Gauge(
            "switchyard_packs_left_out",
            "Pack files left out of the running set for their problems (--partial).",
            registry=r,
            multiprocess_mode="livemostrecent",
        )
        for result in ("success", "failure"):
            self.reloads.labels(result)  # present at 0 from the start, so alerts can use rate()

    def render(self) -> bytes:
        return generate_latest(self.registry)


class Bound:
    """One metric's children by their label values, looked up in a dict on the hot path.

    `metric.labels(...)` validates, converts and takes a lock on every call; the child it returns
    is the same object each time, so it is asked once per set of values. Values may be given as
    anything `labels()` turns into text (a status as an int).
    """

    __slots__ = ("children", "metric")

    def __init__(self, metric) -> None:
        self.metric = metric
        self.children: dict[tuple, object] = {}

    def __call__(self, *values):
        child = self.children.get(values)
        if child is None:
            child = self.children[values] = self.metric.labels(*values)
        return child
