"""What a step changed: the difference between two JSON values, as paths added, removed, renamed and changed.

`switchyard apply --explain` runs steps one at a time and prints this after each, so an ops engineer
sees which step made a field vanish. A removal and an addition of the same value under the same
parent are reported together as a rename, because that is what `rename` and `move` do. Arrays of the
same length are compared element by element; when elements came or went, equal elements are aligned
first (difflib), so a filter `drop` reads as the elements it removed.

Request traces keep the same record as JSON (`to_json`, at most so many paths per list, `cut` says how
many were left out) and `switchyard trace` prints it back with `explain_line`, the line `apply
--explain` prints: one wording for both.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from typing import Any

import orjson

_MISSING = object()


@dataclass
class Changes:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    renamed: list[tuple[str, str]] = field(default_factory=list)
    shapes: list[str] = field(default_factory=list)  # top-level field sizes that changed, for `shape()`
    cut: int = 0  # paths left out of the lists above (a trace keeps at most so many of each)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed or self.renamed or self.cut)

    def to_json(self, most: int) -> dict:
        """The record as JSON, with at most `most` paths in each list (paths only: never a value)."""
        lists = {"added": self.added, "removed": self.removed, "changed": self.changed, "renamed": self.renamed}
        out: dict = {name: [list(p) if type(p) is tuple else p for p in paths[:most]] for name, paths in lists.items()}
        out["shapes"] = self.shapes
        out["cut"] = self.cut + sum(max(0, len(paths) - most) for paths in lists.values())
        return out

    @classmethod
    def from_json(cls, data: dict) -> Changes:
        return cls(
            added=list(data.get("added", ())),
            removed=list(data.get("removed", ())),
            changed=list(data.get("changed", ())),
            renamed=[tuple(p) for p in data.get("renamed", ())],
            shapes=list(data.get("shapes", ())),
            cut=int(data.get("cut", 0)),
        )

    def summary(self) -> str:
        """Counts instead of paths: `renamed 1, removed 3`."""
        counts = (
            ("renamed", self.renamed),
            ("added", self.added),
            ("removed", self.removed),
            ("changed", self.changed),
        )
        said = ", ".join(f"{label} {len(paths)}" for label, paths in counts if paths)
        if self.cut:
            said += f"{', ' if said else ''}{self.cut} more"
        return said or "no change"

    def shape(self) -> str:
        """What became of the top-level fields, with array sizes: `input[4] -> messages[5]; tools[13] -> tools[12]`.

        Read from `before`/`after` as `diff` kept them; for a translation (a bridge) paths are too many
        to read, sizes tell the story.
        """
        return "; ".join(self.shapes) or self.summary()

    def describe(self) -> str:
        parts = []
        if self.renamed:
            parts.append("renamed " + ", ".join(f"{a} -> {b}" for a, b in self.renamed))
        for label, paths in (("added", self.added), ("removed", self.removed), ("changed", self.changed)):
            if paths:
                parts.append(f"{label} " + ", ".join(paths))
        if self.cut:
            parts.append(f"and {self.cut} more paths")
        return "; ".join(parts) if parts else "no change"


def explain_line(label: str, ran: bool, changes: Changes, short: bool = False, translation: bool = False) -> str:
    """`request step 3 (rename) (line 12): renamed a -> b`, the line `apply --explain` prints for one step.

    `short` gives counts for a step and, for a `translation` (a bridge, whose paths are too many to
    read), what became of the top-level fields with their sizes.
    """
    if not ran:
        said = "skipped, match is false"
    elif short:
        said = changes.shape() if translation else changes.summary()
    else:
        said = changes.describe()
    return f"{label}: {said}"


def diff(before: Any, after: Any) -> Changes:
    out = Changes()
    removed: list[tuple[str, Any]] = []
    added: list[tuple[str, Any]] = []
    _walk(before, after, "", out, removed, added)
    # pair a removal with an addition of an equal value: that was a rename or a move
    for old_path, old_value in removed:
        for i, (new_path, new_value) in enumerate(added):
            if _same(new_value, old_value):
                out.renamed.append((old_path, new_path))
                del added[i]
                break
        else:
            out.removed.append(old_path)
    out.added.extend(p for p, _ in added)
    out.shapes = _shapes(before, after)
    return out


def _shapes(before: Any, after: Any) -> list[str]:
    if not isinstance(before, dict) or not isinstance(after, dict):
        return []

    def size(value: Any) -> str:
        return f"[{len(value)}]" if isinstance(value, list) else ""

    gone = [k for k in before if k not in after]
    new = [k for k in after if k not in before]
    out = [
        f"{k}{size(before[k])} -> {k}{size(after[k])}"
        for k in before
        if k in after and size(before[k]) != size(after[k])
    ]
    if gone or new:
        out.append(
            " + ".join(f"{k}{size(before[k])}" for k in gone) + " -> " + " + ".join(f"{k}{size(after[k])}" for k in new)
        )
    return out


def _same(a: Any, b: Any) -> bool:
    # JSON equality, not Python's: `0 == False` and `1 == 1.0` are true in Python, and would make a
    # dropped `0` look renamed to an added `false`.
    return orjson.dumps(a, option=orjson.OPT_SORT_KEYS) == orjson.dumps(b, option=orjson.OPT_SORT_KEYS)


def _join(base: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{base}[{key}]"
    text = str(key)
    if any(c in text for c in '.[] "') or not text:
        text = '"' + text.replace('"', '\\"') + '"'
    return f"{base}.{text}" if base else text


def _walk(a: Any, b: Any, path: str, out: Changes, removed: list, added: list) -> None:
    if type(a) is dict and type(b) is dict:
        for key in a:
            if key not in b:
                removed.append((_join(path, key), a[key]))
            else:
                _walk(a[key], b[key], _join(path, key), out, removed, added)
        for key in b:
            if key not in a:
                added.append((_join(path, key), b[key]))
    elif type(a) is list and type(b) is list:
        if len(a) == len(b):  # elements changed in place (`each`, `set` on `name[]`)
            for i in range(len(a)):
                _walk(a[i], b[i], _join(path, i), out, removed, added)
            return
        # Elements came or went (a filter `drop`): align equal elements first, so removing one element
        # reads as that removal and not as a change of every element after it.
        keys_a = [json.dumps(x, sort_keys=True, default=str) for x in a]
        keys_b = [json.dumps(x, sort_keys=True, default=str) for x in b]
        for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, keys_a, keys_b, autojunk=False).get_opcodes():
            if op == "equal":
                continue
            common = min(i2 - i1, j2 - j1) if op == "replace" else 0
            for k in range(common):
                _walk(a[i1 + k], b[j1 + k], _join(path, i1 + k), out, removed, added)
            removed.extend((_join(path, i), a[i]) for i in range(i1 + common, i2))
            added.extend((_join(path, j), b[j]) for j in range(j1 + common, j2))
    elif a != b or type(a) is not type(b):
        out.changed.append(path or "(the whole body)")
