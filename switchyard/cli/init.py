"""`switchyard init [DIR]`: copy the shipped packs into DIR (default `./rules`) for a team to own.

The packs come from the installed package (`switchyard.rules`, the same files `serve` uses when it
finds no folder), with `extra/` (the opt-in alternatives) and a short README of what to edit. A file
already there is never replaced unless `--force`: a team's edited pack must not be lost to a second
`init`, so the refusal names every file it would have replaced and writes none.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from switchyard.cli.common import DEFAULT_RULES, shipped_rules
from switchyard.errors import UsageError

README = """\
# Rule packs

Copied from the packs shipped with switchyard {version} by `switchyard init`; this folder is yours now.
One YAML file per provider; `serve` loads every `*.yaml` here (not `extra/`).

What to edit:
- `upstream.url` and `upstream.api_key` read `${{<PACK>_BASE_URL}}` and `${{<PACK>_API_KEY}}` from the
  environment: set those rather than writing a key into a file.
- `models:` is what `GET /v1/models` lists; `match:` is what selects the pack for a request.
- `request:` and `response:` steps say, each with a comment, what the provider refuses and why.
- `extra/` holds opt-in alternatives (e.g. a provider's Anthropic endpoint): copy one up here to use it.
- A file you do not use can go: fewer packs, fewer surprises.

Then:

    switchyard check {folder}        # N packs OK, or every problem as FILE:LINE:COLUMN
    switchyard test {folder}         # the `tests:` cases inside the packs
    switchyard serve --rules {folder} --watch

The rule language: docs/rule-language.md in the project's repository.
"""


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("init", help="copy the shipped packs (and a README of what to edit) into a folder to own")
    p.add_argument("folder", nargs="?", default=DEFAULT_RULES, metavar="DIR", help="where to write them (./rules)")
    p.add_argument("--force", action="store_true", help="replace files that are already there")
    return p


def run(args: argparse.Namespace) -> int:
    from switchyard import __version__

    source = Path(shipped_rules())
    target = Path(args.folder)
    files = {
        path.relative_to(source): path.read_bytes()
        for path in sorted(source.rglob("*.yaml"))
        if "__pycache__" not in path.parts
    }
    files[Path("README.md")] = README.format(version=__version__, folder=args.folder).encode()
    if target.exists() and not target.is_dir():
        raise UsageError(f"{target} exists and is not a folder")
    if target.resolve() == source.resolve():
        raise UsageError(f"{target} is the shipped packs' own folder")
    there = [name for name in files if (target / name).exists()]
    if there and not args.force:
        names = ", ".join(str(name) for name in there)
        raise UsageError(f"{len(there)} file(s) already in {target}, not replaced (--force replaces them): {names}")
    for name, data in files.items():
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        (target / name).write_bytes(data)
    packs = sum(1 for name in files if name.parent == Path("."))
    print(f"wrote {packs - 1} packs, {len(files) - packs} in extra/, and README.md into {target}/")
    print(f"next: edit them, then `switchyard check {args.folder}` and `switchyard serve --rules {args.folder}`")
    return 0
