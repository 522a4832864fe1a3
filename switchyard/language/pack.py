"""Compiling one pack file into a frozen `Pack`: validated once, applied many times.

`compile_pack(doc)` checks the document against its shape (`switchyard.language.shape`), interpolates `${VAR}` under
`upstream`, compiles `match`, every step and every test case, and collects *all* problems with
their positions before giving up, so an ops engineer fixes a file in one pass.

A compiled step is a closure: the action's `run`, guarded by its `match` when it has one, and
wrapped so that a failure at run time becomes a `StepError` naming file, line, list, step number
and action (`rules/x.yaml:12:7: request step 3 (rename): ...`). Nested steps are numbered with
dots (`step 2.1`). Nothing is parsed or looked up by name when a step runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from jmespath.exceptions import JMESPathError, JMESPathTypeError

from switchyard.errors import Problem, StepError
from switchyard.language.actions import ACTIONS, ARGS, STEP_EXTRA_KEYS
from switchyard.language.expressions import Expression, ExpressionError, compile_expression, truthy
from switchyard.language.loader import Document, interpolate
from switchyard.language.paths import Path, PathError, compile_path
from switchyard.language.shape import pack_shape
from switchyard.language.validate import unknown_key

DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 600.0
MAX_RETRIES = 10


DEFAULT_REST_AFTER = 3
DEFAULT_REST_FOR = 30.0


@dataclass(frozen=True)
class Endpoint:
    """One of `upstream.endpoints` (or the one `upstream.url` makes): its URL, weight and own keys."""

    url: str
    weight: float = 1.0
    api_keys: tuple[str, ...] = field(default=(), repr=False)  # empty: the pack's keys (`upstream.api_key`)


@dataclass(frozen=True)
class Upstream:
    """Where a pack's requests go and how: URL, protocol, credentials, headers, streaming, timeouts.

    `url` and `api_key` are the first endpoint's and the first key: what a pack with one of each uses,
    and what every call is made with after the server's pool (`switchyard.server.pool`) has put in
    the endpoint and key it chose.
    """

    url: str
    protocol: str
    api_key: str = field(default="", repr=False)  # never printed: repr, logs and /-/rules leave it out
    api_keys: tuple[str, ...] = field(default=(), repr=False)  # the pack's keys, in turn (`api_key: [...]`)
    endpoints: tuple[Endpoint, ...] = ()  # at least one once compiled
    affinity: Expression | None = field(default=None, compare=False)  # its text is in `affinity_source`
    affinity_source: str = ""
    rest_after: int = DEFAULT_REST_AFTER  # consecutive failures before an endpoint rests
    rest_for: float = DEFAULT_REST_FOR  # seconds a key or endpoint rests when no Retry-After says
    rest_given: bool = False  # `rest:` written: a pack with one endpoint and one key rests only then
    headers: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), repr=False)
    force_stream: bool = False
    forward_client_auth: bool = True  # without an api_key, the client's own credentials go upstream
    retries: int = 0  # calls retried while nothing reached the client (switchyard.server.attempts)
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    read_timeout: float = DEFAULT_READ_TIMEOUT


@dataclass(frozen=True)
class Limit:
    """One `limits:` entry: per client or for the whole pack, in requests and tokens per minute."""

    per: str  # "client" or "pack"
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None


@dataclass(frozen=True)
class Fallback:
    """One `fallback:` entry: the pack to try next, with the model to ask it for (None: the client's)."""

    pack: str
    model: str | None
    line: int
    column: int


@dataclass(frozen=True)
class Step:
    """One compiled top-level step: `run(node)` changes the node in place; `where` names it in errors."""

    number: str
    action: str
    where: str  # "FILE:LINE:COL: request step N (action)"
    run: Callable[[Any], None]
    match: Expression | None = None  # kept for `apply --explain`, which tells whether a step ran


@dataclass(frozen=True)
class Case:
    """One `tests:` entry of a pack."""

    name: str
    line: int
    client: str
    stage: str
    input: Any
    expect: Any = None
    has_expect: bool = False
    includes: Any = None
    has_includes: bool = False
    excludes: tuple[Path, ...] = ()


@dataclass(frozen=True)
class Pack:
    """One compiled pack file: immutable, shared by every request that selects it, safe across reloads."""

    name: str
    file: str
    match: Expression
    upstream: Upstream
    description: str = ""
    priority: int = 0
    models: tuple[str, ...] = ()
    request: tuple[Step, ...] = ()
    response: tuple[Step, ...] = ()
    tests: tuple[Case, ...] = ()
    digest: str = ""
    fallback: tuple[Fallback, ...] = ()
    limits: tuple[Limit, ...] = ()
    # Where things stand in the file, for warnings that point at them (`switchyard.lint`): (line, column).
    models_at: tuple[tuple[int, int], ...] = field(default=(), compare=False)
    match_at: tuple[int, int] = field(default=(1, 1), compare=False)

    def matches(self, body: Any) -> bool:
        # A match that errors on an odd body (say `starts_with(model, 'x')` with no model) is a
        # non-match, not a failure: one pack's expression must not break routing for all others.
        try:
            return truthy(self.match.evaluate(body))
        except JMESPathError:
            return False

    def run_request(self, body: Any) -> Any:
        for step in self.request:
            step.run(body)
        return body

    def run_response(self, event: Any) -> Any:
        for step in self.response:
            step.run(event)
        return event


class Compiler:
    """Turns the raw parts of one document into compiled objects, reporting problems with positions."""

    def __init__(self, doc: Document, problems: list[Problem]):
        self.doc = doc
        self.problems = problems
        self.stage = "request"
        self.at: tuple = ()
        self._step: tuple[dict, tuple, str, Expression | None] | None = None

    def error(self, at: tuple, message: str, key: bool = False, column_offset: int = 0) -> None:
        line, column = self.doc.position(at, key=key)
        self.problems.append(Problem(self.doc.file, line, column + column_offset, self.doc.redact(message)))

    def path(self, text: Any, at: tuple, key: bool = False) -> Path | None:
        try:
            return compile_path(text)
        except PathError as exc:
            table = self.doc.keys if key else self.doc.values
            offset = exc.column + self.doc.quote_offset(at, key=key) if at in table else 0
            self.error(at, f"bad path {text!r}: {exc}", key=key, column_offset=offset)
            return None

    def expr(self, text: Any, at: tuple, key: bool = False) -> Expression | None:
        if not isinstance(text, str):
            self.error(at, "expected a JMESPath expression (a string)", key=key)
            return None
        try:
            return compile_expression(text)
        except ExpressionError as exc:
            offset = 0 if key else exc.column + self.doc.quote_offset(at)
            self.error(at, str(exc), key=key, column_offset=offset)
            return None

    # -- steps

    def steps(self, value: Any, at: tuple, prefix: str = "") -> list[Callable[[Any], None]]:
        return [s.run for s in self.step_list(value, at, prefix)]

    def step_list(self, value: Any, at: tuple, prefix: str = "") -> list[Step]:
        if not isinstance(value, list):
            self.error(at, "expected a list of steps")
            return []
        if prefix == "" and self._step is not None:
            prefix = self._step[2] + "."
        out = []
        for i, item in enumerate(value):
            step = self.step(item, (*at, i), f"{prefix}{i + 1}")
            if step is not None:
                out.append(step)
        return out

    def step(self, raw: Any, at: tuple, number: str) -> Step | None:
        if not isinstance(raw, dict):
            self.error(at, f"step {number}: a step is a mapping with one action ({', '.join(ACTIONS)})")
            return None
        names = [k for k in raw if k in ACTIONS and not (k == "do" and "each" in raw)]
        unknown = [k for k in raw if k not in ACTIONS and k not in STEP_EXTRA_KEYS]
        for key in unknown:
            self.error((*at, key), f"step {number}: {unknown_key(key, [*ACTIONS, 'match'])}", key=True)
        if not names:
            if not unknown:  # a misspelt action was reported above; saying "no action" too is noise
                self.error(at, f"step {number} has no action (one of: {', '.join(ACTIONS)})")
            return None
        if len(names) > 1:
            self.error(
                (*at, names[1]), f"step {number} has two actions ({', '.join(names)}); a step has exactly one", key=True
            )
            return None
        name = names[0]
        if name == "each" and "do" not in raw:
            self.error((*at, "each"), f"step {number} (each): needs `do`, the steps to run on each element", key=True)
            return None
        where_line, where_col = self.doc.position((*at, name), key=True)
        where = f"{self.doc.file}:{where_line}:{where_col}: {self.stage} step {number} ({name})"
        arg, arg_at = raw[name], (*at, name)
        ok = ARGS[name].check(arg, arg_at, lambda a, m, key=False: self.error(a, f"step {number} ({name}): {m}", key))
        match = self.expr(raw["match"], (*at, "match")) if "match" in raw else None
        if not ok:
            return None
        saved = self.at, self._step
        self.at, self._step = arg_at, (raw, at, number, match)
        try:
            run = ACTIONS[name](arg, self)
        finally:
            self.at, self._step = saved
        guard = match.evaluate if match is not None and name != "each" else None
        return Step(number, name, where, _wrap(run, where, guard, self.stage), match if name != "each" else None)

    def do_steps(self) -> list[Callable[[Any], None]]:
        """The `do:` list of the `each` step being compiled."""
        raw, at, number, _ = self._step
        return self.steps(raw["do"], (*at, "do"), number + ".")

    def step_match(self) -> Callable[[Any], Any] | None:
        """The `match` of the `each` step being compiled, evaluated per element by `each`."""
        match = self._step[3]  # compiled (and any problem reported) once, by `step`
        return match.evaluate if match is not None else None


def _wrap(
    run: Callable[[Any], None], where: str, guard: Callable[[Any], Any] | None, stage: str
) -> Callable[[Any], None]:
    # One closure per step: the `match` guard and the error wrapping, so a step is one call deep.
    # try/except costs nothing until something raises; inner steps wrap themselves, so the
    # innermost step that failed is the one named.
    # (StepError and RequestError are SwitchyardErrors, none of the kinds below: an inner step's passes as it is.)
    def step(node: Any) -> None:
        try:
            if truthy(guard(node)):
                run(node)
        except _FAILURES as exc:
            raise _step_error(exc, where, stage) from None

    def unguarded(node: Any) -> None:  # the same without a `match`: one test less on every chunk
        try:
            run(node)
        except _FAILURES as exc:
            raise _step_error(exc, where, stage) from None

    return step if guard is not None else unguarded


# What a step's own work may raise on a body it does not fit: reported as that step's error.
_FAILURES = (JMESPathError, TypeError, ValueError, AttributeError, KeyError, IndexError, RecursionError)


def _step_error(exc: Exception, where: str, stage: str) -> StepError:
    if isinstance(exc, JMESPathError):
        return StepError(where, describe_jmespath_error(exc), stage)
    return StepError(where, f"{type(exc).__name__}: {exc}", stage)


def describe_jmespath_error(exc: JMESPathError) -> str:
    """The JMESPath error without the data: jmespath's own message quotes the offending value,
    which is the client's content (a key, a card number) and must not reach a response or a log."""
    if isinstance(exc, JMESPathTypeError):
        expected = " or ".join(exc.expected_types)
        return f"JMESPath error: {exc.function_name}() expected {expected}, got {exc.actual_type}"
    return f"JMESPath error: {type(exc).__name__}"


def compile_pack(
    doc: Document,
    env: Mapping[str, str] | None = None,
    protocols: tuple[str, ...] | None = None,
    placeholders: bool = False,
) -> tuple[Pack | None, list[Problem]]:
    """Compile one document; returns the pack, or None and every problem found.

    `protocols`: the protocol names `upstream.protocol` may take (None: any well-formed name).
    `placeholders`: unset `${VAR}`s stay as visible placeholders instead of being problems.
    """
    problems: list[Problem] = []
    c = Compiler(doc, problems)
    data = doc.data
    if isinstance(data, dict) and isinstance(data.get("upstream"), dict):
        problems.extend(interpolate(doc, ("upstream",), env, placeholders))  # first, so the URL check sees the real URL
    pack_shape(protocols).check(data, (), lambda at, m, key=False: c.error(at, m, key))
    if not isinstance(data, dict):
        return None, problems
    retries = data["upstream"].get("retries") if isinstance(data.get("upstream"), dict) else None
    if type(retries) is int and not 0 <= retries <= MAX_RETRIES:
        c.error(("upstream", "retries"), f"retries must be between 0 and {MAX_RETRIES}")
    endpoints, affinity = _pool(c, data.get("upstream"))
    limits = _limits(c, data.get("limits"))
    match = c.expr(data["match"], ("match",)) if isinstance(data.get("match"), str) else None
    steps = {}
    for stage in ("request", "response"):
        c.stage = stage
        steps[stage] = tuple(c.step_list(data[stage], (stage,))) if isinstance(data.get(stage), list) else ()
    tests = _cases(c, data.get("tests"))
    if problems:
        return None, problems
    up = data["upstream"]
    timeout = up.get("timeout") or {}
    keys = _keys(up.get("api_key"))
    rest = up.get("rest") or {}
    upstream = Upstream(
        url=endpoints[0].url,
        protocol=up["protocol"],
        api_key=(endpoints[0].api_keys or keys or ("",))[0],
        api_keys=keys,
        endpoints=endpoints,
        affinity=affinity,
        affinity_source=up.get("affinity", ""),
        rest_after=int(rest.get("after", DEFAULT_REST_AFTER)),
        rest_for=float(rest.get("for", DEFAULT_REST_FOR)),
        rest_given="rest" in up,
        headers=MappingProxyType(dict(up.get("headers") or {})),
        force_stream=bool(up.get("force_stream", False)),
        forward_client_auth=bool(up.get("forward_client_auth", True)),
        retries=int(up.get("retries", 0)),
        connect_timeout=float(timeout.get("connect", DEFAULT_CONNECT_TIMEOUT)),
        read_timeout=float(timeout.get("read", DEFAULT_READ_TIMEOUT)),
    )
    pack = Pack(
        name=data["pack"],
        file=doc.file,
        match=match,
        upstream=upstream,
        description=data.get("description", ""),
        priority=data.get("priority", 0),
        models=tuple(data.get("models") or ()),
        request=steps["request"],
        response=steps["response"],
        tests=tests,
        digest=doc.digest,
        fallback=tuple(
            Fallback(entry["pack"], entry.get("model"), *doc.position(("fallback", i, "pack")))
            for i, entry in enumerate(data.get("fallback") or ())
        ),
        limits=limits,
        models_at=tuple(doc.position(("models", i)) for i in range(len(data.get("models") or ()))),
        match_at=doc.position(("match",)),
    )
    return pack, problems


def _keys(raw: Any) -> tuple[str, ...]:
    """`api_key` as a tuple: one key, a list of keys, or none (an empty `${VAR:-}` is no key)."""
    items = raw if isinstance(raw, list) else [raw]
    return tuple(k for k in items if isinstance(k, str) and k)


def _pool(c: Compiler, up: Any) -> tuple[tuple[Endpoint, ...], Expression | None]:
    """`url` or `endpoints` (exactly one), `affinity` compiled once, `rest` in range."""
    if not isinstance(up, dict):
        return (), None
    if "url" in up and "endpoints" in up:
        line, column = c.doc.position(("upstream", "url"), key=True)
        c.error(
            ("upstream", "endpoints"),
            f"`url` ({c.doc.file}:{line}:{column}) and `endpoints` are exclusive: "
            "give one endpoint as `url`, or several as `endpoints`",
            key=True,
        )
    elif "url" not in up and "endpoints" not in up:
        c.error(("upstream",), "upstream needs `url` or `endpoints`", key=True)
    affinity = c.expr(up["affinity"], ("upstream", "affinity")) if isinstance(up.get("affinity"), str) else None
    rest = up.get("rest")
    if isinstance(rest, dict) and type(rest.get("after")) is int and rest["after"] < 1:
        c.error(("upstream", "rest", "after"), "rest.after must be at least 1")
    if isinstance(up.get("url"), str):
        return (Endpoint(up["url"].rstrip("/")),), affinity
    out = []
    for item in up.get("endpoints") if isinstance(up.get("endpoints"), list) else ():
        if isinstance(item, dict) and isinstance(item.get("url"), str):
            weight = item.get("weight", 1)
            weight = float(weight) if isinstance(weight, int | float) and not isinstance(weight, bool) else 1.0
            out.append(Endpoint(item["url"].rstrip("/"), weight, _keys(item.get("api_key"))))
    return tuple(out), affinity


def _limits(c: Compiler, raw: Any) -> tuple[Limit, ...]:
    out: list[Limit] = []
    seen: set[str] = set()
    for i, item in enumerate(raw if isinstance(raw, list) else ()):
        if not isinstance(item, dict) or item.get("per") not in ("client", "pack"):
            continue  # the schema check reported it
        at = ("limits", i)
        rates = {k: item.get(k) for k in ("requests_per_minute", "tokens_per_minute")}
        for name, value in rates.items():
            if type(value) is int and value < 1:
                c.error((*at, name), f"{name} must be at least 1")
        if all(v is None for v in rates.values()):
            c.error(at, "a limit needs requests_per_minute or tokens_per_minute (or both)")
        if item["per"] in seen:
            c.error((*at, "per"), f"a second limit per {item['per']}: give both rates in one entry")
        seen.add(item["per"])
        out.append(Limit(item["per"], *(v if type(v) is int else None for v in rates.values())))
    return tuple(out)


def _cases(c: Compiler, raw: Any) -> tuple[Case, ...]:
    if not isinstance(raw, list):
        return ()
    out = []
    for i, case in enumerate(raw):
        if not isinstance(case, dict) or "name" not in case or "input" not in case:
            continue  # the schema check reported it
        at = ("tests", i)
        if not any(k in case for k in ("expect", "includes", "excludes")):
            c.error(at, f"test {case['name']!r} needs one of expect, includes, excludes")
            continue
        excludes = []
        excluded = case.get("excludes")
        for j, text in enumerate(excluded if isinstance(excluded, list) else ()):
            if not isinstance(text, str):
                continue  # reported by the schema check
            path = c.path(text, (*at, "excludes", j))
            if path is not None:
                excludes.append(path)
        out.append(
            Case(
                name=str(case["name"]),
                line=c.doc.position(at)[0],
                client=case.get("client", "chat"),
                stage=case.get("stage", "request"),
                input=case["input"],
                expect=case.get("expect"),
                has_expect="expect" in case,
                includes=case.get("includes"),
                has_includes="includes" in case,
                excludes=tuple(excludes),
            )
        )
    return tuple(out)
