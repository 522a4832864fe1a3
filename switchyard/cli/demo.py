"""`switchyard demo`: the whole path shown with no key and no network (see `switchyard.demo`).

    1. what the client sent        Codex CLI's real first request
    2. what each pack step changed the bridge, then the qwen pack's steps, as `apply --explain` says
    3. what the model received     the mock model, strict like DashScope, accepted it
    4. what the client got back    the Responses events Codex reads, streamed through the real server
    5. how to try it by hand       a Codex config and an openai SDK line for the running demo

The server is the real one (`switchyard.server.app` on uvicorn), on loopback; only the model is a
mock. With `--once` the demo stops after the walkthrough (tests run it so); otherwise it keeps
serving until Ctrl-C so that Codex or the SDK can be pointed at it.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import logging
import os
import sys
from importlib import resources

import aiohttp
import orjson

from switchyard import bridges, packs
from switchyard.cli.common import load_for_use, rules_to_serve
from switchyard.errors import UsageError
from switchyard.pipeline import Observation, Pipeline


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("demo", help="show the whole path with a built-in mock model: no key, no network")
    # The same folder `serve` would use: in the image that is SWITCHYARD_RULES (/etc/switchyard/rules), so
    # `docker run IMAGE demo --once` shows the path with the packs the image ships.
    p.add_argument(
        "--rules",
        default=os.environ.get("SWITCHYARD_RULES") or None,
        metavar="DIR",
        help="the packs to serve (default: SWITCHYARD_RULES, ./rules, or the packs shipped with switchyard)",
    )
    p.add_argument("--port", type=int, default=8080, help="the demo proxy's port (0: any free one)")
    p.add_argument("--once", action="store_true", help="stop after the walkthrough instead of serving on")
    return p


def run(args: argparse.Namespace) -> int:
    args.rules, shipped = rules_to_serve(args.rules)
    if shipped:
        say(shipped)
    # Problems with the folder are one line each before anything starts (not a traceback from the server).
    body = orjson.loads(resources.files("switchyard.demo").joinpath("codex-turn1-request.json").read_bytes())
    if load_for_use([args.rules]).select(body) is None:
        raise UsageError(
            f"no pack in {args.rules} takes the demo's model {body['model']} (the shipped rules/qwen.yaml does)"
        )
    return asyncio.run(demo(args.rules, args.port, args.once))


def say(text: str = "") -> None:
    print(text, flush=True)


async def demo(rules: str, port: int, once: bool) -> int:
    import uvicorn
    from aiohttp import web

    from switchyard.demo.mock import MockModel
    from switchyard.server.app import create_app
    from switchyard.server.logs import access_log

    access_log.configure("text", sys.stderr, logging.WARNING)  # the walkthrough says what the log line would
    mock = MockModel()
    runner = web.AppRunner(mock.app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    model_url = mock.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/v1"  # type: ignore[union-attr]
    # The qwen pack reads its URL from the environment: pointed at the mock, with no key needed.
    os.environ["QWEN_BASE_URL"] = model_url
    os.environ.pop("QWEN_API_KEY", None)

    server = uvicorn.Server(
        uvicorn.Config(create_app(rules), host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            await serving
            say("switchyard demo: the proxy did not start (is the port taken? try --port 0)")
            return 1
        await asyncio.sleep(0.05)
    proxy_port = server.servers[0].sockets[0].getsockname()[1]
    base = f"http://127.0.0.1:{proxy_port}/v1"
    try:
        await walkthrough(rules, base, mock)
        say("\n5. Try it by hand, against this running demo:")
        say(f"   ~/.codex/config.toml:\n{_codex_config(base)}")
        call = 'responses.create(model="qwen3-coder-plus", input="hi")'
        say(f'   python: OpenAI(base_url="{base}", api_key="unused").{call}')
        if not once:
            say("\nServing until Ctrl-C.")
            await serving
    finally:
        server.should_exit = True
        await serving
        await runner.cleanup()
    return 0


async def walkthrough(rules: str, base: str, mock) -> None:
    raw = resources.files("switchyard.demo").joinpath("codex-turn1-request.json").read_bytes()
    body = orjson.loads(raw)
    kinds = sorted({item.get("type", "message") for item in body["input"]})
    say("1. What the client sent: Codex CLI 0.169.0's first request, POST /v1/responses")
    say(f"   model {body['model']}, {len(body['input'])} input items ({', '.join(kinds)}), {len(body['tools'])} tools,")
    say(f"   fields: {', '.join(sorted(body))}")

    pack = packs.load(rules, placeholders=True).select(body)
    say(f"\n2. What the pack did: {pack.name} ({pack.file}), Responses client over a {pack.upstream.protocol} upstream")

    def show(seen: Observation) -> None:
        said = seen.changes.describe() if seen.ran else "skipped, match is false"
        if not seen.where:
            said = seen.changes.shape()  # a translation changes every path: its shape says more
        say(f"   {seen.label}: {said if len(said) <= 100 else said[:97] + '...'}")

    sent = Pipeline(pack, "responses").request(copy.deepcopy(body), show)

    say("\n3. What the model received (the mock refuses, as DashScope does, what it does not know):")
    bridged_only = bridges.get("responses", pack.upstream.protocol).request(copy.deepcopy(body))
    async with aiohttp.ClientSession() as http, http.post(mock.url + "/chat/completions", json=bridged_only) as refused:
        error = (await refused.json()).get("error", {})
    say(f"   without the pack's steps it would have answered {refused.status}: {error.get('message')}")
    events: list[dict] = []
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{base}/responses", data=raw, headers={"Content-Type": "application/json", "Authorization": "Bearer demo"}
        ) as response,
    ):
        status = response.status
        async for line in response.content:
            if line.startswith(b"data: "):
                events.append(orjson.loads(line[6:]))
    if not mock.received:
        say(f"   nothing: the proxy answered {status}")
        return
    got = mock.received[-1]
    roles = [m["role"] for m in got["messages"]]
    say(f"   fields: {', '.join(sorted(got))}")
    say(f"   {len(roles)} messages ({', '.join(sorted(set(roles)))}), {len(got.get('tools') or [])} tools")
    say(f"   the same as `switchyard apply` said it would be: {got == sent}")

    say(f"\n4. What the client got back: HTTP {status}, {len(events)} Responses events")
    text = "".join(e.get("delta", "") for e in events if e.get("type") == "response.output_text.delta")
    for kind in dict.fromkeys(e["type"] for e in events):
        say(f"   {kind} x{sum(1 for e in events if e['type'] == kind)}")
    say(f'   text: "{text}"')
    usage = events[-1].get("response", {}).get("usage") if events else None
    if usage:
        say(f"   usage: {usage['input_tokens']} in, {usage['output_tokens']} out")


def _codex_config(base: str) -> str:
    lines = [
        'model = "qwen3-coder-plus"',
        'model_provider = "switchyard"',
        "[model_providers.switchyard]",
        'name = "Switchyard"',
        f'base_url = "{base}"',
        'wire_api = "responses"',
        'env_key = "SWITCHYARD_KEY"   # any value: the demo model needs no key',
    ]
    return "\n".join("     " + line for line in lines)
