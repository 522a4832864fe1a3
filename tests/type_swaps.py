"""Type-swapped variants of a JSON body, for property-style tests of code that reads client bodies.

`variants(bodies, count, seed)` takes golden inputs and yields `(label, body)` pairs in which the value
at one path (an object key or an array index, at any depth, the root excepted) is replaced by a value of
another JSON type. The choice is seeded and bounded, so a run is repeatable and quick; the label
(`messages[2].content <- 7`) names the change, for a failure message that says what broke.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator
from typing import Any

# One of each JSON type, and the empty and one-element forms code most often gets wrong.
REPLACEMENTS: tuple[Any, ...] = ("x", "", 7, 1.5, True, None, [], ["x"], [7], {}, {"type": "x"})


def paths(value: Any, prefix: tuple = ()) -> Iterator[tuple]:
    """Every path below `value` (not the root itself), parents before children."""
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return
    for key, inner in items:
        yield (*prefix, key)
        yield from paths(inner, (*prefix, key))


def label(path: tuple) -> str:
    text = ""
    for key in path:
        text += f"[{key}]" if isinstance(key, int) else (f".{key}" if text else str(key))
    return text


def replaced(body: Any, path: tuple, value: Any) -> Any:
    copied = copy.deepcopy(body)
    holder = copied
    for key in path[:-1]:
        holder = holder[key]
    holder[path[-1]] = copy.deepcopy(value)
    return copied


def variants(bodies: dict[str, Any], count: int, seed: int) -> list[tuple[str, Any]]:
    """`count` seeded (label, body) pairs, each one value of one golden body replaced by another type."""
    choices = [(name, path) for name, body in sorted(bodies.items()) for path in paths(body)]
    rng = random.Random(seed)
    picked = []
    for _ in range(count):
        name, path = rng.choice(choices)
        value = rng.choice(REPLACEMENTS)
        picked.append((f"{name}: {label(path)} <- {value!r}", replaced(bodies[name], path, value)))
    return picked
