"""Why a traced request failed: its request path run again, observed, and the story of the refused field.

Recording what the bridge and each step changed costs every request 12 to 15 times its request path
(a copy and a diff per step), so traces do not record it as requests run. The request path is
deterministic: when a request has failed, `Replays.explain` runs it again from the client's bytes
with the same pack snapshot and an observer (`switchyard.pipeline.Observation`), and checks that
the result is the very bytes that were sent. Replays share a budget of CPU time (5% of one core),
so a storm of failures cannot make them the bottleneck; past it, a trace says it was not replayed.

A provider answers 400 naming a field (`param`, or the field's name in its message). `story` walks
the observations backwards from the body that was sent and tells where the field came from:

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
import time
from typing import Any

import orjson

from switchyard import protocols
from switchyard.errors import ClientFacing, StepError
from switchyard.language.pack import Pack
from switchyard.pipeline import Observation, Pipeline, step_label

# A provider's spelling of a nested field -> ours: DashScope's `messages.[0].role`, Anthropic's `messages.0.role`.
_BRACKET = re.compile(r"\.\[(\d+)\]")
_DOTTED_INDEX = re.compile(r"\.(\d+)(?=$|[.\[])")
_PART = re.compile(r'\.?("(?:[^"\\]|\\.)*"|[^.\[\]"]+)|\[(\d+)\]')
MAX_FIELDS = 3
MOST_PATHS = 50  # per list of one step's changes: a bridge changes hundreds of paths of a long conversation
REPLAY_MAX = 1024 * 1024  # larger bodies are not replayed: that would stall the event loop


class Replays:
    """Failed requests' paths run again, observed, within a budget of CPU time."""

    def __init__(self, share: float = 0.05, burst: float = 0.25):
        self.share, self.burst = share, burst  # refilled at `share` of a second per second, at most `burst`
        self.left, self.at = burst, time.monotonic()

    def explain(
        self,
        raw: bytes,
        pack: Pack,
        model: str | None,
        client_protocol: str,
        outgoing: bytes | None,
        answer: tuple[int | None, bytes] | None,
    ) -> dict:
        """What a failed request's trace adds: `client_fields`, `changes`, `sent_fields`, `replay`,
        `ended` (the step that refused it) and `blame` (the story of the field the provider named).

        `model` is a fallback's; `outgoing` the bytes that were sent (None: no call was made);
        `answer` the provider's status and error body.
        """
        if len(raw) > REPLAY_MAX:
            return {"replay": f"not replayed: the body is over {REPLAY_MAX} bytes"}
        if not self._allowed():
            return {"replay": "not replayed: the replay budget (5% of a core) is spent by a storm of failures"}
        began = time.perf_counter()
        try:
            client, body = orjson.loads(raw), orjson.loads(raw)
        except orjson.JSONDecodeError:
            return {}
        if type(client) is not dict:
            return {}
        if model is not None:
            client["model"] = body["model"] = model
        observations: list[Observation] = []
        pipeline = Pipeline(pack, client_protocol)
        out: dict = {}
        try:
            sent = pipeline.request(body, observations.append)
        except (ClientFacing, StepError) as exc:  # a `reject` step, a body the bridge refuses, a step failing
            sent, out["ended"] = None, f"{_stopper(pipeline, observations)}: {exc}"
        out["client_fields"] = list(client)
        out["changes"] = [_observation(o) for o in observations]
        if type(sent) is dict:
            out["sent_fields"] = list(sent)
            if outgoing is not None:
                out["replay"] = "as sent" if orjson.dumps(sent) == outgoing else "differs from what was sent"
            out["blame"] = _blame(pack, answer, sent, client, observations)
        self.left -= time.perf_counter() - began
        return out

    def _allowed(self) -> bool:
        now = time.monotonic()
        self.left, self.at = min(self.burst, self.left + (now - self.at) * self.share), now
        return self.left > 0


def _blame(pack: Pack, answer, sent: dict, client: dict, observations: list[Observation]) -> list[dict]:
    """The story of each field the provider's error points at."""
    if answer is None or answer[0] is None or answer[0] < 400:
        return []
    status, data = answer
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError:
        parsed = None
    described = protocols.get(pack.upstream.protocol).describe_error_body(parsed, data, status)
    return [story(path, client, sent, observations) for path in suspects(described.param, described.message, sent)]


def _stopper(pipeline: Pipeline, observations: list[Observation]) -> str:
    """Which part of the request path raised, from what was observed before it (it is never observed)."""
    if not pipeline.bridge.identity and all(o.where for o in observations):
        return pipeline.bridge.label
    done = sum(1 for o in observations if o.where)
    steps = pipeline.pack.request
    return step_label(steps[done]) if done < len(steps) else "the request path"


def _observation(obs: Observation) -> dict:
    head = {"stage": obs.stage, "label": obs.label, "where": obs.where, "ran": obs.ran}
    return {**head, **obs.changes.to_json(MOST_PATHS)}


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
