"""Which part of the request path is behind a field a provider refused: the story of one path.

A provider answers 400 naming a field (`param`, or the field's name in its message). Request traces
hold what the bridge and each step changed (`switchyard.pipeline.Observation`); this module walks
those observations backwards from the body that was sent and tells where the field came from:

    the client sent max_output_tokens
    bridge responses -> chat renamed max_output_tokens -> max_tokens
    request step 1 (rename) (line 8) renamed max_tokens -> max_completion_tokens
    sent upstream as max_completion_tokens; no step removed it (3 request steps ran)

Backwards, because a rename moves the field under another name: the walk follows it to the name it
had before. It stops at the observation that added the field, or reaches the client. Paths are the
ones `switchyard.language.explain` writes (`messages[0].role`, `"x.y"` quoted); only whether a path
exists in a body is looked at, never its value.
"""

from __future__ import annotations

import re
from typing import Any

from switchyard.pipeline import Observation

# A provider's spelling of a nested field -> ours: DashScope's `messages.[0].role`, Anthropic's `messages.0.role`.
_BRACKET = re.compile(r"\.\[(\d+)\]")
_DOTTED_INDEX = re.compile(r"\.(\d+)(?=$|[.\[])")
_PART = re.compile(r'\.?("(?:[^"\\]|\\.)*"|[^.\[\]"]+)|\[(\d+)\]')
MAX_FIELDS = 3


def suspects(param: str | None, message: str, sent: Any) -> list[str]:
    """The fields a provider's error points at: its `param`, else top-level fields sent that its message names."""
    if param:
        return [normalize(param)]
    if not isinstance(sent, dict):
        return []
    named = [k for k in sent if re.search(rf"(?<![\w.-]){re.escape(k)}(?![\w-])", message)]
    return named[:MAX_FIELDS]


def normalize(path: str) -> str:
    path = path.strip().removeprefix("body.")
    return _DOTTED_INDEX.sub(r"[\1]", _BRACKET.sub(r"[\1]", path))


def story(path: str, client: Any, sent: Any, observations: list[Observation]) -> dict:
    """Where `path` of the sent body came from, one line per part of the path that touched it."""
    lines: list[str] = []
    current = path
    origin = "client"
    for obs in reversed([o for o in observations if o.ran and o.stage == "request"]):
        changes = obs.changes
        moved = next(((a, b) for a, b in changes.renamed if covers(b, current)), None)
        if moved is not None:
            old, new = moved
            lines.append(f"{obs.label} renamed {old} -> {new}")
            current = old + current[len(new) :]
            continue
        added = next((p for p in changes.added if covers(p, current)), None)
        if added is not None:
            lines.append(f"{obs.label} added {added}")
            origin = obs.label
            break
        paths = changes.changed + changes.added + changes.removed
        touched = [p for p in paths if covers(p, current) or covers(current, p)]
        if touched:
            more = f" and {len(touched) - 3} more" if len(touched) > 3 else ""
            lines.append(f"{obs.label} changed {', '.join(touched[:3])}{more}")
    if origin == "client":
        lines.append(f"the client sent {current}" if has(client, current) else f"the client did not send {current}")
    lines.reverse()
    steps = [o for o in observations if o.where and o.stage == "request"]
    ran = sum(1 for o in steps if o.ran)
    if has(sent, path):
        lines.append(f"sent upstream as {path}; no step removed it ({ran} of {len(steps)} request steps ran)")
    else:
        lines.append(f"{path} is not in the body that was sent")
    out: dict = {"field": path, "origin": origin, "story": lines}
    top = path.split(".", 1)[0].split("[", 1)[0]
    if origin == "client" and has(sent, path) and top == path:
        out["hint"] = f"a request step `drop: {path}` (or leaving it out of a `keep:`) stops it"
    return out


def covers(outer: str, inner: str) -> bool:
    """Whether `inner` is `outer` or inside it (`messages` covers `messages[0].role`)."""
    return inner == outer or inner.startswith(outer + ".") or inner.startswith(outer + "[")


def has(body: Any, path: str) -> bool:
    """Whether the path exists in the body (`a.b[0]."x.y"`); the value is not looked at."""
    node = body
    for match in _PART.finditer(path):
        key, index = match.group(1), match.group(2)
        if index is not None:
            if type(node) is not list or int(index) >= len(node):
                return False
            node = node[int(index)]
            continue
        if key.startswith('"'):
            key = key[1:-1].replace('\\"', '"')
        if type(node) is not dict or key not in node:
            return False
        node = node[key]
    return True
