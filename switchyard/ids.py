"""Identifiers the proxy makes up: request ids, and response and item ids the upstream protocol lacks.

They must be unique, not secret: nothing is authorised by knowing one. So they come from Python's
PRNG (seeded from the OS) rather than from `os.urandom`, which is a system call per id and showed
up at 4% of the proxy's CPU under load.

A forked process (a worker of `serve --workers N`) seeds its generator anew: otherwise every worker
would carry on from the supervisor's state and make the very same ids, and a request id would name
a request in each worker's log and traces.
"""

from __future__ import annotations

import os
import random

_generator = random.Random(random.SystemRandom().getrandbits(64))
_random = _generator.getrandbits


def _reseed() -> None:
    _generator.seed(random.SystemRandom().getrandbits(64))


os.register_at_fork(after_in_child=_reseed)


def new_id(prefix: str) -> str:
    """`prefix_` plus 24 hex characters, the look of OpenAI's own ids (`resp_...`, `msg_...`, `fc_...`)."""
    return f"{prefix}_{_random(96):024x}"
