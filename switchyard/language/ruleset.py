"""A rule set: every pack of a rules folder, compiled, ordered, and swapped as one.

`load_rules(paths)` reads every `*.yaml` / `*.yml` file, compiles each into a `Pack`, checks that
pack names are unique across files, and either returns a `RuleSet` or raises `PackError` with the
problems of *all* files. There is no partial result: the server swaps rule sets whole, so a
broken file on reload leaves the running packs in force rather than some of them.

Packs are tried by priority (higher first), then by file name, and the first whose `match` is
truthy serves the request. A `RuleSet` is immutable; a request keeps the one it started with.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from switchyard.errors import PackError, Problem
from switchyard.language.loader import load_text, read_text
from switchyard.language.pack import Pack, compile_pack

SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class RuleSet:
    """Every pack of a rules folder, in the order they are tried; immutable, swapped whole on reload."""

    packs: tuple[Pack, ...]
    sources: tuple[str, ...] = ()
    loaded_at: float = field(default_factory=time.time)
    unset: tuple[str, ...] = ()  # variables left as placeholders (loaded for checking, not serving)
    warnings: tuple[Problem, ...] = ()  # what loads but is likely a mistake (`$VAR` without braces)
    left_out: tuple[tuple[str, tuple[Problem, ...]], ...] = ()  # (file, its problems), with `partial`

    def select(self, body: object) -> Pack | None:
        for pack in self.packs:
            if pack.matches(body):
                return pack
        return None

    def get(self, name: str) -> Pack | None:
        for pack in self.packs:
            if pack.name == name:
                return pack
        return None

    def models(self) -> list[tuple[str, Pack]]:
        """Every model named in a pack's `models`, once, with the pack that lists it first."""
        seen: dict[str, Pack] = {}
        for pack in self.packs:
            for model in pack.models:
                seen.setdefault(model, pack)
        return list(seen.items())


def pack_files(paths: Iterable[str]) -> list[str]:
    """The pack files named by `paths`: files as given, folders expanded to their *.yaml / *.yml files."""
    files = []
    for path in paths:
        if os.path.isdir(path):
            names = sorted(n for n in os.listdir(path) if n.endswith(SUFFIXES) and not n.startswith("."))
            files.extend(os.path.join(path, n) for n in names)
        else:
            files.append(path)
    return files


@dataclass(frozen=True)
class Sources:
    """The text of every pack file below some paths, read once: what a rule set is compiled from.

    Reading and compiling are two steps so that what was validated is exactly what runs: the
    server's supervisor (`serve --workers`) reads a folder once, compiles it to validate it, and
    hands these very texts to every worker, which compiles them again without touching the folder.
    """

    files: tuple[str, ...]  # every pack file, in the order `pack_files` lists them
    texts: Mapping[str, str]  # file -> its text
    unreadable: Mapping[str, str] = field(default_factory=dict)  # file -> why it could not be read
    missing: tuple[str, ...] = ()  # paths given that do not exist


def read_sources(paths: Iterable[str] | str) -> Sources:
    """Read every pack file below `paths` (files as given, folders expanded)."""
    if isinstance(paths, str):
        paths = [paths]
    paths = list(paths)
    files = pack_files(p for p in paths if os.path.exists(p))
    texts, unreadable = {}, {}
    for file in files:
        text, error = read_text(file)
        if text is None:
            unreadable[file] = error
        else:
            texts[file] = text
    return Sources(tuple(files), texts, unreadable, tuple(p for p in paths if not os.path.exists(p)))


def load_rules(
    paths: Iterable[str] | str,
    env: Mapping[str, str] | None = None,
    protocols: tuple[str, ...] | None = None,
    placeholders: bool = False,
    partial: bool = False,
) -> RuleSet:
    """Load and compile every pack below `paths`; raise PackError listing every problem of every file.

    `protocols` are the names packs may use (`switchyard.packs.load` passes the registry's).
    `placeholders`: unset `${VAR}`s stay visible instead of failing (`RuleSet.unset` lists them).
    `partial`: a file with problems is left out (`RuleSet.left_out` says which and why) and the others
    load; only problems that belong to no one file (a path that does not exist) still raise.
    """
    return compile_rules(read_sources(paths), env, protocols, placeholders, partial)


def compile_rules(
    sources: Sources,
    env: Mapping[str, str] | None = None,
    protocols: tuple[str, ...] | None = None,
    placeholders: bool = False,
    partial: bool = False,
) -> RuleSet:
    """`load_rules` on texts already read (`read_sources`)."""
    problems: list[Problem] = [Problem(path, 1, 1, "no such file or folder") for path in sources.missing]
    files = sources.files
    packs: list[Pack] = []
    unset: list[str] = []
    warnings: list[Problem] = []
    first_file: dict[str, tuple[str, int]] = {}
    for file in files:
        if file in sources.unreadable:
            problems.append(Problem(_display(file), 1, 1, sources.unreadable[file]))
            continue
        doc, syntax = load_text(sources.texts[file], _display(file))
        problems.extend(syntax)
        if doc is None:
            continue
        pack, found = compile_pack(doc, env, protocols, placeholders)
        unset.extend(name for name in doc.unset if name not in unset)
        warnings.extend(doc.warnings)
        problems.extend(found)
        name = doc.data.get("pack") if isinstance(doc.data, dict) else None
        if isinstance(name, str):
            if name in first_file:
                other, line = first_file[name]
                problems.append(doc.problem(("pack",), f"duplicate pack name '{name}' (also in {other}:{line})"))
            else:
                first_file[name] = (doc.file, doc.position(("pack",))[0])
        if pack is not None:
            packs.append(pack)
    problems.extend(_fallback_problems(packs, set(first_file)))
    left_out: dict[str, list[Problem]] = {}
    if partial:
        known = set(files)
        for problem in problems:
            left_out.setdefault(problem.file, []).append(problem)
        if not set(left_out) <= {_display(f) for f in known}:
            raise PackError([p for p in problems if p.file not in {_display(f) for f in known}])
        packs = [pack for pack in packs if pack.file not in left_out]
        problems = []
    if problems:
        raise PackError(problems)
    packs.sort(key=lambda p: (-p.priority, os.path.basename(p.file), p.file))
    out = tuple((file, tuple(found)) for file, found in sorted(left_out.items()))
    return RuleSet(tuple(packs), tuple(files), unset=tuple(unset), warnings=tuple(warnings), left_out=out)


def _fallback_problems(packs: list[Pack], names: set[str]) -> list[Problem]:
    """`fallback:` entries must name another pack that exists, and following them must end somewhere.

    `names` holds every pack name the files declare, compiled or not: an entry naming a pack that
    failed to compile is that pack's problem, reported there, not a missing pack.
    """
    by_name = {pack.name: pack for pack in packs}
    problems = []
    for pack in packs:
        for fb in pack.fallback:
            if fb.pack == pack.name:
                problems.append(Problem(pack.file, fb.line, fb.column, f"pack '{pack.name}' falls back to itself"))
            elif fb.pack not in names:
                problems.append(Problem(pack.file, fb.line, fb.column, f"fallback names no pack: '{fb.pack}'"))
    # A cycle (a -> b -> a) would send a failing request round for ever: reported once, at the entry
    # that closes it, found from the first pack in it.
    cycles: set[frozenset] = set()
    for pack in packs:
        found = _cycle(pack, pack, [pack.name], by_name)
        members = frozenset(found.message.removeprefix("fallback cycle: ").split(" -> ")) if found else None
        if found and members not in cycles:
            cycles.add(members)
            problems.append(found)
    return problems


def _cycle(start: Pack, current: Pack, path: list[str], by_name: dict[str, Pack]) -> Problem | None:
    """The fallback entry that leads from `current` back to `start`, following every path once."""
    for fb in current.fallback:
        if fb.pack == start.name and current is not start:
            return Problem(current.file, fb.line, fb.column, "fallback cycle: " + " -> ".join([*path, start.name]))
        target = by_name.get(fb.pack)
        if target is None or fb.pack in path:
            continue
        found = _cycle(start, target, [*path, fb.pack], by_name)
        if found:
            return found
    return None


def _display(file: str) -> str:
    # Relative to the working directory when below it: messages read `rules/qwen.yaml:3:1`, and no
    # machine path ends up in logs or in the introspection endpoint.
    rel = os.path.relpath(file)
    return file if rel.startswith("..") else rel
