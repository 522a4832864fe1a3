"""An OTLP/HTTP endpoint that takes every export and keeps nothing: the collector of `bench_otel`.

    uvicorn bench.otlp_sink:app --port N

It answers `POST /v1/traces` and `/v1/metrics` with the empty export response (a message with no
fields is zero bytes) and counts the bytes it was sent, for the benchmark's report (`GET /`).
"""

from __future__ import annotations

received = {"exports": 0, "bytes": 0}


async def app(scope, receive, send) -> None:
    if scope["type"] != "http":
        return
    size = 0
    more = True
    while more:
        message = await receive()
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    if scope["method"] == "POST":
        received["exports"] += 1
        received["bytes"] += size
        body, kind = b"", b"application/x-protobuf"
    else:
        body, kind = f'{{"exports": {received["exports"]}, "bytes": {received["bytes"]}}}'.encode(), b"application/json"
    headers = [(b"content-type", kind), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
