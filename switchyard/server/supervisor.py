"""`serve --workers N`: a supervisor process and N forked workers on one port.

The supervisor validates the rules (a broken pack stops start-up, exit 1, as with one process),
binds the listeners, forks the workers, and then only decides: reloads (SIGHUP, `--watch`, or a
worker's `POST /-/reload`, see `switchyard.server.snapshot`), restarts (a worker that dies is
replaced and the death logged; one that dies before it serves stops everything, exit 1), and
shutdown (SIGTERM is forwarded, every worker drains as one process does, exit 0 when all did; a
second SIGTERM or SIGINT stops them at once). It serves no request and runs no event loop, so
forking from it is safe at any time.

The listeners, the design choice: one SO_REUSEPORT socket per worker *slot*, all bound by the
supervisor before any worker starts. The kernel spreads incoming connections over the slots by a
hash of each connection, so clients that keep their connections alive (every SDK does) end up
spread over the workers. With one shared socket, which is what uvicorn's own `workers=` and
gunicorn do, each worker's event loop accepts every pending connection it can when it wakes, so a
burst of new connections tends to land on one worker and stays there. Binding in the supervisor
keeps start-up errors where they were ("cannot listen", exit 2, before any worker exists), and a
slot outlives its worker: connections queued on a dead worker's slot wait for its replacement
instead of being reset. On SIGTERM the supervisor closes its copies, so each slot closes when its
worker stops accepting. (A trade-off of SO_REUSEPORT: a second `serve --workers` run by the same
user on the same port joins the group instead of failing.)

uvicorn's `workers=` is not used: it needs the app as an import string (ours is built from flags,
with the rules validated before binding), and its supervisor knows nothing of one reload decision
or of the drain. `--workers 1` never comes here: it is the single-process server, unchanged.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import selectors
import shutil
import signal
import socket
import sys
import tempfile
import time
from dataclasses import dataclass, field

from switchyard.errors import PackError
from switchyard.server import worker as worker_process
from switchyard.server import workermetrics
from switchyard.server.app import listening, refused_bind, report_pack_error
from switchyard.server.logs import access_log, setup_logging
from switchyard.server.reloader import fingerprint
from switchyard.server.snapshot import Decider, answer

log = logging.getLogger("switchyard")

START_TIMEOUT = 30.0  # a worker not serving after this long is a worker that cannot start
BACKSTOP = 15.0  # after --shutdown-delay + --grace + this, workers still running are killed


@dataclass
class Worker:
    slot: int  # which listeners it serves (a replacement takes its predecessor's)
    forked_at: float = field(default_factory=time.monotonic)
    serving: bool = False


def serve(args: argparse.Namespace) -> int:
    setup_logging(args.log_format, args.log_level)
    if refusal := refused_bind(args):
        print(f"switchyard serve: {refusal}", file=sys.stderr)
        return 2
    try:  # the workers' metrics and control files; a read-only root needs a writable TMPDIR
        folder = tempfile.mkdtemp(prefix="switchyard-workers-")
    except OSError as exc:
        print(
            f"switchyard serve: --workers {args.workers} needs a writable temporary folder: {exc.strerror or exc} "
            f"({exc.filename or os.environ.get('TMPDIR', '/tmp')}); mount one (an emptyDir at /tmp) or set TMPDIR",
            file=sys.stderr,
        )
        return 2
    try:
        return Supervisor(args, folder).run()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


class Supervisor:
    def __init__(self, args: argparse.Namespace, folder: str):
        self.args = args
        self.paths = worker_process.Paths(os.path.join(folder, "snapshot.json"), os.path.join(folder, "control"))
        self.metrics_folder = os.path.join(folder, "metrics")
        self.workers: dict[int, Worker] = {}
        self.slots: list[list[socket.socket]] = []
        self.stopping: str | None = None  # "drain" (SIGTERM), "now" (SIGINT, second SIGTERM) or "failed"
        self.deadline = float("inf")
        self.code = 0

    def run(self) -> int:
        os.mkdir(self.metrics_folder)
        workermetrics.use_folder(self.metrics_folder)  # before the first metric exists
        try:
            self.decider = Decider(
                self.args.rules, workermetrics.SharedMetrics(), self.paths.snapshot, self.args.partial
            )
        except PackError as exc:
            return report_pack_error(exc, self.args.rules)
        try:
            self._bind()
        except OSError as exc:
            print(f"switchyard serve: cannot listen: {exc.strerror or exc}", file=sys.stderr)
            return 2
        self.control = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.control.bind(self.paths.control)
        self.control.listen(64)
        self.control.setblocking(False)
        self.ready_r, self.ready_w = os.pipe()
        self.wake_r, self.wake_w = os.pipe()
        for fd in (self.ready_r, self.wake_r, self.wake_w):
            os.set_blocking(fd, False)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.wake_r, selectors.EVENT_READ, self._on_signals)
        self.selector.register(self.ready_r, selectors.EVENT_READ, self._on_ready)
        self.selector.register(self.control, selectors.EVENT_READ, self._on_reload_request)
        # The handlers do nothing: the signal's number arrives on the wake-up pipe, and the loop acts.
        signal.set_wakeup_fd(self.wake_w)
        for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
            signal.signal(sig, lambda *_: None)
        log.info(
            "supervisor %d: %d workers %s, %d pack(s) from %s",
            os.getpid(),
            len(self.slots),
            listening(self.slots[0]),
            len(self.decider.current.packs),
            self.args.rules,
        )
        for slot in range(len(self.slots)):
            self._fork(slot)
        return self._loop()

    def _bind(self) -> None:
        port, admin_port = self.args.port, self.args.admin_port
        for _ in range(self.args.workers):
            listeners = [_listen(self.args.host, port)]
            port = listeners[0].getsockname()[1]  # `--port 0`: every slot on the port the first got
            if admin_port:
                listeners.append(_listen(self.args.admin_host, admin_port))
            self.slots.append(listeners)

    def _loop(self) -> int:
        seen = fingerprint(self.args.rules) if self.args.watch else None
        while self.workers or not self.stopping:
            timeout = 1.0 if self.args.watch or any(not w.serving for w in self.workers.values()) else None
            if self.stopping:
                timeout = max(0.0, min(timeout or 1.0, self.deadline - time.monotonic()))
            for key, _ in self.selector.select(timeout):
                key.data()
            self._reap()  # also without SIGCHLD: a wake-up byte can be lost when the pipe is full
            now = time.monotonic()
            for pid, w in list(self.workers.items()):
                if not w.serving and not self.stopping and now - w.forked_at > START_TIMEOUT:
                    self._fail(f"worker {w.slot + 1} (pid {pid}) did not start serving in {START_TIMEOUT:.0f} s")
            if self.stopping and now > self.deadline:
                log.error("workers still running after the grace period: killing %s", sorted(self.workers))
                self._send(signal.SIGKILL)
                self.code = 1
                self.deadline = float("inf")
            if seen is not None and not self.stopping and (now_seen := fingerprint(self.args.rules)) != seen:
                seen = now_seen
                self._reload("files changed")
        log.info("supervisor %d: every worker has exited", os.getpid())
        return self.code

    def _fork(self, slot: int) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the worker: never returns into the supervisor's code (its `finally` removes the folder)
            code = 1
            try:
                signal.set_wakeup_fd(-1)  # before its pipe is closed below: a signal must not write there
                self._close_supervisor_only(slot)
                code = worker_process.run(self.args, self.slots[slot], self.paths, self.ready_w, os.getppid())
            except BaseException:
                log.exception("worker %d (pid %d) failed", slot + 1, os.getpid())
            finally:
                access_log.flush()  # os._exit runs no atexit hook: the last lines of the drain go out here
                logging.shutdown()
                os._exit(code)
        self.workers[pid] = Worker(slot)

    def _close_supervisor_only(self, slot: int) -> None:
        # A worker holding another slot's listener would keep it open (and queuing) after that slot's
        # worker stopped accepting.
        self.selector.close()
        self.control.close()
        for fd in (self.ready_r, self.wake_r, self.wake_w):
            os.close(fd)
        for other, listeners in enumerate(self.slots):
            if other != slot:
                for sock in listeners:
                    sock.close()

    def _on_signals(self) -> None:
        with contextlib.suppress(BlockingIOError):
            for number in os.read(self.wake_r, 512):
                if number == signal.SIGHUP and not self.stopping:
                    self._reload("SIGHUP")
                elif number == signal.SIGTERM and not self.stopping:
                    log.info("supervisor: SIGTERM; every worker drains")
                    self._stop("drain", signal.SIGTERM)
                elif number in (signal.SIGTERM, signal.SIGINT) and self.stopping != "now":
                    self._stop("now", signal.SIGINT)

    def _on_ready(self) -> None:
        with contextlib.suppress(BlockingIOError):
            for line in os.read(self.ready_r, 4096).split():
                pid = int(line)
                if (w := self.workers.get(pid)) is not None:
                    w.serving = True
                    log.info("worker %d (pid %d) serving", w.slot + 1, pid)
                    # A reload decided while it started found SIGHUP ignored: it looks at the snapshot now.
                    os.kill(pid, signal.SIGHUP)

    def _on_reload_request(self) -> None:
        try:
            conn, _ = self.control.accept()
        except BlockingIOError:
            return
        with conn:
            conn.setblocking(True)
            conn.settimeout(5.0)
            try:
                reason = conn.makefile("rb").readline().decode(errors="replace").strip() or "POST /-/reload"
                conn.sendall(answer(self.decider, reason) if not self.stopping else b'{"ok": false}\n')
                self._notify()
            except OSError as exc:
                log.warning("supervisor: a reload request failed: %s", exc)

    def _reload(self, reason: str) -> None:
        self.decider.decide(reason)
        self._notify()

    def _notify(self) -> None:
        for pid, w in self.workers.items():
            if w.serving:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGHUP)

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            w = self.workers.pop(pid, None)
            if w is None:
                continue
            workermetrics.mark_dead(pid)
            code = os.waitstatus_to_exitcode(status)
            how = f"signal {signal.Signals(-code).name}" if code < 0 else f"code {code}"
            if self.stopping:
                if code != 0 and self.stopping == "drain":
                    log.error("worker %d (pid %d) exited with %s while draining", w.slot + 1, pid, how)
                    self.code = 1
            elif not w.serving:
                self._fail(f"worker {w.slot + 1} (pid {pid}) exited with {how} before it was serving")
            else:
                log.error("worker %d (pid %d) exited unexpectedly with %s; starting another", w.slot + 1, pid, how)
                self._fork(w.slot)

    def _fail(self, why: str) -> None:
        log.error("%s; stopping every worker", why)
        print(f"switchyard serve: {why}; not serving", file=sys.stderr)
        self.code = 1
        self._stop("failed", signal.SIGINT)

    def _stop(self, how: str, sig: int) -> None:
        if not self.stopping:
            self.deadline = time.monotonic() + self.args.shutdown_delay + self.args.grace + BACKSTOP
            # No more workers will be forked: each slot now closes when its worker stops accepting.
            for listeners in self.slots:
                for sock in listeners:
                    sock.close()
        self.stopping = how
        self._send(sig)

    def _send(self, sig: int) -> None:
        for pid in self.workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=2048, reuse_port=True)
