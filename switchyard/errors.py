"""Every exception Switchyard raises on purpose, in one module, as one tree.

    SwitchyardError
    ├── PackError          a rule pack cannot load: every Problem of a set of files, FILE:LINE:COLUMN each
    ├── SyntaxProblem      a piece of a pack does not parse (its `column` says where)
    │   ├── ExpressionError    a JMESPath expression
    │   └── PathError          a step PATH
    ├── StepError          a compiled step failed on a body; names pack, file and step, never the data
    ├── ClientFacing       something the client is answered with: `message`, `status`, `type`, `code`, `param`
    │   ├── RequestError       the request is refused (4xx)
    │   │   └── Rejected           by a pack's `reject` step
    │   └── UpstreamError      the upstream failed: unreachable, too slow, cut, or it said so (5xx, or
    │       │                  the status its own error code implies)
    │       └── UpstreamFailed     the upstream reported the failure itself (in a body or a stream)
    ├── SSEError           an event stream cannot be decoded safely (a line or event over the limit)
    └── UsageError         a command-line mistake or unreadable input (exit code 2)

Design, after httpx: the tree says who is at fault and who handles it, so a caller catches exactly
the concern it handles. An exception carries facts (a message, a status, the fields of an error),
never a wire shape: the *client's* protocol renders a `ClientFacing` error in its own error body
(`switchyard.protocols`), so the same refusal is an OpenAI error for Codex and an Anthropic one for
Claude Code. Messages never quote request bodies or secrets.
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


class SyntaxProblem(SwitchyardError):
    """A piece of a pack does not parse; `column` is the 0-based offset of the problem in its text."""

    def __init__(self, message: str, column: int = 0):
        super().__init__(message)
        self.column = column


class ExpressionError(SyntaxProblem):
    """A JMESPath expression does not parse."""


class PathError(SyntaxProblem):
    """A step PATH does not parse."""


class StepError(SwitchyardError):
    """A step failed at run time. The message names pack, file, step and the reason, never the data."""

    def __init__(self, where: str, reason: str, stage: str = "request"):
        self.where = where
        self.reason = reason
        self.stage = stage  # "request" or "response": which list of the pack the step is in
        super().__init__(f"{where}: {reason}")


class ClientFacing(SwitchyardError):
    """An error the client is answered with. The client's protocol renders it (`Protocol.render_error`)."""

    status = 500
    type = "server_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        type: str | None = None,
        param: str | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.code = code
        self.param = param
        if status is not None:
            self.status = status
        if type is not None:
            self.type = type


class RequestError(ClientFacing):
    """The proxy refuses a client request (a 4xx)."""

    status = 400
    type = "invalid_request_error"


class Rejected(RequestError):
    """A pack's `reject` step refused the request."""

    def __init__(self, message: str):
        super().__init__(message, code="rejected_by_rule")


class UpstreamError(ClientFacing):
    """The upstream failed: a 5xx unless its own code says otherwise (`UpstreamFailed`)."""

    status = 502
    type = "upstream_error"

    def __init__(self, message: str, *, code: str | None = "server_error", **fields):
        super().__init__(message, code=code, **fields)


class UpstreamFailed(UpstreamError):
    """The upstream reported a failure (in a stream or a body); made by `switchyard.protocols.failures`.

    `responses_code` is what a Responses client (Codex) is told to do about it, from the same table
    that gives `status`: stop and show the user, or retry.
    """

    def __init__(self, message: str, *, responses_code: str = "server_error", **fields):
        super().__init__(message, **fields)
        self.responses_code = responses_code


class SSEError(SwitchyardError):
    """An event stream cannot be decoded safely: one line or one event is larger than the decoder's
    `max_buffer`. The stream should be aborted; the decoder has dropped what it held."""


class UsageError(SwitchyardError):
    """A command-line mistake or unreadable input: printed as one line, exit code 2."""
