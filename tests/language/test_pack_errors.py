"""Load errors: broken packs beside the exact `FILE:LINE:COLUMN: message` lines they must produce.

Each `tests/golden/language/errors/NAME.yaml` (or folder `NAME/`, for problems across files) is loaded with
`switchyard.packs.load` (the rule language, told the protocols this build speaks), from inside that
folder so file names read as written, with an empty environment; `NAME.expected` holds every line of the
resulting `PackError`, in order. A file shows
every problem it has at once, which is the contract ("for every problem in the file at once").
"""

from __future__ import annotations

from pathlib import Path

import golden_files
import pytest

from switchyard.errors import PackError
from switchyard.language.loader import load_text
from switchyard.language.pack import compile_pack
from switchyard.packs import load as load_rules

GOLDEN = golden_files.GOLDEN / "language" / "errors"
SOURCES = sorted(p.name for p in GOLDEN.iterdir() if p.suffix == ".yaml" or p.is_dir())

PACK = """\
pack: env
match: "`true`"
upstream:
  url: {url}
  protocol: chat
  api_key: {key}
description: "${{NOT_INTERPOLATED}}"
"""


def problems_of(names: str | list[str], monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.chdir(GOLDEN)
    with pytest.raises(PackError) as raised:
        load_rules([names] if isinstance(names, str) else names, env={})
    return [str(p) for p in raised.value.problems]


@pytest.mark.parametrize("name", SOURCES)
def test_a_broken_pack_reports_exactly_the_expected_lines(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = (GOLDEN / f"{Path(name).stem}.expected").read_text(encoding="utf-8").splitlines()
    assert problems_of(name, monkeypatch) == expected


def test_every_broken_pack_has_an_expected_file_and_every_expected_file_a_pack() -> None:
    stems = {Path(name).stem for name in SOURCES}
    expected = {p.stem for p in GOLDEN.glob("*.expected")}
    assert stems == expected
    assert len(stems) >= 12


def test_every_reported_position_is_inside_its_file(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SOURCES:
        for line in problems_of(name, monkeypatch):
            file, row, column, _ = line.split(":", 3)
            lines = (GOLDEN / file).read_text(encoding="utf-8").splitlines() or [""]
            assert 1 <= int(row) <= len(lines), line
            assert 1 <= int(column) <= len(lines[int(row) - 1]) + 1, line


def test_problems_of_several_files_are_reported_together_in_file_order(monkeypatch: pytest.MonkeyPatch) -> None:
    files = ["two_actions.yaml", "bad_paths.yaml", "env.yaml"]
    lines = problems_of(files, monkeypatch)
    assert {line.split(":", 1)[0] for line in lines} == set(files)
    assert [line.split(":", 1)[0] for line in lines] == sorted(line.split(":", 1)[0] for line in lines)
    expected = sum(len((GOLDEN / f"{Path(f).stem}.expected").read_text().splitlines()) for f in files)
    assert len(lines) == expected


def test_a_missing_rules_path_is_a_problem_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    assert problems_of("no-such-folder", monkeypatch) == ["no-such-folder:1:1: no such file or folder"]


def compile_env_pack(url: str, key: str, env: dict[str, str]):
    doc, problems = load_text(PACK.format(url=url, key=key), "env.yaml")
    assert doc is not None, problems
    return compile_pack(doc, env=env)


def test_a_default_is_used_when_the_variable_is_unset() -> None:
    pack, problems = compile_env_pack("${BASE:-https://default.example/v1/}", "${KEY:-}", {})
    assert problems == []
    assert pack.upstream.url == "https://default.example/v1"
    assert pack.upstream.api_key == ""


def test_the_environment_wins_over_a_default_and_fills_a_variable_without_one() -> None:
    env = {"BASE": "https://env.example/v2", "KEY": "sk-test"}
    pack, problems = compile_env_pack("${BASE:-https://default.example/v1}", "${KEY}", env)
    assert problems == []
    assert pack.upstream.url == "https://env.example/v2"
    assert pack.upstream.api_key == "sk-test"


def test_a_variable_set_to_the_empty_string_counts_as_set() -> None:
    pack, problems = compile_env_pack("https://x.example", "${KEY}", {"KEY": ""})
    assert problems == []
    assert pack.upstream.api_key == ""


def test_an_unset_variable_without_default_points_at_its_value() -> None:
    pack, problems = compile_env_pack("https://x.example", "${KEY}", {})
    assert pack is None
    assert [str(p) for p in problems] == ["env.yaml:6:12: environment variable KEY is not set and has no default"]


def test_strings_outside_upstream_are_not_interpolated() -> None:
    pack, problems = compile_env_pack("https://x.example", "k", {"NOT_INTERPOLATED": "oops"})
    assert problems == []
    assert pack.description == "${NOT_INTERPOLATED}"


def test_the_api_key_never_appears_in_the_pack_repr() -> None:
    pack, _ = compile_env_pack("https://x.example", "${KEY}", {"KEY": "sk-secret-123"})
    assert "sk-secret-123" not in repr(pack)


def test_header_names_and_values_under_upstream_are_interpolated() -> None:
    text = (
        "pack: h\nmatch: model\nupstream:\n  url: https://x.example\n  protocol: chat\n"
        "  headers: {'${TENANT_HEADER:-X-Tenant}': '${TENANT:-none}'}\n"
    )
    doc, _ = load_text(text, "h.yaml")
    pack, problems = compile_pack(doc, env={"TENANT": "acme"})
    assert problems == []
    assert dict(pack.upstream.headers) == {"X-Tenant": "acme"}


def test_problems_name_the_environment_variable_never_its_value() -> None:
    text = "pack: k\nmatch: model\nupstream:\n  url: ${K_BASE_URL}\n  protocol: chat\n  timeout: {read: '${K_T}'}\n"
    doc, _ = load_text(text, "k.yaml")
    pack, problems = compile_pack(doc, env={"K_BASE_URL": "sk-live-9f8e7d6c5b4a", "K_T": "sk-other-123"})
    assert pack is None
    assert [str(p) for p in problems] == [
        "k.yaml:4:8: '${K_BASE_URL}' is not a URL",
        "k.yaml:6:19: expected a positive number, got a string ('${K_T}')",
    ]


def test_a_file_over_the_size_limit_is_refused_unread() -> None:
    from switchyard.language.loader import MAX_BYTES, load_text

    doc, problems = load_text("# " + "x" * MAX_BYTES, "big.yaml")
    assert doc is None and [str(p) for p in problems] == [
        "big.yaml:1:1: the file is over 1024 KiB; a pack is far smaller"
    ]


def test_an_alias_that_contains_itself_ends_as_finite_data_not_a_crash() -> None:
    from switchyard.language.loader import load_text

    doc, problems = load_text("a: &a [1, *a]\n", "loop.yaml")
    assert problems == [] and doc is not None and doc.data == {"a": [1, None]}
