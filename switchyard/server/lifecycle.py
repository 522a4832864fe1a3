"""Shutdown the Kubernetes way: stop being ready, keep serving briefly, drain, end what is left cleanly, exit 0.

On SIGTERM (what `docker stop` and Kubernetes send, and what PID 1 in a container gets):

1. `/readyz` answers 503 at once, so the endpoints controller takes the pod out of rotation;
2. for `--shutdown-delay` seconds the listener keeps accepting, because load balancers and kube-proxy
   learn of the removal only after a moment, and a connection refused in between is a failed call;
3. then the listener closes and in-flight requests and streams run on for up to `--grace` seconds;
4. a stream still running when the grace ends is ended with an error event in its client's own
   protocol (`response.failed` for Codex, an error chunk and `[DONE]` for Chat clients), never cut
   mid-event, so the client retries against another replica instead of parsing half a line;
5. the process exits 0.

A second SIGTERM, or SIGINT, is uvicorn's: stop now. The defaults (5 s + 25 s) fit inside
Kubernetes' default 30 s termination grace period.

The design choice: uvicorn already stops accepting and waits for connections on `should_exit`; this
module only decides *when* to set it and what to do about streams that would outlive the wait, so
the server keeps uvicorn's own, well-tested shutdown path.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable

log = logging.getLogger("switchyard")

DEFAULT_GRACE = 25.0
DEFAULT_SHUTDOWN_DELAY = 5.0


class Lifecycle:
    """The drain state of one server: whether it is draining, and the streams to end when the grace is over."""

    def __init__(self, grace: float = DEFAULT_GRACE, delay: float = DEFAULT_SHUTDOWN_DELAY):
        self.grace = grace
        self.delay = delay
        self.draining = False
        self._streams: dict[object, Callable[[], None]] = {}

    def track(self, key: object, end: Callable[[], None]) -> None:
        """A stream in flight; `end()` makes it finish with an error event in its client's protocol."""
        self._streams[key] = end

    def untrack(self, key: object) -> None:
        self._streams.pop(key, None)

    def drain(self, stop_accepting: Callable[[], None]) -> None:
        """Begin the shutdown; `stop_accepting` closes the listener (after the delay)."""
        if self.draining:
            return
        self.draining = True
        loop = asyncio.get_running_loop()
        log.info(
            "SIGTERM: not ready any more; accepting for %.1f s more, then draining for up to %.1f s",
            self.delay,
            self.grace,
        )
        loop.call_later(self.delay, stop_accepting)
        loop.call_later(self.delay + self.grace, self.end_streams)

    def end_streams(self) -> None:
        if self._streams:
            log.warning("grace period over: ending %d stream(s) with an error event", len(self._streams))
        for end in list(self._streams.values()):
            end()


def run(
    config,
    lifecycle: Lifecycle,
    sockets: list,
    *,
    started: Callable[[], None] | None = None,
    second_sigterm_stops: bool = True,
) -> None:
    """Run uvicorn on `sockets`, with SIGTERM turned into the drain above instead of an immediate shutdown.

    `started` is called once the server listens (a worker tells its supervisor so). A worker of
    `serve --workers` passes `second_sigterm_stops=False`: systemd and `kill` on a process group
    send SIGTERM to every process as well as to the supervisor, which forwards its own; a worker must
    not take the second copy for "stop now" (the supervisor sends SIGINT for that).

    uvicorn is imported here, not at the top: the command line imports this module for its defaults,
    and only `serve` should pay for the server.
    """
    import uvicorn

    class DrainingServer(uvicorn.Server):
        def handle_exit(self, sig: int, frame) -> None:
            if sig == signal.SIGTERM and not lifecycle.draining:
                # Not recorded as a captured signal: uvicorn would raise it again after shutting
                # down, and the process would die of it instead of exiting 0.
                asyncio.get_event_loop().call_soon_threadsafe(lifecycle.drain, self.stop_accepting)
                return
            if sig == signal.SIGTERM and not second_sigterm_stops:
                return
            super().handle_exit(sig, frame)

        async def startup(self, sockets=None) -> None:
            await super().startup(sockets=sockets)
            if started and self.started and not self.should_exit:
                started()

        def stop_accepting(self) -> None:
            self.should_exit = True

    DrainingServer(config).run(sockets=sockets)
