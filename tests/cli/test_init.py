"""`switchyard init` and where the packs come from when no folder is given (the source tree's view; the
wheel's own, installed alone, is tests/test_wheel.py)."""

from __future__ import annotations

from pathlib import Path

import golden_files
import pytest

from switchyard.cli.common import rules_to_serve, shipped_rules
from switchyard.cli.main import main

ROOT = golden_files.ROOT


def test_the_shipped_packs_of_a_source_tree_are_its_rules_folder():
    assert Path(shipped_rules()) == ROOT / "rules"


def test_rules_come_from_the_flag_then_dot_rules_then_the_shipped_packs_which_are_announced(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert rules_to_serve("mine") == ("mine", None)
    folder, said = rules_to_serve(None)
    assert folder == shipped_rules() and said.startswith("using the packs shipped with switchyard")
    assert "switchyard init" in said
    (tmp_path / "rules").mkdir()
    assert rules_to_serve(None) == ("rules", None)


def test_init_writes_every_shipped_pack_and_a_readme_and_refuses_to_replace_one(tmp_path, capsys):
    target = tmp_path / "team"
    assert main(["init", str(target)]) == 0
    shipped = sorted(p.relative_to(ROOT / "rules") for p in (ROOT / "rules").rglob("*.yaml"))
    assert sorted(p.relative_to(target) for p in target.rglob("*.yaml")) == shipped
    assert (target / "README.md").read_text().startswith("# Rule packs")
    assert main(["check", str(target)]) == 0

    (target / "glm.yaml").write_text("# edited\n")
    assert main(["init", str(target)]) == 2
    err = capsys.readouterr().err
    assert "glm.yaml" in err and "--force" in err and (target / "glm.yaml").read_text() == "# edited\n"
    assert main(["init", str(target), "--force"]) == 0
    assert (target / "glm.yaml").read_bytes() == (ROOT / "rules" / "glm.yaml").read_bytes()


def test_init_refuses_a_file_in_the_way_and_the_shipped_folder_itself(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    assert main(["init", str(tmp_path / "file")]) == 2
    assert main(["init", str(ROOT / "rules"), "--force"]) == 2
    assert "shipped packs' own folder" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["check", "test"])
def test_a_missing_default_folder_says_how_to_make_it(tmp_path, monkeypatch, capsys, command):
    monkeypatch.chdir(tmp_path)
    assert main([command]) == 2
    assert "no such file or folder: rules (`switchyard init` writes the shipped packs there)" in capsys.readouterr().err


def test_apply_with_no_folder_uses_the_shipped_packs_and_says_so_on_stderr(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "body.json").write_text(
        '{"model": "qwen3-coder-plus", "messages": [{"role": "user", "content": "hi"}]}'
    )
    assert main(["apply", "--client", "chat", "body.json"]) == 0
    out, err = capsys.readouterr()
    assert '"model"' in out and "using the packs shipped with switchyard" in err
