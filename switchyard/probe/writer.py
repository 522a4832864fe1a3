"""Writing the pack: YAML a person can review, each step under the comment that justifies it.

The pack is written as text, not dumped from a dict, because its comments are the point: every
step cites the request that was rejected and the one that was accepted with the step applied, so a
reviewer can see what the provider answered without running anything. Values inside a step are
dumped by ruamel.yaml (flow style for small values), so quoting of JMESPath expressions is always
valid YAML; `switchyard check` then loads the result like any other pack.
"""

from __future__ import annotations

import io
import textwrap
from typing import TYPE_CHECKING, Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

if TYPE_CHECKING:
    from switchyard.probe.draft import Draft, Step

WIDTH = 110


def _yaml() -> YAML:
    yaml = YAML()
    yaml.default_flow_style = None  # block for the outer mappings, flow for leaves: compact and readable
    yaml.width = 4096  # long JMESPath expressions stay on one line
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def dump(value: Any) -> str:
    """YAML for `value`: its own mapping in block style (one key a line), small values inside in flow style."""
    if isinstance(value, dict):
        value = CommentedMap(value)
        value.fa.set_block_style()
    out = io.StringIO()
    _yaml().dump(value, out)
    return out.getvalue()


def _comment(lines: list[str], indent: str) -> str:
    out = []
    for line in lines:
        out += textwrap.wrap(line, WIDTH - len(indent) - 2, break_long_words=False, break_on_hyphens=False) or [""]
    return "".join(f"{indent}# {line}\n" for line in out)


def _item(value: dict, indent: str) -> str:
    """One list element of a block sequence: `- key: ...` with its continuation lines indented."""
    lines = dump(value).rstrip("\n").splitlines()
    return "".join((f"{indent}- " if n == 0 else f"{indent}  ") + line + "\n" for n, line in enumerate(lines))


def render(
    draft: Draft,
    name: str,
    url: str,
    key_env: str,
    *,
    steps: list[Step],
    tests: list[dict] | None = None,
    model: str | None = None,
    header: list[str] | None = None,
) -> str:
    catalogue = draft.catalogue
    env = name.upper().replace("-", "_")
    out = _comment(header or [], "")
    out += f"pack: {name}\n"
    out += dump({"description": f"{model or name} ({catalogue.protocol} upstream), as learnt by switchyard probe"})
    if model:
        out += dump({"match": f"model == '{model}'"})
        out += dump({"models": [model]})
    else:
        out += dump({"match": "`true`"})
    upstream: dict = {"url": f"${{{env}_BASE_URL:-{url}}}", "protocol": catalogue.protocol}
    if key_env:
        upstream["api_key"] = f"${{{key_env}:-}}"
    block = CommentedMap(upstream)
    block.fa.set_block_style()
    out += dump({"upstream": block})
    out += "\nrequest:\n" if steps else "\nrequest: []\n"
    for n, step in enumerate(steps):
        if n and step.comment:
            out += "\n"
        out += _comment(step.comment, "  ") + _item(step.step, "  ")
    if draft.response:
        out += "\nresponse:\n"
        for n, step in enumerate(draft.response):
            if n and step.comment:
                out += "\n"
            out += _comment(step.comment, "  ") + _item(step.step, "  ")
    if tests:
        out += "\ntests:\n"
        for n, case in enumerate(tests):
            comment = case.pop("#", [])
            if n:
                out += "\n"
            out += _comment(comment, "  ") + _item(case, "  ")
    return out
