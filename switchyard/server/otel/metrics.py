"""The GenAI client metrics, aggregated in process and exported as cumulative OTLP histograms.

    gen_ai.client.token.usage                    {token}  per token type (input, output)
    gen_ai.client.operation.duration             s        a request's whole time, retries included
    gen_ai.client.operation.time_to_first_chunk  s        a stream's arrival to its first content event

Names, units, bucket boundaries and attributes as the semantic conventions (v1.41.0) give them.
Attribute sets are bounded: the operation, the provider (the pack), the request model as the
Prometheus metrics fold it (one of the pack's `models`, else `other`), the server address (the
pack's upstream host), and `error.type` for a failed operation.

Design choice: a point is recorded as a bisect and three additions on a list kept per attribute set
(about a microsecond), not through the SDK's instruments (about four each, measured): the export
thread turns the lists into `HistogramDataPoint`s.
"""

from __future__ import annotations

import bisect
import time

from switchyard.server.otel import wire

# The conventions' recommended boundaries.
TOKEN_BOUNDS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)
SECOND_BOUNDS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)

TOKEN_USAGE = ("gen_ai.client.token.usage", "Number of input and output tokens used.", "{token}", TOKEN_BOUNDS)
DURATION = ("gen_ai.client.operation.duration", "GenAI operation duration.", "s", SECOND_BOUNDS)
FIRST_CHUNK = (
    "gen_ai.client.operation.time_to_first_chunk",
    "Time to receive the first chunk of a streamed answer.",
    "s",
    SECOND_BOUNDS,
)


class Histogram:
    """One histogram's points, by attribute set (a tuple of pairs, so that it can be a dict key)."""

    __slots__ = ("bounds", "description", "name", "points", "unit")

    def __init__(self, spec: tuple):
        self.name, self.description, self.unit, self.bounds = spec
        self.points: dict[tuple, list] = {}  # attrs -> [counts..., sum, min, max]

    def record(self, value: float, attrs: tuple) -> None:
        point = self.points.get(attrs)
        if point is None:
            point = self.points[attrs] = [0] * (len(self.bounds) + 1) + [0.0, value, value]
        point[bisect.bisect_left(self.bounds, value)] += 1
        point[-3] += value
        if value < point[-2]:
            point[-2] = value
        elif value > point[-1]:
            point[-1] = value

    def encode(self, start: int, now: int) -> bytes | None:
        n = len(self.bounds) + 1
        points = []
        for attrs, point in list(self.points.items()):
            point = list(point)  # a copy: the loop may record meanwhile
            encoded = b"".join([wire.attribute(9, k, v) for k, v in attrs])
            points.append(wire.histogram_point(encoded, start, now, point[:n], self.bounds, *point[n:]))
        if not points:
            return None
        return wire.histogram_metric(self.name, self.description, self.unit, points)


class GenAIMetrics:
    def __init__(self) -> None:
        self.started = time.time_ns()
        self.tokens = Histogram(TOKEN_USAGE)
        self.duration = Histogram(DURATION)
        self.first_chunk = Histogram(FIRST_CHUNK)

    def encode(self) -> list[bytes]:
        now = time.time_ns()
        found = [h.encode(self.started, now) for h in (self.tokens, self.duration, self.first_chunk)]
        return [m for m in found if m is not None]
