"""bench/soak_figures.py writes `make soak`'s figures into docs/reliability.md between its markers, and nowhere else."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.soak_figures import END, START, main, rewrite

ROOT = Path(__file__).resolve().parent.parent


def test_the_reliability_page_has_the_markers_once_each():
    doc = (ROOT / "docs" / "reliability.md").read_text()
    assert doc.count(START) == 1 and doc.count(END) == 1 and doc.index(START) < doc.index(END)


def test_the_figures_replace_only_what_is_between_the_markers(tmp_path):
    figures = tmp_path / "figures.json"
    figures.write_text('{"fault_matrix": {"faults": 16, "directions": 4, "rounds": 5, "calls": 320, "wrong": 0, '
                       '"seconds": 22.5}}')  # fmt: skip
    doc = tmp_path / "doc.md"
    doc.write_text(f"before\n{START}\nold figures\n{END}\nafter\n")
    assert main([str(figures), str(doc)]) == 0
    text = doc.read_text()
    assert text.startswith(f"before\n{START}\n") and text.endswith(f"\n{END}\nafter\n")
    assert "old figures" not in text and "320 calls, 0 with another outcome" in text


def test_a_doc_without_markers_is_refused():
    with pytest.raises(SystemExit):
        rewrite("no markers here", "figures")
