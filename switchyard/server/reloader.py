"""The running rule set, and swapping it for a new one only when every file is valid.

`Rules` holds one immutable `RuleSet`. A reload (SIGHUP, `POST /-/reload`, or a file change with
`--watch`) compiles the whole folder off the event loop and replaces the reference in one
assignment. Requests read `rules.current` once when they start and keep that snapshot to their
last stream event, so no request ever sees half of one rule set and half of another. When any
file is broken the running set stays, and the problems are kept for `/-/rules` and logged.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import os
import time
from dataclasses import dataclass, field

from switchyard import lint, packs
from switchyard.errors import PackError
from switchyard.language.ruleset import RuleSet, pack_files
from switchyard.server.metrics import Metrics

log = logging.getLogger("switchyard.rules")


@dataclass
class ReloadStatus:
    """The outcome of the last reload, for `/-/rules`: when, whether it took, and the problems if not."""

    at: float = field(default_factory=time.time)
    ok: bool = True
    problems: tuple[str, ...] = ()


class Rules:
    """The running rule set of a server (`current`), and the reloads that replace it."""

    def __init__(self, folder: str, initial: RuleSet, metrics: Metrics, partial: bool = False):
        self.folder = folder
        self.partial = partial  # `serve --partial`: broken files are left out instead of failing the load
        self.current = initial
        self.metrics = metrics
        self.last = ReloadStatus()
        self._lock = asyncio.Lock()
        metrics.packs.set(len(initial.packs))
        metrics.packs_left_out.set(len(initial.left_out))
        _log_left_out(initial)
        metrics.last_reload_ok.set(1)
        metrics.last_reload_time.set(time.time())

    @classmethod
    def load(cls, folder: str, metrics: Metrics, partial: bool = False) -> Rules:
        """Start-up load: a broken pack raises PackError (fatal, with every problem), unless `partial`."""
        rules = packs.load(folder, partial=partial)
        _log_warnings(rules)
        return cls(folder, rules, metrics, partial)

    async def reload(self, reason: str) -> bool:
        # One reload at a time: two SIGHUPs in a row must not race to install older files last.
        async with self._lock:
            started = time.perf_counter()
            try:
                rules = await asyncio.to_thread(functools.partial(packs.load, self.folder, partial=self.partial))
            except Exception as exc:  # a folder that vanished, a permission error: still only a failed reload
                self.refused(reason, exc)
                return False
            self.install(reason, rules, started)
            await asyncio.to_thread(_log_warnings, rules)  # the packs run on samples: off the event loop
            return True

    def refused(self, reason: str, exc: Exception) -> None:
        """A reload that failed: the running set stays; the problems are kept, counted and logged."""
        problems = [str(p) for p in exc.problems] if isinstance(exc, PackError) else [f"{type(exc).__name__}: {exc}"]
        self.last = ReloadStatus(ok=False, problems=tuple(problems))
        self.metrics.reloads.labels("failure").inc()
        self.metrics.last_reload_ok.set(0)
        self.metrics.last_reload_time.set(self.last.at)
        log.error(
            "reload (%s) failed; %d pack(s) stay in force:\n%s",
            reason,
            len(self.current.packs),
            "\n".join(self.last.problems),
        )

    def install(self, reason: str, rules: RuleSet, started: float) -> None:
        """A reload that succeeded: `rules` replace the running set in one assignment."""
        changes = changed_packs(self.current, rules)
        self.current = rules
        self.last = ReloadStatus()
        self.metrics.reloads.labels("success").inc()
        self.metrics.packs.set(len(rules.packs))
        self.metrics.packs_left_out.set(len(rules.left_out))
        _log_left_out(rules)
        self.metrics.last_reload_ok.set(1)
        self.metrics.last_reload_time.set(self.last.at)
        log.info(
            "reload (%s): %d pack(s) loaded in %.1f ms; %s",
            reason,
            len(rules.packs),
            (time.perf_counter() - started) * 1000,
            "; ".join(changes) or "no pack changed",
        )

    async def watch(self, interval: float = 1.0) -> None:
        """Reload when a pack file appears, disappears or changes (mtime and size), polling the folder.

        Polling a handful of files once a second costs nothing and, unlike inotify, also works on
        the bind mounts and ConfigMap volumes (symlink swaps) that sidecars are deployed with.
        """
        seen = self._fingerprint()
        while True:
            await asyncio.sleep(interval)
            now = self._fingerprint()
            if now != seen:
                seen = now
                await self.reload("files changed")

    def _fingerprint(self) -> tuple:
        return fingerprint(self.folder)


def fingerprint(folder: str) -> tuple:
    """What `--watch` compares: each pack file of the folder with its mtime and size."""
    out = []
    try:
        files = pack_files([folder]) if os.path.isdir(folder) else []
    except OSError:  # the folder is being replaced (a ConfigMap symlink swap): look again next tick
        files = []
    for file in files:
        try:
            st = os.stat(file)
        except OSError:
            continue
        out.append((file, st.st_mtime_ns, st.st_size))
    return tuple(out)


def version(rules: RuleSet) -> str:
    """The rule set in force, in 12 hex digits: its packs' names and content hashes, and the files left out.

    Two processes that report the same version serve the same packs (`/-/rules`; with `--workers`
    every worker reports the supervisor's).
    """
    digest = hashlib.sha256()
    for pack in rules.packs:
        digest.update(f"pack {pack.name} {pack.digest}\n".encode())
    for file, problems in rules.left_out:
        digest.update(f"left out {file}: {'; '.join(map(str, problems))}\n".encode())
    return digest.hexdigest()[:12]


def changed_packs(old: RuleSet, new: RuleSet) -> list[str]:
    """What a reload changed, pack by pack, with content hashes: `qwen 1a2b3c4d -> 5e6f7a8b`, `added glm ...`."""
    before = {p.name: p.digest[:12] for p in old.packs}
    after = {p.name: p.digest[:12] for p in new.packs}
    out = [
        f"{name} {before[name]} -> {after[name]}" for name in after if name in before and before[name] != after[name]
    ]
    out += [f"added {name} {after[name]}" for name in after if name not in before]
    out += [f"removed {name} {before[name]}" for name in before if name not in after]
    return out


def _log_left_out(rules: RuleSet) -> None:
    for file, problems in rules.left_out:
        log.error("pack file %s left out (--partial); the other packs serve:\n%s", file, "\n".join(map(str, problems)))


def _log_warnings(rules: RuleSet) -> None:
    """What `switchyard check` warns about (it loads, but is likely a mistake), as FILE:LINE:COL lines."""
    found = [*map(str, rules.warnings), *lint.warnings(rules.packs)]
    if found:
        log.warning("%d warning(s) about the packs (they are served):\n%s", len(found), "\n".join(found))
