"""Identifiers the proxy makes up: request ids, and response and item ids the upstream protocol lacks.

They must be unique, not secret: nothing is authorised by knowing one. So they come from Python's
PRNG (seeded from the OS once) rather than from `os.urandom`, which is a system call per id and
showed up at 4% of the proxy's CPU under load.
"""

from __future__ import annotations

import random

_bits = random.SystemRandom().getrandbits(64)
_random = random.Random(_bits).getrandbits


def new_id(prefix: str) -> str:
    """`prefix_` plus 24 hex characters, the look of OpenAI's own ids (`resp_...`, `msg_...`, `fc_...`)."""
    return f"{prefix}_{_random(96):024x}"
