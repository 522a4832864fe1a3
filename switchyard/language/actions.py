"""The table of actions: the YAML action name is the function name is the registry key.

Each action is a function `(arg, c) -> run`. It is called once, when a pack is compiled, with the
action's argument from YAML and the `Compiler` (which knows where in the file the argument stands
and turns paths and expressions into compiled objects, reporting problems with positions). It
returns `run(node)`, a closure that changes `node` in place. Nothing is parsed when `run` is
called: per-request and per-chunk work is only dict and list operations.

`ARGS` holds, per action, the descriptor of its argument (see `switchyard.language.validate`); the validator and
the JSON Schema of `switchyard schema` are both made from it, so they cannot drift apart.

Values from YAML (`set`, `default`) and results of `compute` that are objects or arrays are copied
each time they are placed, so that a later step changing the body never changes the pack itself or
another part of the body.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from switchyard.errors import Rejected
from switchyard.language.expressions import truthy
from switchyard.language.paths import PLAIN, Path
from switchyard.language.validate import Any_, List, Map, OneOf, Steps, Str

Run = Callable[[Any], None]

ACTIONS: dict[str, Callable[..., Run]] = {}
ARGS: dict = {}
DOCS: dict[str, str] = {}

_PATH = Str(what="a path")
_PATHS = OneOf(_PATH, List(_PATH, min_items=1), what="a path or a list of paths")


def action(arg, doc: str):
    def register(fn):
        ACTIONS[fn.__name__] = fn
        ARGS[fn.__name__] = arg
        DOCS[fn.__name__] = doc
        return fn

    return register


def _copier(value: Any) -> Callable[[], Any]:
    """A function giving a fresh copy of a literal each time; scalars need none."""
    if isinstance(value, dict | list):
        return lambda: copy.deepcopy(value)
    return lambda: value


def _fresh(value: Any) -> Any:
    return copy.deepcopy(value) if type(value) in (dict, list) else value


def _paths(arg: Any, c) -> list[Path]:
    items = arg if isinstance(arg, list) else [arg]
    at = c.at
    paths = []
    for i, item in enumerate(items):
        path = c.path(item, (*at, i) if isinstance(arg, list) else at)
        if path is not None:
            paths.append(path)
    return paths


def _pairs(arg: dict, c, *, value_path: bool = False, no_expand: bool = False):
    """(path, value, location) for each entry of a {PATH: VALUE} mapping; problems reported by `c`."""
    out = []
    for key, value in arg.items():
        here = (*c.at, key)
        path = c.path(key, here, key=True)
        if path is None:
            continue
        if no_expand and not path.plain:
            c.error(here, f"'{key}': no '[]' or filter here; use `each` to work inside arrays", key=True)
            continue
        if value_path:
            target = c.path(value, here)
            if target is None:
                continue
            if no_expand and not target.plain:
                c.error(here, f"'{value}': no '[]' or filter here", key=False)
                continue
            value = target
        out.append((path, value, here))
    return out


def _put(path: Path, node: Any, make: Callable[[], Any], only_missing: bool = False) -> bool:
    """Place a value at every place `path` names, making objects on the way; False when there is none."""
    last = path.last
    key = last.key
    holders = path.holders(node, create=True)
    for holder in holders:
        if last.mode == PLAIN:
            if not only_missing or holder.get(key) is None:
                holder[key] = make()
        else:
            items = holder.get(key)
            if type(items) is not list:
                continue
            chosen = last.select(items)
            if chosen is items:
                chosen = list(items)
            ids = {id(x) for x in chosen}
            for i, item in enumerate(items):
                if id(item) in ids and (not only_missing or item is None):
                    items[i] = make()
    return bool(holders)


@action(_PATHS, "removes each field that exists; a path ending in `name[?EXPR]` removes the matching elements")
def drop(arg: Any, c) -> Run:
    paths = _paths(arg, c)
    if all(len(p.segments) == 1 and p.last.mode == PLAIN for p in paths):
        # Top-level keys only (`drop: [system_fingerprint, obfuscation]`, the usual per-chunk drop): pops.
        keys = tuple(p.last.key for p in paths)

        def run_keys(node: Any) -> None:
            if type(node) is dict:
                for key in keys:
                    node.pop(key, None)

        return run_keys

    def run(node: Any) -> None:
        for path in paths:
            _remove(path, node)

    return run


@action(List(Str(what="a key"), min_items=1), "removes every key of the node that is not listed")
def keep(arg: list, c) -> Run:
    allowed = frozenset(arg)

    def run(node: Any) -> None:
        if type(node) is dict:
            for key in [k for k in node if k not in allowed]:
                del node[key]

    return run


@action(Map(Str(what="a key")), "gives the key at PATH the name NEWKEY in the same object; NEWKEY is overwritten")
def rename(arg: dict, c) -> Run:
    pairs = []
    for path, new, here in _pairs(arg, c):
        if path.last.mode != PLAIN:
            c.error(here, f"'{path}': the last key of a rename cannot have '[]' or a filter", key=True)
        else:
            pairs.append((path, new))

    def run(node: Any) -> None:
        for path, new in pairs:
            old = path.last.key
            for holder in path.holders(node):
                if old in holder and old != new:
                    holder[new] = holder.pop(old)

    return run


@action(Map(_PATH), "moves a value to another place in the node, creating objects on the way")
def move(arg: dict, c) -> Run:
    pairs = [(src, dst) for src, dst, _ in _pairs(arg, c, value_path=True, no_expand=True)]

    def run(node: Any) -> None:
        for src, dst in pairs:
            holders = src.holders(node)
            if not holders or src.last.key not in holders[0]:
                continue
            value = holders[0].pop(src.last.key)
            if not _put(dst, node, lambda v=value: v):  # a non-object in the way: leave the value where it was
                holders[0][src.last.key] = value

    return run


@action(Map(Any_()), "sets VALUE where PATH is absent or null; VALUE is YAML, taken literally")
def default(arg: dict, c) -> Run:
    pairs = [(path, _copier(value)) for path, value, _ in _pairs(arg, c)]

    def run(node: Any) -> None:
        for path, make in pairs:
            _put(path, node, make, only_missing=True)

    return run


@action(Map(Any_()), "sets VALUE, taken literally, always")
def set(arg: dict, c) -> Run:  # shadows the builtin in this module on purpose: action name = function name
    pairs = [(path, _copier(value)) for path, value, _ in _pairs(arg, c)]

    def run(node: Any) -> None:
        for path, make in pairs:
            _put(path, node, make)

    return run


@action(Map(Str(what="a JMESPath expression")), "sets the result of EXPR on the node; a null result removes PATH")
def compute(arg: dict, c) -> Run:
    pairs = []
    for path, source, here in _pairs(arg, c):
        if not isinstance(source, str):
            continue  # reported by the argument's check
        expr = c.expr(source, here)
        if expr is not None:
            pairs.append((path, expr.evaluate))

    def run(node: Any) -> None:
        # All expressions see the node as it was before this step, like one atomic assignment.
        results = [(path, evaluate(node)) for path, evaluate in pairs]
        for path, value in results:
            if value is None:
                _remove(path, node)
            else:
                _put(path, node, lambda v=value: _fresh(v))

    return run


def _remove(path: Path, node: Any) -> None:
    """Remove what `path` names: the key, or (for `[]` / a filter at the end) the chosen elements."""
    last = path.last
    if len(path.segments) == 1 and last.mode == PLAIN:  # a top-level key, the commonest drop
        if type(node) is dict:
            node.pop(last.key, None)
        return
    for holder in path.holders(node):
        if last.mode == PLAIN:
            holder.pop(last.key, None)
            continue
        items = holder.get(last.key)
        if type(items) is list:
            gone = {id(x) for x in last.select(items)}
            items[:] = [x for x in items if id(x) not in gone]


@action(_PATHS, "merges the object at PATH into the object that holds it, then removes PATH")
def flatten(arg: Any, c) -> Run:
    paths = []
    for path in _paths(arg, c):
        if path.last.mode != PLAIN:
            c.error(c.at, f"'{path}': the last key of a flatten cannot have '[]' or a filter")
        else:
            paths.append(path)

    def run(node: Any) -> None:
        for path in paths:
            key = path.last.key
            for holder in path.holders(node):
                inner = holder.get(key)
                if type(inner) is dict:
                    del holder[key]
                    holder.update(inner)

    return run


@action(Map(List(Str(what="a key"), min_items=1)), "moves the listed keys of the node into a new object under KEY")
def nest(arg: dict, c) -> Run:
    pairs = [(key, tuple(keys)) for key, keys in arg.items() if isinstance(keys, list)]

    def run(node: Any) -> None:
        if type(node) is not dict:
            return
        for key, keys in pairs:
            moved = {k: node.pop(k) for k in keys if k in node}
            if not moved:
                continue
            inner = node.get(key)
            if type(inner) is dict:
                inner.update(moved)
            else:
                node[key] = moved

    return run


@action(_PATH, "runs `do` on every element of the array at PATH (or the object at PATH); `match` picks elements")
def each(arg: str, c) -> Run:
    path = c.path(arg, c.at)
    steps = c.do_steps()
    match = c.step_match()  # evaluated per element here, not on the node
    if path is None:
        return _nothing
    last = path.last

    def run(node: Any) -> None:
        for holder in path.holders(node):
            value = holder.get(last.key)
            if last.mode != PLAIN:
                items = last.select(value)
            elif type(value) is list:
                items = value
            elif type(value) is dict:
                items = (value,)
            else:
                continue
            for item in items:
                if match is None or truthy(match(item)):
                    for step in steps:
                        step(item)

    return run


@action(Steps(), "a group of steps, usually under a `match`")
def do(arg: Any, c) -> Run:
    steps = c.steps(arg, c.at)

    def run(node: Any) -> None:
        for step in steps:
            step(node)

    return run


@action(Str(what="a message"), "refuses the request: HTTP 400 with MESSAGE (request steps only)")
def reject(arg: str, c) -> Run:
    if c.stage != "request":
        c.error(c.at, "reject is for request steps only", key=True)

    def run(node: Any) -> None:
        raise Rejected(arg)

    return run


def _nothing(node: Any) -> None:
    return None


# `do` is both an action and the key that carries an `each` body; only `each` may combine them.
STEP_EXTRA_KEYS = {"match": Str(what="a JMESPath expression"), "do": Any_(what="a list of steps")}
