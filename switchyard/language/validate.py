"""Shape descriptors, written once and used twice: to validate a value and to publish a JSON Schema.

Descriptors (`Str`, `Int`, `Obj`, ...) describe what a value may be. `check(value, at, report)`
reports every problem below a value (it never stops at the first), and `json()` gives the matching
JSON Schema fragment. The pack file's shape is made of these in `switchyard.language.shape`; each
action's arguments are described by them in the action table (`switchyard.language.actions.ARGS`).

The validator only checks shapes. What needs compiling (paths, JMESPath, env variables) is checked
by the compiler in `switchyard.language.pack`, which reports through the same channel.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from typing import Any

Report = Callable[..., None]  # report(at, message, key=False)


class Desc:
    what = "a value"

    def check(self, value: Any, at: tuple, report: Report) -> bool:
        """Report problems below `value`; True when its own type is right."""
        return True

    def json(self) -> dict:
        return {}


class Any_(Desc):
    def __init__(self, what: str = "a value", doc: str = ""):
        self.what, self.doc = what, doc

    def json(self) -> dict:
        return {"description": self.doc} if self.doc else {}


class Str(Desc):
    """A string; `env=True` when it is `${VAR}`-interpolated before the check, as strings under `upstream` are."""

    def __init__(
        self, what: str = "a string", pattern: str | None = None, enum: tuple = (), doc: str = "", env: bool = False
    ):
        self.what, self.pattern, self.enum, self.doc, self.env = what, pattern, enum, doc, env

    def check(self, value, at, report):
        if not isinstance(value, str):
            report(at, f"expected {self.what}, got {_kind(value)}")
            return False
        if self.enum and value not in self.enum:
            report(at, f"{value!r} is not one of {', '.join(self.enum)}")
        elif self.pattern and not re.fullmatch(self.pattern, value):
            report(at, f"{value!r} is not {self.what}")
        return True

    def json(self):
        out: dict = {"type": "string"}
        if self.enum:
            out["enum"] = list(self.enum)
        if self.pattern:
            # the file holds the text before interpolation: `${VAR}` there is checked when the pack loads
            out["pattern"] = f"^(?:{self.pattern}|.*\\$\\{{.*)$" if self.env else f"^{self.pattern}$"
        if self.doc:
            out["description"] = self.doc
        return out


class Int(Desc):
    what = "an integer"

    def __init__(self, doc: str = ""):
        self.doc = doc

    def check(self, value, at, report):
        if isinstance(value, bool) or not isinstance(value, int):
            report(at, f"expected an integer, got {_kind(value)}")
            return False
        return True

    def json(self):
        return {"type": "integer", **({"description": self.doc} if self.doc else {})}


class Num(Desc):
    what = "a positive number"

    def check(self, value, at, report):
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            report(at, f"expected a positive number, got {_kind(value)}")
            return False
        return True

    def json(self):
        return {"type": "number", "exclusiveMinimum": 0}


class Bool(Desc):
    what = "true or false"

    def check(self, value, at, report):
        if not isinstance(value, bool):
            report(at, f"expected true or false, got {_kind(value)}")
            return False
        return True

    def json(self):
        return {"type": "boolean"}


class List(Desc):
    def __init__(self, item: Desc, min_items: int = 0, what: str | None = None):
        self.item, self.min_items = item, min_items
        self.what = what or f"a list of {_plural(item.what)}"

    def check(self, value, at, report):
        if not isinstance(value, list):
            report(at, f"expected {self.what}, got {_kind(value)}")
            return False
        if len(value) < self.min_items:
            report(at, f"expected {self.what} with at least {self.min_items} item(s)")
        for i, item in enumerate(value):
            self.item.check(item, (*at, i), report)
        return True

    def json(self):
        out = {"type": "array", "items": self.item.json()}
        if self.min_items:
            out["minItems"] = self.min_items
        return out


class Map(Desc):
    """A mapping of free-form keys (paths, names) to values of one kind."""

    def __init__(self, value: Desc, what: str = "a mapping"):
        self.value, self.what = value, what

    def check(self, value, at, report):
        if not isinstance(value, dict):
            report(at, f"expected {self.what}, got {_kind(value)}")
            return False
        if not value:
            report(at, f"expected {self.what} with at least one entry")
        for k, v in value.items():
            self.value.check(v, (*at, k), report)
        return True

    def json(self):
        return {"type": "object", "minProperties": 1, "additionalProperties": self.value.json()}


class OneOf(Desc):
    def __init__(self, *options: Desc, what: str):
        self.options, self.what = options, what

    def check(self, value, at, report):
        for option in self.options:
            problems: list = []
            if option.check(value, at, lambda *a, _p=problems, **k: _p.append((a, k))):
                for a, k in problems:
                    report(*a, **k)
                return True
        report(at, f"expected {self.what}, got {_kind(value)}")
        return False

    def json(self):
        return {"oneOf": [o.json() for o in self.options]}


class Obj(Desc):
    """A mapping with known keys; an unknown key is a problem, with a 'did you mean' when one is close."""

    def __init__(self, fields: dict[str, Desc], required: tuple = (), what: str = "a mapping", doc: str = ""):
        self.fields, self.required, self.what, self.doc = fields, required, what, doc

    def check(self, value, at, report):
        if not isinstance(value, dict):
            report(at, f"expected {self.what}, got {_kind(value)}")
            return False
        for key, item in value.items():
            desc = self.fields.get(key)
            if desc is None:
                report((*at, key), unknown_key(key, self.fields), key=True)
            else:
                desc.check(item, (*at, key), report)
        for key in self.required:
            if key not in value:
                report(at, f"missing required key '{key}'", key=bool(at))
        return True

    def json(self):
        out = {
            "type": "object",
            "properties": {k: d.json() for k, d in self.fields.items()},
            "additionalProperties": False,
        }
        if self.required:
            out["required"] = list(self.required)
        if self.doc:
            out["description"] = self.doc
        return out


class Steps(Desc):
    """A list of steps; each step's own shape comes from the action table (checked by the compiler)."""

    what = "a list of steps"

    def check(self, value, at, report):
        if not isinstance(value, list):
            report(at, f"expected a list of steps, got {_kind(value)}")
            return False
        return True

    def json(self):
        return {"type": "array", "items": {"$ref": "#/$defs/step"}}


def unknown_key(key: str, known) -> str:
    close = difflib.get_close_matches(str(key), list(known), n=1, cutoff=0.6)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"unknown key '{key}'{hint}"


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"a string ({value!r})" if len(value) < 40 else "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _plural(what: str) -> str:
    for article in ("a ", "an "):
        if what.startswith(article):
            return what[len(article) :] + "s"
    return what
