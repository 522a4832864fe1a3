"""The PATH language of steps: dotted keys, `name[]` and `name[?EXPR]`, compiled to walkers.

A path is parsed once, when its pack loads, into a tuple of segments. Each segment is a key and
how to go on from its value: into the value itself, into every element (`[]`), or into the
elements where a JMESPath filter is truthy (`[?EXPR]`). Keys that contain `.`, `[`, `]` or a
space are written in double quotes (`metadata."x.y"`).

Actions need the same thing from a path: the objects that hold its last key (the *holders*), so
that they can read, set, pop or rename that key in place. `holders(node)` walks every segment but
the last; a missing key or a value of the wrong type on the way ends that branch quietly, because
the contract says a path that does not exist is not an error. With `create=True` missing objects
on plain segments are made on the way (`set`, `default`, `compute` and `move` targets).

Paths without `[]` or filters are walked with a tight loop over a tuple of keys; they are the
common case in per-chunk response steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from switchyard.errors import PathError
from switchyard.language.expressions import Expression, compile_expression, truthy

PLAIN, ALL, FILTER = 0, 1, 2


@dataclass(frozen=True, slots=True)
class Segment:
    key: str
    mode: int = PLAIN  # PLAIN, ALL (`key[]`) or FILTER (`key[?expr]`)
    filter: Expression | None = None

    def select(self, value: Any) -> list:
        """The elements of `value` this segment goes on into (ALL and FILTER only)."""
        if type(value) is not list:
            return []
        if self.mode == ALL:
            return value
        keep = self.filter.evaluate
        return [item for item in value if truthy(keep(item))]

    def __str__(self) -> str:
        key = self.key if _BARE.issuperset(self.key) and self.key else '"' + self.key.replace('"', '\\"') + '"'
        if self.mode == ALL:
            return key + "[]"
        if self.mode == FILTER:
            return f"{key}[?{self.filter.source}]"
        return key


_BARE = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-$@/:+*#!%&'=<>,;~^|")


@dataclass(frozen=True, slots=True)
class Path:
    """A compiled PATH. `last` is the final segment; `holders(node)` finds the objects holding it."""

    source: str
    segments: tuple[Segment, ...]
    make_from: int = 0  # the first segment where `holders(create=True)` may make objects (see there)
    # The segments before the last as (key, expands) pairs when none has a filter: the walk `holders`
    # takes for a per-chunk path such as `choices[].delta.reasoning` without creating anything.
    walk: tuple[tuple[str, bool], ...] | None = None

    @property
    def last(self) -> Segment:
        return self.segments[-1]

    @property
    def plain(self) -> bool:
        """True when no segment expands arrays: the path names at most one place."""
        return all(s.mode == PLAIN for s in self.segments)

    def holders(self, node: Any, create: bool = False) -> list[dict]:
        # Objects are only made after the last `[]` or filter, and only when the last segment is plain:
        # an array that is missing cannot be filled, and an object made on the way to it would be a
        # change at a path that does not exist.
        segments = self.segments
        if len(segments) == 1:  # a top-level key, the commonest path: no walk at all
            return [node] if type(node) is dict else []
        walk = self.walk
        if walk is not None and not create:
            nodes = [node]
            for key, expands in walk:
                found = []
                for n in nodes:
                    if type(n) is dict:
                        value = n.get(key)
                        if expands:
                            if type(value) is list:
                                found += value
                        elif type(value) is dict:
                            found.append(value)  # anything else holds nothing further on
                nodes = found
                if not nodes:
                    return nodes
            return [n for n in nodes if type(n) is dict]
        make_from = self.make_from if create else len(segments)
        nodes = [node]
        i = 0
        for seg in segments:
            if i == len(segments) - 1:
                break
            plain = seg.mode == PLAIN
            key = seg.key
            nxt = []
            for n in nodes:
                if type(n) is not dict:
                    continue
                value = n.get(key)
                if plain:
                    if value is None and i >= make_from:  # absent or null: make the object on the way
                        value = n[key] = {}
                    nxt.append(value)
                elif seg.mode == ALL:
                    if type(value) is list:
                        nxt += value
                else:
                    nxt += seg.select(value)
            nodes = nxt
            i += 1
        return [n for n in nodes if type(n) is dict]

    def values(self, node: Any) -> list:
        """Every value the path names (elements, for a last segment with `[]` or a filter)."""
        out = []
        last = self.last
        for holder in self.holders(node):
            if last.key in holder:
                value = holder[last.key]
                out.extend(last.select(value) if last.mode != PLAIN else (value,))
        return out

    def exists(self, node: Any) -> bool:
        last = self.last
        for holder in self.holders(node):
            if last.key in holder and (last.mode == PLAIN or last.select(holder[last.key])):
                return True
        return False

    def __str__(self) -> str:
        return self.source


def compile_path(text: str) -> Path:
    """Parse a PATH, raising PathError with the column of the problem."""
    if not isinstance(text, str) or not text.strip():
        raise PathError("a path must be a non-empty string")
    segments = []
    i, n = 0, len(text)
    while True:
        # one key: bare up to '.', '[' or the end; or a double-quoted string
        if i < n and text[i] == '"':
            j, buf = i + 1, []
            while j < n and text[j] != '"':
                if text[j] == "\\" and j + 1 < n:
                    j += 1
                buf.append(text[j])
                j += 1
            if j >= n:
                raise PathError("unclosed double quote in path", i)
            key, i = "".join(buf), j + 1
        else:
            start = i
            while i < n and text[i] not in '.[]" ':
                i += 1
            key = text[start:i]
            if not key:
                raise PathError(
                    "empty key in path (a key with '.', '[', ']' or a space is written in double quotes)", i
                )
            if i < n and text[i] in '" ':
                raise PathError(f"unexpected {text[i]!r} in path (quote the whole key)", i)
        mode, flt = PLAIN, None
        if i < n and text[i] == "[":
            if text.startswith("[]", i):
                mode, i = ALL, i + 2
            elif text.startswith("[?", i):
                end = _closing_bracket(text, i + 2)
                source = text[i + 2 : end]
                try:
                    flt = compile_expression(source)
                except Exception as exc:
                    raise PathError(f"bad filter: {exc}", i + 2 + getattr(exc, "column", 0)) from None
                mode, i = FILTER, end + 1
            else:
                raise PathError("only '[]' and '[?EXPR]' may follow a key in a path", i)
        segments.append(Segment(key, mode, flt))
        if i == n:
            break
        if text[i] != ".":
            raise PathError(f"expected '.' in path, found {text[i]!r}", i)
        i += 1
        if i == n:
            raise PathError("path ends with '.'", i)
    expanding = [i for i, s in enumerate(segments) if s.mode != PLAIN]
    if segments[-1].mode != PLAIN:
        make_from = len(segments)
    else:
        make_from = expanding[-1] + 1 if expanding else 0
    inner = segments[:-1]
    walk = None if any(s.mode == FILTER for s in inner) else tuple((s.key, s.mode == ALL) for s in inner)
    return Path(text, tuple(segments), make_from, walk)


def _closing_bracket(text: str, i: int) -> int:
    """Index of the ']' closing a filter, skipping JMESPath literals and nested brackets."""
    depth, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in "'`\"":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            i = j
        elif c == "[":
            depth += 1
        elif c == "]":
            if depth == 0:
                return i
            depth -= 1
        i += 1
    raise PathError("unclosed '[?' filter in path", i)
