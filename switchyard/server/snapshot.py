"""Reload as one decision across the workers of `serve --workers N`: the supervisor decides, workers follow.

The supervisor reads the rules folder once, compiles what it read to validate it, and writes a
*snapshot*: a JSON file holding those very texts (`Sources`), the reload's status (when, ok, the
problems) and the version of the rule set they make. It replaces the file atomically (a temporary
file renamed over it), then sends SIGHUP to every worker; a worker reads the file and compiles the
texts in it, never the folder. So a file that changes between validation and the workers' loads
cannot reach them unvalidated, a broken file reaches none of them (the snapshot keeps the previous
texts and only its status changes), and every worker reports the same version, packs, load time and
last reload at `/-/rules`. A worker started later (a replacement) starts from the snapshot too.

`POST /-/reload` reaches one worker; it asks the supervisor over a Unix socket in the same private
folder, the supervisor decides as for SIGHUP and answers with the outcome, and the worker answers
its client as one process would (200, or 422 with the problems).

Counters of reloads are the supervisor's alone (one decision, counted once); the gauges describing
the rule set are set by every process alike (`workermetrics` keeps the most recent).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import time

import orjson

from switchyard import packs
from switchyard.errors import PackError
from switchyard.language.ruleset import RuleSet, Sources
from switchyard.server.metrics import Metrics
from switchyard.server.reloader import ReloadStatus, Rules, version

log = logging.getLogger("switchyard.rules")

ASK_TIMEOUT = 60.0  # a reload compiles a folder of packs: well under a second; this is the backstop


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """What every worker runs: the validated texts, their version, and the last reload's status."""

    seq: int
    version: str
    sources: Sources
    loaded_at: float
    last: ReloadStatus

    def write(self, path: str) -> None:
        data = {
            "seq": self.seq,
            "version": self.version,
            "files": list(self.sources.files),
            "texts": dict(self.sources.texts),
            "unreadable": dict(self.sources.unreadable),
            "missing": list(self.sources.missing),
            "loaded_at": self.loaded_at,
            "last": {"at": self.last.at, "ok": self.last.ok, "problems": list(self.last.problems)},
        }
        temporary = f"{path}.{os.getpid()}.tmp"
        with open(temporary, "wb") as f:
            f.write(orjson.dumps(data))
        os.replace(temporary, path)  # atomic: a worker reads the old snapshot or the new one, never half

    @classmethod
    def read(cls, path: str) -> Snapshot:
        with open(path, "rb") as f:
            data = orjson.loads(f.read())
        sources = Sources(tuple(data["files"]), data["texts"], data["unreadable"], tuple(data["missing"]))
        last = ReloadStatus(at=data["last"]["at"], ok=data["last"]["ok"], problems=tuple(data["last"]["problems"]))
        return cls(data["seq"], data["version"], sources, data["loaded_at"], last)

    def compile(self, partial: bool) -> RuleSet:
        # The supervisor's load time, not this worker's: every worker shows the same `loaded_at`.
        return dataclasses.replace(packs.compile_sources(self.sources, partial=partial), loaded_at=self.loaded_at)


class Decider(Rules):
    """The supervisor's side: the one reload decision, written as a snapshot for the workers."""

    def __init__(self, folder: str, metrics: Metrics, path: str, partial: bool = False):
        """Start-up load; a broken pack raises PackError (fatal, with every problem), unless `partial`."""
        sources = packs.read(folder)
        super().__init__(folder, packs.compile_sources(sources, partial=partial), metrics, partial)
        self.path = path
        self.seq = 0
        self.sources = sources
        self._publish()

    def decide(self, reason: str) -> bool:
        """Read the folder once, validate it, and publish the outcome; True when the new texts are in force."""
        started = time.perf_counter()
        try:
            sources = packs.read(self.folder)
            rules = packs.compile_sources(sources, partial=self.partial)
        except Exception as exc:  # PackError, or a folder that vanished: the running set stays
            self.refused(reason, exc)
            ok = False
        else:
            self.install(reason, rules, started)
            self.sources = sources
            ok = True
        self._publish()
        return ok

    def _publish(self) -> None:
        self.seq += 1
        snapshot = Snapshot(self.seq, version(self.current), self.sources, self.current.loaded_at, self.last)
        snapshot.write(self.path)


class SnapshotRules(Rules):
    """A worker's side: the running rule set is the supervisor's snapshot, compiled here."""

    def __init__(self, folder: str, metrics: Metrics, path: str, control: str, partial: bool = False):
        snapshot = Snapshot.read(path)
        super().__init__(folder, snapshot.compile(partial), metrics, partial)
        self.path = path
        self.control = control  # the supervisor's Unix socket, for `POST /-/reload`
        self.seq = snapshot.seq
        self._follow(snapshot, self.current)

    async def reload(self, reason: str) -> bool:
        """SIGHUP (from the supervisor): take up its snapshot. `POST /-/reload`: ask it to decide first."""
        ok = None
        if reason != "SIGHUP":
            ok = await self._ask(reason)
        async with self._lock:
            snapshot = await asyncio.to_thread(Snapshot.read, self.path)
            if snapshot.seq > self.seq:
                rules = self.current
                if snapshot.version != version(self.current):
                    try:
                        rules = await asyncio.to_thread(snapshot.compile, self.partial)
                    except PackError as exc:  # the supervisor validated these texts: only a bug gets here
                        log.error("worker %d cannot compile snapshot %d: %s", os.getpid(), snapshot.seq, exc)
                        return False
                self.seq = snapshot.seq
                self._follow(snapshot, rules)
        return self.last.ok if ok is None else ok

    def _follow(self, snapshot: Snapshot, rules: RuleSet) -> None:
        self.current = rules
        self.last = snapshot.last
        self.metrics.packs.set(len(rules.packs))
        self.metrics.packs_left_out.set(len(rules.left_out))
        self.metrics.last_reload_ok.set(1 if snapshot.last.ok else 0)
        self.metrics.last_reload_time.set(snapshot.last.at)
        log.debug("worker %d runs snapshot %d (version %s)", os.getpid(), snapshot.seq, version(rules))

    async def _ask(self, reason: str) -> bool:
        try:
            reader, writer = await asyncio.open_unix_connection(self.control)
            try:
                writer.write(reason.encode() + b"\n")
                await writer.drain()
                answer = orjson.loads(await asyncio.wait_for(reader.readline(), ASK_TIMEOUT))
            finally:
                writer.close()
            return bool(answer["ok"])
        except (OSError, TimeoutError, orjson.JSONDecodeError, KeyError, TypeError) as exc:
            log.error("reload (%s): the supervisor did not answer: %s", reason, exc)
            return False


def answer(decider: Decider, reason: str) -> bytes:
    """The supervisor's reply to a worker's `POST /-/reload`, after deciding."""
    return orjson.dumps({"ok": decider.decide(reason)}) + b"\n"
