"""`switchyard serve`'s flags: each has a help line and an environment variable, a flag on the command
line wins over the environment, and the operations and server pages name every one of them."""

from __future__ import annotations

import argparse

import golden_files
import pytest

from switchyard.cli.main import build_parser
from switchyard.cli.serve import cores


def serve_parser() -> argparse.ArgumentParser:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["serve"]


def flags() -> list[argparse.Action]:
    return [a for a in serve_parser()._actions if a.option_strings and a.dest != "help"]


def sample(action: argparse.Action, which: int) -> tuple[str, object]:
    """A value for the flag as the environment spells it, and as parsed; `which` picks one of two."""
    if isinstance(action, argparse._StoreTrueAction):
        return ("yes", True) if which else ("0", False)
    if action.dest == "workers":  # a count, or `auto` for one per core
        return ("auto", cores()) if which else ("7", 7)
    if action.choices:
        choice = list(action.choices)[which]
        return str(choice), choice
    if action.type is int:
        return str(9000 + which), 9000 + which
    if action.type is float:
        return str(1.5 + which), 1.5 + which
    if isinstance(action, argparse._AppendAction):
        return (f"a{which},b{which}", [f"a{which}", f"b{which}"])
    return f"value{which}", f"value{which}"


def env_name(action: argparse.Action) -> str:
    return "SWITCHYARD_" + action.dest.upper()


def test_every_serve_flag_has_a_help_line() -> None:
    assert len(flags()) >= 18
    assert [a.option_strings[0] for a in flags() if not (a.help or "").strip()] == []


@pytest.mark.parametrize("action", flags(), ids=lambda a: a.option_strings[0])
def test_every_serve_flag_comes_from_the_environment(monkeypatch, action) -> None:
    for which in (0, 1):
        spelled, parsed = sample(action, which)
        monkeypatch.setenv(env_name(action), spelled)
        assert getattr(build_parser().parse_args(["serve"]), action.dest) == parsed


@pytest.mark.parametrize("action", flags(), ids=lambda a: a.option_strings[0])
def test_a_flag_on_the_command_line_wins_over_the_environment(monkeypatch, action) -> None:
    spelled, _ = sample(action, 0)
    monkeypatch.setenv(env_name(action), spelled)
    if isinstance(action, argparse._StoreTrueAction):
        argv, wanted = [action.option_strings[0]], True
    elif isinstance(action, argparse._AppendAction):  # repeatable: the command line's list, not added to the env's
        argv, wanted = [action.option_strings[0], "c1", action.option_strings[0], "c2"], ["c1", "c2"]
    else:
        value, wanted = sample(action, 1)
        argv = [action.option_strings[0], value]
    assert getattr(build_parser().parse_args(["serve", *argv]), action.dest) == wanted


def test_a_bad_value_in_the_environment_is_a_usage_error_naming_the_variable(monkeypatch, capsys) -> None:
    monkeypatch.setenv("SWITCHYARD_PORT", "eighty")
    with pytest.raises(SystemExit) as exited:
        build_parser()
    assert exited.value.code == 2 and "SWITCHYARD_PORT='eighty'" in capsys.readouterr().err


def test_the_operations_page_names_every_flag_and_its_variable_and_the_server_page_every_flag() -> None:
    operations = (golden_files.ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    server = (golden_files.ROOT / "docs" / "server.md").read_text(encoding="utf-8")
    missing = [
        (page, name)
        for action in flags()
        for page, text, names in [
            ("operations.md", operations, (action.option_strings[0], env_name(action))),
            ("server.md", server, (action.option_strings[0],)),
        ]
        for name in names
        if f"`{name}" not in text and f"[{name}" not in text
    ]
    assert missing == []


@pytest.mark.parametrize(
    ("spelled", "parsed"), [("1", 1), ("3", 3), ("0", cores()), ("auto", cores()), ("AUTO", cores())]
)
def test_workers_takes_a_count_or_auto_for_one_per_core(spelled, parsed) -> None:
    assert build_parser().parse_args(["serve", "--workers", spelled]).workers == parsed


def test_a_negative_number_of_workers_is_a_usage_error(capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["serve", "--workers", "-2"])
    assert exited.value.code == 2 and "--workers" in capsys.readouterr().err
