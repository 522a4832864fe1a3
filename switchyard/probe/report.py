"""What the probe says when it is done: requests used, and what was accepted, rejected, mapped, undecided.

Plain text for a person, one decision per line with the request that showed it. Everything quoted
from the provider went through `Client.redact`, so the key cannot appear here.
"""

from __future__ import annotations

from switchyard.probe.draft import ACCEPTED, MAPPED, REJECTED, UNDECIDED
from switchyard.probe.session import Outcome


def report(outcome: Outcome, endpoint: str) -> str:
    draft = outcome.draft
    lines = [f"switchyard probe: {len(outcome.exchanges)} of {outcome.max_requests} requests to {endpoint}"]
    if outcome.stopped:
        lines.append(f"stopped: {outcome.stopped}")
    accepted = draft.of(ACCEPTED)
    lines.append(f"accepted ({len(accepted)}): " + (", ".join(d.feature.name for d in accepted) or "nothing"))
    mapped = draft.of(MAPPED)
    lines.append(f"mapped ({len(mapped) + len(draft.response) // 2}):")
    for d in mapped:
        numbers = ", ".join(str(e.number) for e in d.evidence)
        lines.append(f"  {d.feature.name}: {d.alternative.label} (requests {numbers})")
    for step in draft.response[::2]:
        ((source, target),) = step.step["rename"].items()
        lines.append(f"  stream: {source.rsplit('.', 1)[-1]} -> {target}")
    rejected = draft.of(REJECTED)
    lines.append(f"rejected ({len(rejected)}):")
    for d in rejected:
        what = "left out by keep" if d.feature.field else "no known alternative was accepted: clients sending it fail"
        lines.append(f"  {d.feature.name} ({what}): {d.evidence[0].cite()}")
    undecided = draft.of(UNDECIDED)
    lines.append(f"undecided ({len(undecided) + len(draft.notes)}):")
    lines += [f"  {d.feature.name}: {d.note}" for d in undecided]
    lines += [f"  {note}" for note in draft.notes]
    for what, reading in outcome.readings:
        lines.append(f"stream ({what}): {reading.describe()}")
    return "\n".join(lines)
