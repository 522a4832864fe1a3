"""Logging set-up: one line per event, as text for people or JSON for log pipelines.

The proxy logs one line per request with its fields in `extra={"fields": {...}}`; the formatter
renders them as `key=value` pairs or as a JSON object. Nothing that reaches a formatter carries a
key or a header value: the proxy only ever passes the fields it chose, so secrets cannot leak by
accident through a generic "log the request" call.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import re
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


class AccessLog:
    """The per-request line, written straight to the handler's stream.

    It is the one log call on the hot path, so it skips what `logging` does per call (a LogRecord,
    the caller's frame lookup, handler locks) and writes the same line the formatters above would:
    about 8 µs less per request. It follows the logging configuration: same format, same stream,
    and silent when the `switchyard.access` logger is above INFO.

    Lines are written together, `FLUSH_AFTER` seconds after the first of them: a write is a system
    call, and under load one per request was the dearest part of a line (measured with `make bench`,
    about a tenth of the proxy's CPU per small request, more than making the line). So a line reaches
    the log at most 10 ms after its request ended, and the lines not yet written are written at exit.
    """

    def __init__(self) -> None:
        self.json = False
        self.stream = sys.stderr
        self.threshold = logging.INFO
        self._second, self._stamp = -1, ""
        self._pending: list[tuple[float, str, dict]] = []  # (time, level, fields) of the lines not yet written
        self._worker: dict = {}  # `{"worker": pid}` in a worker of `serve --workers N` (N > 1), else empty
        self._worker_text = ""

    def configure(self, fmt: str, stream, threshold: int) -> None:
        self.json, self.stream, self.threshold = fmt == "json", stream, threshold

    def in_worker(self, pid: int) -> None:
        """Every line from now on says which worker process wrote it (`worker=PID`, last on the line).

        Only `serve --workers N` calls it, in each worker: with one process the lines stay as they
        were. The pid is the one the supervisor's log lines and `/-/rules` give for that worker, and a
        replaced worker's successor has another, so a line tells the incarnation apart too.
        """
        self._worker, self._worker_text = {"worker": pid}, f" worker={pid}"

    def wants(self, level: str) -> bool:
        """Whether a line at `level` is written (the caller need not build one otherwise)."""
        return _LEVELS[level] >= self.threshold

    def __call__(self, fields: dict, level: str = "info") -> None:
        # info: served; warning: a 4xx/5xx or a stream that ended in an error; error: a pack's step failed.
        if _LEVELS[level] < self.threshold:
            return
        # The line is made when it is written, with the others of its batch (`flush`): made together,
        # lines cost less than each made among its request's other work.
        self._pending.append((time.time(), level, fields))
        if len(self._pending) == 1:
            try:
                asyncio.get_running_loop().call_later(FLUSH_AFTER, self.flush)
            except RuntimeError:  # no loop (a command, a test): at once
                self.flush()
        elif len(self._pending) >= FLUSH_LINES:
            self.flush()

    def flush(self) -> None:
        """Make and write the lines logged since the last write, in one write."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        make = self._json_line if self.json else self._text_line
        text = "\n".join([make(now, level, fields) for now, level, fields in pending]) + "\n"
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # a closed or full stderr must not fail requests
            pass

    def _stamp_of(self, now: float) -> str:
        second = int(now)
        if second != self._second:  # one strftime a second, not one a line
            self._second, self._stamp = second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return self._stamp

    def _json_line(self, now: float, level: str, fields: dict) -> str:
        ts = f"{self._stamp_of(now)}.{int(now % 1 * 1000):03d}Z"
        head = {"ts": ts, "level": level, "logger": "switchyard.access", "msg": "request"}
        return orjson.dumps({**head, **fields, **self._worker}, default=str).decode()

    def _text_line(self, now: float, level: str, fields: dict) -> str:
        words = [f"{k}={v}" if type(v) in _BARE else f"{k}={_word(v)}" for k, v in fields.items() if v is not None]
        return f"{self._stamp_of(now)}Z {level} request " + " ".join(words) + self._worker_text


# How long a line may wait for others to go out with it, and how many may wait at most.
FLUSH_AFTER = 0.01
FLUSH_LINES = 512
_LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
# Values whose text is always one plain word (most fields of a line): no check needed.
_BARE = frozenset({int, float, bool})
access_log = AccessLog()


def _word(value: object) -> str:
    """`_text`, remembered for the strings that come back on every line (pack, protocol and model names)."""
    text = _WORDS.get(value) if type(value) is str else None
    if text is None:
        text = _text(value)
        if type(value) is str and len(_WORDS) < 1024 and len(value) <= 64:
            _WORDS[value] = text
    return text


_WORDS: dict[str, str] = {}


def _text(value: object) -> str:
    # Quoted (JSON string escapes) whenever a value could be mistaken for more fields or another
    # line: a client-chosen model name with a newline must not forge a log line. Numbers, booleans
    # and plain words (most values) go as they are, found with one regex search.
    if type(value) is not str:
        value = str(value)
    if value and value.isprintable() and not _SPECIAL.search(value):
        return value
    return orjson.dumps(value).decode()


# Characters that would end a value early or start another field.
_SPECIAL = re.compile(r'[ "=\\]')


def setup_logging(fmt: str = "text", level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    access_log.configure(fmt, handler.stream, logging.getLogger("switchyard.access").getEffectiveLevel())
    atexit.register(access_log.flush)  # the lines of the last turn of the loop, whatever way the process ends
    # uvicorn's own loggers go through the same handler and format
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
