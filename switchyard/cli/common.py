"""What several commands share: finding paths (and the packs to use when none is given), loading packs
for use, reading JSON input.

Where the packs come from, for the commands that serve them (`serve`, `demo`, `apply`): `--rules`, then
`SWITCHYARD_RULES`, then `./rules`, and with none of them the packs shipped in the installed package
(`switchyard.rules`, the repository's `rules/` folder), so that `pip install` then `switchyard serve`
works from any folder. Using the shipped packs is said once, on stderr or as the first log line.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import switchyard
from switchyard import packs
from switchyard.errors import PackError, UsageError
from switchyard.language.ruleset import RuleSet

DEFAULT_RULES = "rules"


def shipped_rules() -> str:
    """The folder of the packs shipped with this installation: in a wheel, the package data
    `switchyard/rules` (setup.py maps the repository's `rules/` to it); in a source checkout or an editable
    install, that `rules/` folder itself, beside the package."""
    package = Path(switchyard.__file__).resolve().parent
    if (package / "rules").is_dir():
        return str(package / "rules")
    if (package.parent / "rules").is_dir() and (package.parent / "pyproject.toml").is_file():
        return str(package.parent / "rules")
    raise UsageError("this installation has no shipped packs; give --rules DIR")


def rules_to_serve(given: str | None) -> tuple[str, str | None]:
    """The folder to serve: `given` (from --rules or SWITCHYARD_RULES) if any, else `./rules` if present,
    else the shipped packs; with, in that last case, the line that says so."""
    if given:
        return given, None
    if os.path.isdir(DEFAULT_RULES):
        return DEFAULT_RULES, None
    folder = shipped_rules()
    return folder, (
        f"using the packs shipped with switchyard ({folder}): no --rules, SWITCHYARD_RULES or ./rules; "
        "`switchyard init` copies them into ./rules to edit"
    )


def existing(paths: list[str]) -> list[str]:
    """The paths, all of them present: a missing file or folder is a usage error, not a pack problem."""
    for path in paths:
        if not os.path.exists(path):
            hint = " (`switchyard init` writes the shipped packs there)" if path == DEFAULT_RULES else ""
            raise UsageError(f"no such file or folder: {path}{hint}")
    return paths


def load_for_use(paths: list[str]) -> RuleSet:
    """Load rules for commands that need them to work: pack problems are input errors here.

    Secrets are for serving: an unset `${VAR}` is a placeholder here, reported once.
    """
    existing(paths)
    try:
        rules = packs.load(paths, placeholders=True)
    except PackError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        raise UsageError(f"{len(exc.problems)} problem(s) in the rules; run `switchyard check`") from None
    report_unset(rules)
    return rules


def report_unset(rules: RuleSet) -> None:
    """One note on stderr naming the variables left as placeholders (serving will need them)."""
    if rules.unset:
        names = ", ".join(rules.unset)
        print(f"note: not set, used as placeholders (serving needs them): {names}", file=sys.stderr)


def read_text(name: str) -> str:
    try:
        if name == "-":
            return sys.stdin.read()
        with open(name, encoding="utf-8") as f:
            return f.read()
    except OSError as exc:
        raise UsageError(f"cannot read {name}: {exc.strerror or exc}") from None


def read_json(name: str) -> Any:
    text = read_text(name)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{name} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None


def admin_server(environ: dict[str, str] | None = None) -> str:
    """Where the running server's admin endpoints are, from the settings `serve` reads.

    `SWITCHYARD_SERVER` (a URL) when set; otherwise the admin listener when `SWITCHYARD_ADMIN_PORT` is
    set (at `SWITCHYARD_ADMIN_HOST`), else the API listener (`SWITCHYARD_HOST`, `SWITCHYARD_PORT`). An
    address that means "every interface" is reached on loopback. So inside a container or pod started
    with these variables, `switchyard trace` needs no flag.
    """
    env = os.environ if environ is None else environ
    if env.get("SWITCHYARD_SERVER"):
        return env["SWITCHYARD_SERVER"]
    if env.get("SWITCHYARD_ADMIN_PORT"):
        host, port = env.get("SWITCHYARD_ADMIN_HOST") or "127.0.0.1", env["SWITCHYARD_ADMIN_PORT"]
    else:
        host, port = env.get("SWITCHYARD_HOST") or "127.0.0.1", env.get("SWITCHYARD_PORT") or "8080"
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def admin_token(environ: dict[str, str] | None = None) -> str | None:
    """The admin token `serve` reads: `SWITCHYARD_ADMIN_TOKEN`, or the file `SWITCHYARD_ADMIN_TOKEN_FILE` names."""
    env = os.environ if environ is None else environ
    if env.get("SWITCHYARD_ADMIN_TOKEN"):
        return env["SWITCHYARD_ADMIN_TOKEN"]
    if name := env.get("SWITCHYARD_ADMIN_TOKEN_FILE"):
        try:
            with open(name, encoding="utf-8") as f:
                lines = [line.strip() for line in f if line.strip() and not line.lstrip().startswith("#")]
        except OSError as exc:
            raise UsageError(f"cannot read the admin token file {name}: {exc.strerror or exc}") from None
        return lines[0] if lines else None
    return None
