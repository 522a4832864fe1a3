"""The repository stands alone: no test, benchmark, pack or module reads a path outside the clone.

A fresh clone with nothing beside it must pass `make test`; a read of `../something` passes on a
developer's machine that happens to have it and fails for every user. This test finds such reads
by their shapes in the source, so a new one fails here before it fails for a user.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("switchyard", "tests", "bench", "rules", "Makefile", ".ci")
# Path shapes that climb out of the repository: `.parents[2]` and beyond from a file one folder deep,
# `ROOT.parent`, a string starting with `../`, and the project's private `shared/` folder.
OUTSIDE = re.compile(r"parents\[[2-9]\]|ROOT\.parent\b|[\"']\.\./|\bshared/(fixtures|reference|rule-language)")


def scanned_files() -> list[Path]:
    files: list[Path] = []
    for name in SCANNED:
        path = ROOT / name
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files.extend(p for p in path.rglob("*") if p.is_file() and p.suffix in {".py", ".yaml", ".sh", ""})
    return [f for f in files if f.name != Path(__file__).name and "fixtures" not in f.parts]


def test_no_file_reads_a_path_outside_the_repository() -> None:
    found = []
    for path in scanned_files():
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if OUTSIDE.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not found, "reads outside the repository:\n" + "\n".join(found)


def test_the_scan_would_catch_a_read_of_the_shared_folder() -> None:
    # The check itself can fail: each shape it must catch is caught.
    for line in (
        'FIX = Path(__file__).resolve().parents[2] / "x.json"',
        'FIX = ROOT.parent / "shared" / "fixtures"',
        'open("../shared/rule-language.md")',
    ):
        assert OUTSIDE.search(line), line
