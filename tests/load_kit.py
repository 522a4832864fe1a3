"""Load and reload storms against a real `switchyard serve`, shared by the short tests and `make soak`.

- `reload_storm`: streams in flight while the pack file is rewritten and SIGHUP sent again and
  again, alternating a valid pack (each a new version) and a broken one. Every stream must end whole
  with one version in all its chunks (the snapshot it started with); afterwards the running version
  is the last valid one, and the process holds no more file descriptors than before.
- `bridged_load`: many concurrent bridged streams (Responses client, Chat upstream) of numbered,
  tagged deltas, for a while; every stream's text is checked end to end.
- `record`: `make soak` sets SWITCHYARD_SOAK_FIGURES to a JSON file; the soak tests put their
  measured figures there and `bench/soak_figures.py` writes them into docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import orjson
from client_protocols import ROUTES, body_for, read
from fakes.faulty import paced_text
from proxy_process import ProxyProcess
from server_kit import get_metrics, metric, wait_for


def rss_mb(pid: int, field_name: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no {field_name}")


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def record(section: str, **figures) -> None:
    """Keep measured figures for docs/reliability.md (only when `make soak` asks for them)."""
    path = os.environ.get("SWITCHYARD_SOAK_FIGURES")
    if not path:
        return
    file = Path(path)
    data = json.loads(file.read_text()) if file.exists() else {}
    data[section] = figures
    file.write_text(json.dumps(data, indent=2, sort_keys=True))


# -- the reload storm -------------------------------------------------------------------------------------


def storm_pack(folder: Path, url: str, version: int | None) -> None:
    """The storm's pack: version N stamps `sy_version: N` on every chunk; None writes a broken file.

    Written beside and renamed into place, so a reload never reads half a file."""
    if version is None:
        text = 'pack: storm\nmatch: "starts_with(model,"\nupstream: {url: nowhere}\n'
    else:
        text = f"""
            pack: storm
            match: "starts_with(model, 'c2c.')"
            upstream: {{url: "{url}", protocol: chat, timeout: {{connect: 5, read: 30}}}}
            response:
              - set: {{sy_version: {version}}}
        """
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ".storm.tmp").write_text(textwrap.dedent(text).lstrip())
    os.replace(folder / ".storm.tmp", folder / "storm.yaml")


@dataclass
class StormResult:
    streams: int = 0
    versions_seen: set = field(default_factory=set)
    reloads_ok: float = 0
    reloads_failed: float = 0
    fds_before: int = 0
    fds_after: int = 0
    rss_before: float = 0.0
    rss_after: float = 0.0
    seconds: float = 0.0


async def one_versioned_stream(http: aiohttp.ClientSession, proxy: ProxyProcess, chunks: int, pause_ms: int, tag: str):
    """A Chat stream of `chunks` paced deltas; returns the one version its chunks carry (AssertionError otherwise)."""
    body = body_for("chat", f"c2c.paced_{chunks}_{pause_ms}.{tag}", True)
    async with http.post(proxy.url + ROUTES["chat"], json=body) as r:
        raw = await r.read()
        outcome = read("chat", r.status, r.headers.get("Content-Type", ""), raw)
    assert outcome.ok and outcome.text == "".join(paced_text(chunks, tag)), outcome.text[-200:]
    versions = {
        orjson.loads(line[6:]).get("sy_version") for line in raw.decode().split("\n") if line.startswith("data: {")
    }
    assert len(versions) == 1 and None not in versions, versions  # one snapshot for the whole stream
    return versions.pop()


async def reload_storm(
    proxy: ProxyProcess, folder: Path, url: str, *, signals: int, seconds: float, streams: int, chunks: int
) -> StormResult:
    """`signals` SIGHUPs over `seconds`, alternating valid (even) and broken (odd) files, under `streams`
    streams started across the storm, each `chunks` deltas paced to outlive several reloads."""
    result = StormResult()
    pause_ms = max(1, int(seconds * 1000 / chunks))
    async with aiohttp.ClientSession() as http:
        await one_versioned_stream(http, proxy, 5, 0, "warm")  # caches exist before counting
    await asyncio.sleep(0.2)  # that client's connection is closed
    result.fds_before, result.rss_before = open_fds(proxy.proc.pid), rss_mb(proxy.proc.pid)
    async with aiohttp.ClientSession() as http:
        before = await get_metrics(http, proxy)
        started = time.monotonic()

        async def stream(i: int) -> int:
            await asyncio.sleep(i * seconds / streams / 2)  # staggered: they start on different versions
            return await one_versioned_stream(http, proxy, chunks, pause_ms, f"s{i}")

        running = [asyncio.create_task(stream(i)) for i in range(streams)]
        last_valid = None
        for n in range(signals):
            version = None if n % 2 else 1000 + n
            storm_pack(folder, url, version)
            last_valid = version if version is not None else last_valid
            proxy.signal(signal.SIGHUP)
            await asyncio.sleep(seconds / signals)
        result.versions_seen = set(await asyncio.gather(*running))
        result.streams = len(running)
        result.seconds = time.monotonic() - started

        async def settled() -> bool:
            text = await get_metrics(http, proxy)
            ok = metric(text, "switchyard_reloads_total", result="success") - metric(
                before, "switchyard_reloads_total", result="success"
            )
            failed = metric(text, "switchyard_reloads_total", result="failure") - metric(
                before, "switchyard_reloads_total", result="failure"
            )
            result.reloads_ok, result.reloads_failed = ok, failed
            return ok + failed >= signals

        await wait_for(settled, timeout=10)
        # The running set is the last valid one: a new stream carries its version.
        assert await one_versioned_stream(http, proxy, 3, 0, "after") == last_valid
        assert metric(await get_metrics(http, proxy), "switchyard_active_streams") == 0
    await asyncio.sleep(0.5)  # the clients' connections are closed
    result.fds_after, result.rss_after = open_fds(proxy.proc.pid), rss_mb(proxy.proc.pid)
    return result


# -- bridged load -----------------------------------------------------------------------------------------


@dataclass
class LoadResult:
    streams: int = 0
    events: int = 0
    seconds: float = 0.0
    failures: list = field(default_factory=list)


async def bridged_load(proxy: ProxyProcess, *, concurrency: int, chunks: int, seconds: float) -> LoadResult:
    """`concurrency` workers, each opening Responses streams (Chat upstream) of `chunks` deltas, one after
    another, until `seconds` have passed; every stream's text is checked."""
    result = LoadResult()
    deadline = time.monotonic() + seconds
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as http:

        async def worker(w: int) -> None:
            n = 0
            while time.monotonic() < deadline:
                tag = f"w{w}n{n}"
                body = body_for("responses", f"r2c.paced_{chunks}_0.{tag}", True)
                try:
                    async with http.post(proxy.url + ROUTES["responses"], json=body) as r:
                        outcome = read("responses", r.status, r.headers.get("Content-Type", ""), await r.read())
                    assert outcome.ok and outcome.text == "".join(paced_text(chunks, tag))
                except (AssertionError, aiohttp.ClientError, TimeoutError) as exc:
                    result.failures.append(f"{tag}: {type(exc).__name__}: {str(exc)[:200]}")
                result.streams += 1
                result.events += chunks
                n += 1

        started = time.monotonic()
        await asyncio.gather(*(worker(w) for w in range(concurrency)))
        result.seconds = time.monotonic() - started
    return result
