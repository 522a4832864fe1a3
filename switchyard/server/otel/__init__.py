"""OpenTelemetry: spans and metrics over OTLP/HTTP, configured by the standard `OTEL_*` variables only.

    OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318   traces to /v1/traces, metrics to /v1/metrics
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_EXPORTER_OTLP_METRICS_ENDPOINT   one signal, full URL
    OTEL_EXPORTER_OTLP_[TRACES_|METRICS_]HEADERS / _TIMEOUT (ms) / _COMPRESSION (gzip)
    OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf (the only one spoken; another is refused with a warning)
    OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER (+ _ARG), OTEL_SDK_DISABLED,
    OTEL_TRACES_EXPORTER / OTEL_METRICS_EXPORTER=none, OTEL_BSP_SCHEDULE_DELAY, OTEL_BSP_MAX_QUEUE_SIZE,
    OTEL_BSP_MAX_EXPORT_BATCH_SIZE, OTEL_METRIC_EXPORT_INTERVAL

With no endpoint set (or `OTEL_SDK_DISABLED=true`), `from_environment` returns None without
importing anything else of this package, and every hook in the proxy is `if ex.otel is not None`:
off costs nothing. On, `telemetry.py` records each request's spans (`spans.py`) and metrics
(`metrics.py`) and a thread exports them in batches (`export.py`), as `wire.py` writes them.

The GenAI semantic conventions followed are those of semantic-conventions v1.41.0 (`SCHEMA_URL`);
they are still "development", so the version is pinned here and in docs/operations.md.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass

log = logging.getLogger("switchyard")

SCHEMA_URL = "https://opentelemetry.io/schemas/1.41.0"


@dataclass(frozen=True)
class Config:
    """What the `OTEL_*` variables ask for."""

    traces_url: str | None  # None: no spans
    metrics_url: str | None  # None: no metrics
    traces_headers: dict
    metrics_headers: dict
    timeout: float  # seconds, per export
    gzip: bool
    sampler: str
    sampler_arg: str
    schedule_delay: float  # seconds between span exports
    max_queue: int
    max_batch: int
    metric_interval: float  # seconds between metric exports
    service: dict  # resource attributes


def from_environment(bodies: bool = False, environ: Mapping[str, str] | None = None):
    """A `Telemetry` for the app when the environment asks for one, else None (and nothing imported)."""
    config = read_config(os.environ if environ is None else environ)
    if config is None:
        return None
    from switchyard.server.otel.telemetry import Telemetry  # only now: off, none of it is loaded

    return Telemetry(config, bodies)


def read_config(env: Mapping[str, str]) -> Config | None:
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    base = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    traces = _signal_url(env, "TRACES", base, "v1/traces")
    metrics = _signal_url(env, "METRICS", base, "v1/metrics")
    if env.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() == "none":
        traces = None
    if env.get("OTEL_METRICS_EXPORTER", "otlp").strip().lower() == "none":
        metrics = None
    if traces is None and metrics is None:
        return None
    protocol = env.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf").strip()
    if protocol != "http/protobuf":
        log.warning("OTEL_EXPORTER_OTLP_PROTOCOL=%s is not spoken here (http/protobuf is): no telemetry", protocol)
        return None
    return Config(
        traces_url=traces,
        metrics_url=metrics,
        traces_headers=_headers(env, "TRACES"),
        metrics_headers=_headers(env, "METRICS"),
        timeout=_number(env, "OTEL_EXPORTER_OTLP_TIMEOUT", 10000) / 1000,
        gzip=env.get("OTEL_EXPORTER_OTLP_COMPRESSION", "").strip().lower() == "gzip",
        sampler=env.get("OTEL_TRACES_SAMPLER", "parentbased_always_on").strip().lower(),
        sampler_arg=env.get("OTEL_TRACES_SAMPLER_ARG", "").strip(),
        schedule_delay=_number(env, "OTEL_BSP_SCHEDULE_DELAY", 5000) / 1000,
        max_queue=int(_number(env, "OTEL_BSP_MAX_QUEUE_SIZE", 2048)),
        max_batch=int(_number(env, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512)),
        metric_interval=_number(env, "OTEL_METRIC_EXPORT_INTERVAL", 60000) / 1000,
        service=_resource(env),
    )


def _signal_url(env: Mapping[str, str], signal: str, base: str, path: str) -> str | None:
    own = env.get(f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT", "").strip()
    if own:
        return own  # a signal's own endpoint is the whole URL
    return f"{base.rstrip('/')}/{path}" if base else None


def _headers(env: Mapping[str, str], signal: str) -> dict:
    """`k1=v1,k2=v2` (values URL-encoded), the signal's own list over the common one."""
    from urllib.parse import unquote

    headers = {}
    for name in ("OTEL_EXPORTER_OTLP_HEADERS", f"OTEL_EXPORTER_OTLP_{signal}_HEADERS"):
        for pair in env.get(name, "").split(","):
            key, _, value = pair.partition("=")
            if key.strip() and value.strip():
                headers[unquote(key.strip())] = unquote(value.strip())
    return headers


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    try:
        value = float(env.get(name, "") or default)
    except ValueError:
        log.warning("%s is not a number; using %g", name, default)
        return default
    return value if value > 0 else default


def _resource(env: Mapping[str, str]) -> dict:
    """The resource attributes: `OTEL_RESOURCE_ATTRIBUTES`, then `OTEL_SERVICE_NAME` over its service.name."""
    from importlib.metadata import PackageNotFoundError, version
    from urllib.parse import unquote

    try:
        own = version("switchyard")
    except PackageNotFoundError:
        own = "unknown"
    attrs: dict = {"service.name": "switchyard", "service.version": own}
    for pair in env.get("OTEL_RESOURCE_ATTRIBUTES", "").split(","):
        key, _, value = pair.partition("=")
        if key.strip() and value.strip():
            attrs[key.strip()] = unquote(value.strip())
    if env.get("OTEL_SERVICE_NAME", "").strip():
        attrs["service.name"] = env["OTEL_SERVICE_NAME"].strip()
    return attrs
