"""Reading pack files: YAML in, plain data and the position of every key and value out.

This is the only module that imports YAML. It uses ruamel.yaml's round-trip loader because that
loader remembers where each key and value stood, which is what lets every later problem be
reported as `FILE:LINE:COLUMN` at the offending token. The ruamel objects do not leave this
module: the rest of the engine sees plain dicts, lists and scalars (fast, JSON-compatible, and
free of ruamel's subclasses), plus a `Document` that maps a location in the data to its position.

A location is the tuple of keys and indexes from the root, e.g. `("request", 2, "rename")`.

`${VAR}` / `${VAR:-default}` interpolation is done here too, for every string under `upstream`,
because it is part of turning the text into the data the pack stands for.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from switchyard.errors import Problem

Location = tuple  # tuple[str | int, ...]

# `$NAME` with no brace: not interpolated, so most likely a mistake for `${NAME}`.
_BARE = re.compile(r"\$(?!\{)([A-Za-z_][A-Za-z0-9_]*)")
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-(.*?))?\}")


@dataclass
class Document:
    """One parsed file: its data, and the 1-based (line, column) of each key and value by location."""

    file: str
    data: Any
    keys: dict = field(default_factory=dict)
    values: dict = field(default_factory=dict)
    quoted: set = field(default_factory=set)  # locations of quoted scalars, whose text starts one column later
    quoted_keys: set = field(default_factory=set)  # the same, for keys (paths are keys in rename, set, ...)
    interpolated: dict = field(default_factory=dict)  # value after interpolation -> the text written in the file
    unset: list = field(default_factory=list)  # variables left as placeholders (interpolate's `placeholders`)
    warnings: list = field(default_factory=list)  # Problems that do not stop the load (`check` prints them)
    tagged: list = field(default_factory=list)  # (location, tag) of values with a tag outside YAML's core schema
    digest: str = ""  # sha256 of the text, shortened: tells one version of a file from another

    def quote_offset(self, at: Location, *, key: bool = False) -> int:
        return 1 if at in (self.quoted_keys if key else self.quoted) else 0

    def position(self, at: Location, *, key: bool = False) -> tuple[int, int]:
        """Where the value (or, with key=True, the key) at `at` stands; falls back to the nearest parent."""
        table = self.keys if key else self.values
        while at:
            if at in table:
                return table[at]
            if key:  # a key without a recorded position: point at its value, then climb
                table, key = self.values, False
                continue
            at = at[:-1]
        return (1, 1)

    def problem(self, at: Location, message: str, *, key: bool = False) -> Problem:
        line, column = self.position(at, key=key)
        return Problem(self.file, line, column, self.redact(message))

    def redact(self, message: str) -> str:
        """A message with every interpolated value replaced by what the file says (`${VAR}`).

        Environment values under `upstream` are often keys; a problem message goes to a terminal, to
        the server log and to `/-/rules`, so it must name the variable, not repeat its value.
        """
        for value, written in self.interpolated.items():
            if not value or value not in message:
                continue
            if repr(value) in message:
                message = message.replace(repr(value), repr(written))
            elif len(value) >= 8:  # unquoted: only when long enough to be a secret and not a common word
                message = message.replace(value, written)
        return message


def load_file(path: str, display: str | None = None) -> tuple[Document | None, list[Problem]]:
    """Parse one YAML file. Returns the document, or None and the syntax problem."""
    name = display or path
    text, error = read_text(path)
    if text is None:
        return None, [Problem(name, 1, 1, error)]
    return load_text(text, name)


def read_text(path: str) -> tuple[str | None, str]:
    """A pack file's text, or None and why it could not be read."""
    try:
        with open(path, encoding="utf-8") as f:
            return f.read(), ""
    except (OSError, UnicodeDecodeError) as exc:
        return None, f"cannot read file: {exc}"


# A pack is a page of YAML. These bounds keep a hostile or broken file from taking the server with
# it on reload: a file over MAX_BYTES is refused unread, and a document whose values, once YAML
# aliases are expanded, number over MAX_VALUES (a "billion laughs" file expands exponentially) is
# refused before it is copied out.
MAX_BYTES = 1024 * 1024
MAX_VALUES = 100_000


class _TooLarge(Exception):
    pass


# The tags of YAML's core schema, which describe plain data; any other explicit tag is refused.
_CORE_TAGS = tuple(f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "map", "seq"))


def load_text(text: str, name: str) -> tuple[Document | None, list[Problem]]:
    if len(text) > MAX_BYTES:
        return None, [Problem(name, 1, 1, f"the file is over {MAX_BYTES // 1024} KiB; a pack is far smaller")]
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True  # so that columns inside quoted expressions can be reported exactly
    try:
        tree = yaml.load(_ENV.sub(_hide_braces, text) if "${" in text else text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        reason = " ".join(str(part) for part in (exc.context, exc.problem) if part)
        return None, [Problem(name, line, column, f"YAML syntax error: {reason}")]
    except YAMLError as exc:  # errors without a position (rare: encoding problems)
        return None, [Problem(name, 1, 1, f"YAML error: {exc}")]
    doc = Document(name, None, digest=hashlib.sha256(text.encode("utf-8")).hexdigest()[:16])
    try:
        doc.data = _plain(tree, (), doc, [MAX_VALUES])
    except (_TooLarge, RecursionError):  # RecursionError: an alias that contains itself
        message = f"the document expands to more than {MAX_VALUES:,} values (YAML aliases?); a pack is far smaller"
        return None, [Problem(name, 1, 1, message)]
    if doc.tagged:
        return None, [doc.problem(at, f"the YAML tag {tag} is not allowed in a pack") for at, tag in doc.tagged]
    return doc, []


# `[${KEY_A}, ${KEY_B}]` and `{url: ..., api_key: ${KEY}}` are what the contract writes, but in YAML's flow
# context a brace ends a plain scalar. Before parsing, the braces of each `${...}` become two characters of
# Unicode's private use area (one for one, so every column stays where it was), and back in every string after.
_OPEN, _CLOSE = "\ue000", "\ue001"
_BACK = str.maketrans({_OPEN: "{", _CLOSE: "}"})


def _hide_braces(m: re.Match) -> str:
    text = m.group(0)
    return "$" + _OPEN + text[2:-1] + _CLOSE


def _unhide(text: str) -> str:
    return text.translate(_BACK) if _OPEN in text else text


def _plain(node: Any, at: Location, doc: Document, budget: list[int]) -> Any:
    """Copy a ruamel tree into plain Python data, recording positions on the way.

    `budget` is the number of values still allowed (one list shared by the whole walk): aliases are
    shared nodes in ruamel's tree but become copies here, so the count is what the copy would hold.
    """
    budget[0] -= 1
    if budget[0] < 0:
        raise _TooLarge
    tag = getattr(getattr(node, "tag", None), "value", None)
    if tag and not tag.startswith(_CORE_TAGS):
        # `!!python/object/apply:...` and friends: never constructed (the round-trip loader builds no
        # objects), and refused, so a pack cannot even look as if it could run code.
        doc.tagged.append((at, tag.replace("tag:yaml.org,2002:", "!!")))
        return None
    if isinstance(node, Mapping):
        out = {}
        lc = getattr(node, "lc", None)
        for key, value in node.items():
            # YAML allows non-string keys (`1: x`, `true: y`); JSON does not, so keys become strings
            name = _unhide(str(key))
            here = (*at, name)
            if type(key) is not str and getattr(key, "style", None) in ("'", '"'):
                doc.quoted_keys.add(here)
            if lc is not None:
                try:
                    kl, kc = lc.key(key)
                    vl, vc = lc.value(key)
                    doc.keys[here] = (kl + 1, kc + 1)
                    # An empty value (`response:` and nothing) has no token; ruamel then gives the
                    # position of whatever comes next, often lines below. Point at the key instead.
                    doc.values[here] = (vl + 1, vc + 1) if value is not None else (kl + 1, kc + 1)
                except (KeyError, TypeError):
                    pass
            out[name] = _plain(value, here, doc, budget)
        return out
    if isinstance(node, list):
        lc = getattr(node, "lc", None)
        out_list = []
        for i, value in enumerate(node):
            here = (*at, i)
            if lc is not None:
                try:
                    il, ic = lc.item(i)
                    doc.values[here] = (il + 1, ic + 1)
                except (KeyError, TypeError, IndexError):
                    pass
            out_list.append(_plain(value, here, doc, budget))
        return out_list
    if node is None or isinstance(node, bool):
        return node
    # ruamel returns subclasses (ScalarFloat, ScalarInt, str subclasses) that carry formatting;
    # plain types keep the data cheap to copy and exactly JSON-serialisable.
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        if type(node) is not str and getattr(node, "style", None) in ("'", '"'):
            doc.quoted.add(at)
        return _unhide(str(node))
    if isinstance(node, datetime.date | datetime.datetime):
        return node.isoformat()
    return node


def interpolate(
    doc: Document, at: Location, env: Mapping[str, str] | None = None, placeholders: bool = False
) -> list[Problem]:
    """Replace `${VAR}` and `${VAR:-default}` in every string below `at`, in place.

    An unset variable without a default is a problem, unless `placeholders` is set: then it stays
    as the visible text `${VAR}` (a URL made of one becomes `https://unset.invalid/${VAR}`, so the
    rest of the pack is still checked) and its name goes to `doc.unset`. Checking, testing and
    explaining a pack need no secrets; serving it does.
    """
    env = os.environ if env is None else env
    problems: list[Problem] = []

    from_env: list[bool] = []

    def sub(value: str, here: Location) -> str:
        def one(m: re.Match) -> str:
            name, default = m.group(1), m.group(2)
            if name in env:
                from_env.append(True)
                return env[name]
            if default is not None:
                return default
            if placeholders:
                doc.unset.append(name)
                return m.group(0)
            problems.append(doc.problem(here, f"environment variable {name} is not set and has no default"))
            return ""

        out = _ENV.sub(one, value)
        if placeholders and here[-1:] == ("url",) and out.startswith("${"):
            out = "https://unset.invalid/" + out
        return out

    def walk(node: Any, here: Location) -> Any:
        if isinstance(node, str):
            for bare in _BARE.finditer(node):
                name = bare.group(1)
                warning = f"${name} is sent as written: only ${{{name}}} is replaced from the environment"
                doc.warnings.append(doc.problem(here, f"warning: {warning}"))
            if "${" not in node:
                return node
            from_env.clear()
            value = sub(node, here)
            if from_env:
                doc.interpolated[value] = node  # so that messages can show `${VAR}`, never its value
            return value
        if isinstance(node, dict):
            for k in list(node):
                node[k] = walk(node[k], (*here, k))
                if "${" in k:  # keys are strings under `upstream` too (header names)
                    node[sub(k, (*here, k))] = node.pop(k)
        elif isinstance(node, list):
            for i, v in enumerate(node):
                node[i] = walk(v, (*here, i))
        return node

    target = doc.data
    for step in at:
        if not isinstance(target, dict | list):
            return problems
        try:
            target = target[step]
        except (KeyError, IndexError, TypeError):
            return problems
    walk(target, at)
    return problems
