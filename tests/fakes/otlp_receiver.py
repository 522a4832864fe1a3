"""A real OTLP/HTTP receiver, as a collector is one: protobuf in (gzip or not), decoded with opentelemetry-proto.

It accepts `POST /v1/traces` and `POST /v1/metrics` with `Content-Type: application/x-protobuf`,
refuses anything else (415 for another content type, 400 for bytes that do not decode), and
answers the export response message, as the OTLP specification has it. What arrived is kept
decoded (`spans`, `metrics`) and raw (`bodies`, to search for what must never be sent).
"""

from __future__ import annotations

import asyncio
import gzip

from aiohttp import web
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue


class OTLPReceiver:
    def __init__(self) -> None:
        self.spans: list = []  # every Span received, in order
        self.resources: list[dict] = []  # the resource attributes of each export
        self.schemas: list[str] = []
        self.metrics: list = []  # every Metric received, in order
        self.bodies: list[bytes] = []  # every export, as the bytes that arrived (decompressed)
        self.headers: list[dict] = []
        self.app = web.Application()
        self.app.router.add_post("/v1/traces", self._traces)
        self.app.router.add_post("/v1/metrics", self._metrics)

    async def _read(self, request: web.Request, message):
        if request.content_type != "application/x-protobuf":
            raise web.HTTPUnsupportedMediaType(text="OTLP/HTTP here takes application/x-protobuf")
        data = await request.read()
        if request.headers.get("Content-Encoding") == "gzip":
            data = gzip.decompress(data)
        self.bodies.append(data)
        self.headers.append(dict(request.headers))
        decoded = message()
        try:
            decoded.ParseFromString(data)
        except Exception as exc:
            raise web.HTTPBadRequest(text=f"not an OTLP message: {exc}") from None
        return decoded

    async def _traces(self, request: web.Request) -> web.Response:
        export = await self._read(request, ExportTraceServiceRequest)
        for resource_spans in export.resource_spans:
            self.resources.append(attributes(resource_spans.resource.attributes))
            self.schemas.append(resource_spans.schema_url)
            for scope_spans in resource_spans.scope_spans:
                self.spans.extend(scope_spans.spans)
        return web.Response(
            body=ExportTraceServiceResponse().SerializeToString(), content_type="application/x-protobuf"
        )

    async def _metrics(self, request: web.Request) -> web.Response:
        export = await self._read(request, ExportMetricsServiceRequest)
        for resource_metrics in export.resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                self.metrics.extend(scope_metrics.metrics)
        body = ExportMetricsServiceResponse().SerializeToString()
        return web.Response(body=body, content_type="application/x-protobuf")

    async def wait_spans(self, predicate, timeout: float = 10.0) -> list:
        """The spans received, once `predicate(spans)` holds (AssertionError after `timeout` seconds)."""
        for _ in range(int(timeout / 0.05)):
            if predicate(self.spans):
                return self.spans
            await asyncio.sleep(0.05)
        raise AssertionError(f"spans never satisfied the test; received: {[s.name for s in self.spans]}")


def value(v: AnyValue):
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [value(x) for x in v.array_value.values]
    return getattr(v, kind) if kind else None


def attributes(kvs) -> dict:
    return {kv.key: value(kv.value) for kv in kvs}
