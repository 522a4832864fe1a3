"""One worker process of `serve --workers N`: the single-process server, on its own listener, following a snapshot.

A worker is forked by the supervisor (`switchyard.server.supervisor`) and is the same app as
`serve --workers 1` (`app_from_args`, the same uvicorn settings, the same drain) with three
differences: its rules are the supervisor's snapshot (`SnapshotRules`: SIGHUP means "take up the
new snapshot", `POST /-/reload` asks the supervisor to decide), its metrics are shared between
processes (`SharedMetrics`), and it does not watch the folder (the supervisor does, once). Its
upstream connection pool is its own: aiohttp sessions are made in the worker, after the fork.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import signal
import socket
from dataclasses import dataclass

from switchyard.server.app import app_from_args, server_config
from switchyard.server.lifecycle import Lifecycle
from switchyard.server.lifecycle import run as lifecycle_run
from switchyard.server.logs import access_log
from switchyard.server.snapshot import SnapshotRules
from switchyard.server.workermetrics import SharedMetrics

EXIT_STARTUP_FAILURE = 3  # uvicorn's own code for a server that could not start

_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class Paths:
    """Where a worker finds its supervisor: the snapshot file and the control socket."""

    snapshot: str
    control: str


def run(args: argparse.Namespace, sockets: list[socket.socket], paths: Paths, ready_fd: int, supervisor: int) -> int:
    """Serve on `sockets` until drained or stopped; write this pid to `ready_fd` once listening."""
    # The supervisor's handlers are not this process's. SIGHUP is ignored until the
    # app's own handler is in place: a reload arriving while the worker starts must not kill it (the
    # supervisor sends it another once the worker says it is serving).
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    _die_with(supervisor)

    access_log.in_worker(os.getpid())  # N workers write to one stream: each line says whose it is
    lifecycle = Lifecycle(args.grace, args.shutdown_delay)
    metrics = SharedMetrics()
    rules = SnapshotRules(args.rules, metrics, paths.snapshot, paths.control, args.partial)
    app = app_from_args(args, lifecycle, rules=rules, metrics=metrics, watch=False)
    started = []

    def listening() -> None:
        started.append(True)
        os.write(ready_fd, f"{os.getpid()}\n".encode())

    lifecycle_run(server_config(app, args), lifecycle, sockets, started=listening, second_sigterm_stops=False)
    return 0 if started else EXIT_STARTUP_FAILURE


def _die_with(supervisor: int) -> None:
    """Have the kernel send SIGTERM (a drain) to this worker if the supervisor dies, say of SIGKILL.

    Without it a killed supervisor would leave its workers serving with nobody to reload or restart
    them. Linux only (prctl); elsewhere the workers outlive a killed supervisor.
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != supervisor:  # it died before the line above took effect
        os.kill(os.getpid(), signal.SIGTERM)
