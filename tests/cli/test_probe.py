"""`switchyard probe`'s flags are the ones docs/new-provider.md documents (its behaviour: tests/probe/)."""

from __future__ import annotations

import argparse

import golden_files

from switchyard.cli import probe


def test_every_probe_flag_has_a_row_in_the_docs_table():
    parser = probe.add_parser(argparse.ArgumentParser().add_subparsers())
    flags = {a.option_strings[0] for a in parser._actions if a.option_strings and a.option_strings[0] != "-h"}
    page = (golden_files.ROOT / "docs" / "new-provider.md").read_text(encoding="utf-8")
    rows = {line.split("`")[1].split()[0] for line in page.splitlines() if line.startswith("| `--")}
    assert flags == rows
