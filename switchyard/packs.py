"""Loading packs for this build of Switchyard: the rule language's loader, told which protocols exist.

The rule language knows no protocol (`switchyard.language` imports nothing from
`switchyard.protocols`); what a pack's `upstream.protocol` and a test case's `client` may name comes
from the protocol registry. Everything that loads packs to use them (the server, every command)
loads them here, so a pack naming a protocol this build does not speak is refused at load time,
with its position, like any other mistake.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from switchyard import protocols
from switchyard.language.ruleset import RuleSet, Sources, compile_rules, load_rules, read_sources
from switchyard.language.shape import json_schema


def load(
    paths: Iterable[str] | str,
    env: Mapping[str, str] | None = None,
    *,
    placeholders: bool = False,
    partial: bool = False,
) -> RuleSet:
    """Every pack below `paths`, compiled; raises PackError with every problem of every file.

    `placeholders=True` is for checking, testing and explaining packs: an unset `${VAR}` stays as
    a visible placeholder (listed in `RuleSet.unset`) instead of failing the load, so CI can
    validate every pack with none of the providers' secrets. Serving never uses it.
    `partial=True` (`serve --partial`): a broken file is left out and the others serve.
    """
    return load_rules(paths, env, protocols.names(), placeholders, partial)


def read(folder: str) -> Sources:
    """The text of every pack file of a folder, read once (`compile_sources` turns it into the rule set)."""
    return read_sources([folder])


def compile_sources(sources: Sources, *, partial: bool = False) -> RuleSet:
    """`load` on texts already read: what `serve --workers` validates once and every worker runs."""
    return compile_rules(sources, None, protocols.names(), False, partial)


def schema() -> dict:
    """The JSON Schema of a pack file for this build's protocols."""
    return json_schema(protocols.names())
