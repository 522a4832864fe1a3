"""Identifiers the bridges make up for objects the upstream protocol does not have (response ids, item ids)."""

from __future__ import annotations

import os


def new_id(prefix: str) -> str:
    """`prefix_` plus 24 random hex characters, the look of OpenAI's own ids (`resp_...`, `msg_...`, `fc_...`)."""
    return f"{prefix}_{os.urandom(12).hex()}"
