"""Logging set-up: one line per event, as text for people or JSON for log pipelines.

The proxy logs one line per request with its fields in `extra={"fields": {...}}`; the formatter
renders them as `key=value` pairs or as a JSON object. Nothing that reaches a formatter carries a
key or a header value: the proxy only ever passes the fields it chose, so secrets cannot leak by
accident through a generic "log the request" call.
"""

from __future__ import annotations

import logging
import sys
import time

import orjson


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", None)
        head = f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(record.created))}Z {record.levelname.lower()} "
        text = head + record.getMessage()
        if fields:
            text += " " + " ".join(f"{k}={_text(v)}" for k, v in fields.items() if v is not None)
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if fields:
            out.update(fields)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(out, default=str).decode()


def _text(value: object) -> str:
    text = str(value)
    return f'"{text}"' if (" " in text or not text) else text


def setup_logging(fmt: str = "text", level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's own loggers go through the same handler and format
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
