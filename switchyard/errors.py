"""Exceptions, one base per concern, and the OpenAI error body every client protocol shares.

Four things can go wrong in Switchyard and each has its own base class, so callers catch exactly
the concern they handle:

- `PackError`: a rule pack cannot load (found at start-up, on reload, or by `switchyard check`).
  It carries every problem of a set of files at once, each with FILE:LINE:COLUMN.
- `StepError`: a compiled step failed while running on a body (a JMESPath type error, say).
  It names the pack, the file and the step, never the body's content.
- `RequestError`: the client's request is refused (a `reject` step, a body the bridge cannot
  translate). It carries an HTTP status and the fields of the OpenAI error shape.
- `UpstreamError`: the upstream failed: unreachable, too slow, cut mid-body, or it answered with
  a failure inside a 200 or a stream. Same fields; the status says whose fault it is (502, 504,
  or the status the upstream's own error code implies).

Both OpenAI protocols use the same error body, `{"error": {"message", "type", "param", "code"}}`,
so one function builds it for every response the proxy makes up itself.
"""

from __future__ import annotations

from dataclasses import dataclass


class SwitchyardError(Exception):
    """Root of every exception Switchyard raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One problem in a pack file, at the key or value it is about (1-based line and column)."""

    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class PackError(SwitchyardError):
    """One or more pack files cannot be loaded; `problems` lists all of them, in file order."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems, key=lambda p: (p.file, p.line, p.column))
        super().__init__("\n".join(str(p) for p in self.problems))


class StepError(SwitchyardError):
    """A step failed at run time. The message names pack, file, step and the reason, never the data."""

    def __init__(self, where: str, reason: str, stage: str = "request"):
        self.where = where
        self.reason = reason
        self.stage = stage  # "request" or "response": which list of the pack the step is in
        super().__init__(f"{where}: {reason}")


class RequestError(SwitchyardError):
    """The proxy refuses a client request; rendered with `error_body` and `status`."""

    status = 400
    type = "invalid_request_error"

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code
        if status is not None:
            self.status = status

    def body(self) -> dict:
        return error_body(self.message, self.type, self.param, self.code)


class UpstreamError(SwitchyardError):
    """The upstream failed; `status` and `body()` are what the client gets (a 5xx unless its code says otherwise)."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None = "server_error",
        status: int = 502,
        type: str = "upstream_error",
        param: str | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.type = type
        self.param = param

    def body(self) -> dict:
        return error_body(self.message, self.type, self.param, self.code)


class Rejected(RequestError):
    """A pack's `reject` step refused the request."""

    def __init__(self, message: str):
        super().__init__(message, code="rejected_by_rule")


def error_body(
    message: str, type: str = "invalid_request_error", param: str | None = None, code: str | None = None
) -> dict:
    """The error object both OpenAI protocols use, for errors the proxy makes up itself."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}}
