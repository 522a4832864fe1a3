"""`switchyard apply`: one body (or one stream) through the server's own path, printed; `--explain` says why.

    request stage:  a client body -> what the upstream would receive (pack selection, bridge, steps)
    response stage: an upstream body -> what the client would receive (steps, bridge back);
                    with `--stream`, upstream events (SSE text or one JSON event per line) -> the
                    client's stream, byte for byte as the server writes it

Both stages run `switchyard.pipeline`, the code the server runs, so what `apply` shows is what the
server does. `--explain` tells on stderr what the bridge and each step changed (the pipeline's
observer), one line each.
"""

from __future__ import annotations

import argparse
import json
import sys

import orjson

from switchyard import protocols
from switchyard.cli.common import load_for_use, read_json, read_text, rules_to_serve
from switchyard.errors import ClientFacing, StepError, UsageError
from switchyard.language.explain import explain_line
from switchyard.pipeline import Observation, Pipeline
from switchyard.protocols.sse import Event, SSEDecoder


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("apply", help="run one body through a pack and print the result")
    p.add_argument("file", metavar="FILE|-", help="a JSON body (or, with --stream, upstream events); - for stdin")
    p.add_argument("--rules", metavar="DIR", help="the folder of pack files (default: ./rules, or the shipped packs)")
    p.add_argument("--pack", metavar="NAME", help="use this pack instead of selecting one by its match")
    p.add_argument("--client", required=True, choices=protocols.names(), help="the client protocol")
    p.add_argument("--stage", default="request", choices=("request", "response"), help="which way the body goes")
    p.add_argument("--stream", action="store_true", help="response stage: FILE holds upstream stream events")
    p.add_argument(
        "--request", metavar="FILE", help="response stage: the client's request this answers (bridges read its tools)"
    )
    p.add_argument("--explain", action="store_true", help="tell on stderr what each step did")
    p.add_argument(
        "--short", action="store_true", help="with --explain: one short line per step, and the bridge in a summary"
    )
    return p


def run(args: argparse.Namespace) -> int:
    args.rules, shipped = rules_to_serve(args.rules)
    if shipped:
        print(shipped, file=sys.stderr)
    rules = load_for_use([args.rules])
    if args.stage == "response" and not args.pack:
        raise UsageError("--stage response needs --pack: an upstream event does not select a pack")
    text = read_text(args.file) if args.stream else None
    body = None if args.stream else read_json(args.file)
    if args.pack:
        pack = rules.get(args.pack)
        if pack is None:
            raise UsageError(f"no pack named {args.pack!r} in {args.rules}")
    else:
        pack = rules.select(body)
        if pack is None:
            model = body.get("model") if isinstance(body, dict) else None
            raise UsageError(f"no pack matches this body (model {model!r})")
    if args.stage == "request" and not isinstance(body, dict):
        raise UsageError("a request body must be a JSON object")
    explain = _explainer(args.explain, args.short)
    if args.explain:
        print(
            f"pack {pack.name} ({pack.file}), client {args.client}, upstream {pack.upstream.protocol}", file=sys.stderr
        )
    pipeline = Pipeline(pack, args.client)
    client_body = read_json(args.request) if args.request else {}
    try:
        if args.stage == "request":
            result = pipeline.request(body, explain)
        elif args.stream:
            sys.stdout.buffer.write(_stream(pipeline, client_body, text, explain))
            return 0
        else:
            result = pipeline.body(body, client_body, explain)
    except ClientFacing as exc:  # a `reject` step, a body the bridge refuses, an upstream failure in a body
        shown = {"status": exc.status, **protocols.get(args.client).render_error(exc)}
        print(json.dumps(shown, indent=2, ensure_ascii=False))
        return 1
    except StepError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0


def _stream(pipeline: Pipeline, client_body: dict, text: str, explain) -> bytes:
    """Upstream events through the response path, as the server relays them: one read, then the end."""
    stream = pipeline.stream(client_body, explain)
    raw = text.encode()
    if b"data:" in raw:
        decoder = SSEDecoder()
        decoded = decoder.decode(raw) + decoder.flush()
    else:  # one JSON event per line
        decoded = [_event(line) for line in text.splitlines() if line.strip()]
    out = stream.feed(decoded)
    out += stream.close()
    return stream.encode(out)


def _event(line: str) -> Event:
    try:
        orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise UsageError(f"not an event (SSE or one JSON object per line): {exc}") from None
    return Event(line, None)


def _explainer(enabled: bool, short: bool = False):
    if not enabled:
        return None

    def observe(observation: Observation) -> None:
        line = explain_line(observation.label, observation.ran, observation.changes, short, not observation.where)
        print(line, file=sys.stderr)

    return observe
