"""`switchyard schema`: the JSON Schema of a pack file, for editors (yaml-language-server) and CI."""

from __future__ import annotations

import argparse
import json

from switchyard import packs


def add_parser(sub) -> argparse.ArgumentParser:
    return sub.add_parser("schema", help="print the JSON Schema of a pack file")


def run(args: argparse.Namespace) -> int:
    print(json.dumps(packs.schema(), indent=2))
    return 0
