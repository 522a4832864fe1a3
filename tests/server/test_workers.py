"""`serve --workers N` through real processes: a supervisor, forked workers, one port, one reload decision.

A worker is told apart by the `pid` that `/-/rules` reports. Requests go over a new connection each
(`fresh()`), which the kernel hashes onto one of the workers' SO_REUSEPORT listeners, so a few of
them reach every worker; `answers()` polls until each live worker has answered. The live workers are
the supervisor's children, read from /proc.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import orjson
import pytest
from fakes.chat_provider import FakeChatProvider, chunk
from proxy_process import ROOT, free_port, write_pack
from server_kit import metric, wait_for

pytestmark = pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads worker pids from /proc (Linux)")

CHAT = {"model": "alpha-1", "messages": [{"role": "user", "content": "hi"}]}
STREAM = {**CHAT, "stream": True}


def pack(url: str, models: str = "alpha-1") -> str:
    return f"""
        pack: alpha
        match: "starts_with(model, 'alpha')"
        models: [{models}]
        upstream: {{url: "{url}", protocol: chat}}
        """


BROKEN = """
    pack: alpha
    match: "starts_with(model, 'alpha')"
    upstream: {url: "http://127.0.0.1:9/v1", protocol: chat}
    response:
      - renam: {a: b}
    """


async def rig(aiohttp_server, start_proxy, tmp_path, *args: str, workers: str = "2"):
    fake = FakeChatProvider(allowed_fields=None)
    server = await aiohttp_server(fake.app)
    url = str(server.make_url("/v1"))
    write_pack(tmp_path / "rules", "alpha", pack(url))
    proxy = start_proxy(tmp_path / "rules", args=("--workers", workers, *args))
    if workers != "1":
        await wait_for(lambda: len(worker_pids(proxy)) == int(workers), timeout=10)
        await answers(proxy)  # every worker serving
    return fake, url, proxy


def worker_pids(proxy) -> set[int]:
    pid = proxy.proc.pid
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return {int(p) for p in text.split()}


def fresh() -> aiohttp.ClientSession:
    """A client whose every request opens a new connection (so the kernel picks a worker each time)."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True))


async def answers(proxy, until=lambda body: True, timeout: float = 10.0) -> dict[int, dict]:
    """`/-/rules` from every live worker, polled until each one's answer satisfies `until`; pid -> answer."""
    latest: dict[int, dict] = {}

    async def done():
        async with fresh() as http, http.get(proxy.url + "/-/rules") as r:
            body = await r.json()
        latest[body["pid"]] = body
        live = worker_pids(proxy)
        return live and all(pid in latest and until(latest[pid]) for pid in live)

    await wait_for(done, timeout=timeout, interval=0.01)
    return {pid: latest[pid] for pid in worker_pids(proxy)}


async def test_two_workers_on_one_port_both_answer_and_neither_is_the_supervisor(aiohttp_server, start_proxy, tmp_path):
    _, _, proxy = await rig(aiohttp_server, start_proxy, tmp_path)
    seen = await answers(proxy)
    assert len(seen) == 2 and proxy.proc.pid not in seen
    ids = set()
    async with fresh() as http:
        for _ in range(6):
            async with http.post(f"{proxy.base_url}/chat/completions", json=CHAT) as r:
                assert r.status == 200 and (await r.json())["choices"][0]["message"]["content"]
                ids.add(r.headers["X-Request-Id"])
    assert len(ids) == 6  # the workers' ids differ (forked from one, they would repeat each other's)


async def test_one_worker_is_the_single_process_server_with_no_supervisor(aiohttp_server, start_proxy, tmp_path):
    _, _, proxy = await rig(aiohttp_server, start_proxy, tmp_path, workers="1")
    async with aiohttp.ClientSession() as http, http.get(proxy.url + "/-/rules") as r:
        assert (await r.json())["pid"] == proxy.proc.pid
    assert worker_pids(proxy) == set()
    async with aiohttp.ClientSession() as http, http.post(f"{proxy.base_url}/chat/completions", json=CHAT) as r:
        assert r.status == 200
    (line,) = [line for line in proxy.log().splitlines() if " request request_id=" in line]
    assert "worker=" not in line  # one process: the access log line is as it always was


async def request_lines_by_worker(proxy, fmt: str) -> dict[int, list[str]]:
    """Requests on new connections until each live worker has served one: worker pid -> its access log lines.

    The pid is read from each line (`worker=PID` in text, `"worker": PID` in JSON): a line without one fails.
    """
    seen: dict[int, list[str]] = {}
    async with fresh() as http:
        for n in range(60):
            headers = {"X-Request-Id": f"req-who-{n}"}
            async with http.post(f"{proxy.base_url}/chat/completions", json=CHAT, headers=headers) as r:
                assert r.status == 200
            if n >= 3 and len(seen_workers(proxy, fmt)) == 2:
                break
    for line in proxy.log().splitlines():
        if "req-who-" in line:
            seen.setdefault(worker_of(line, fmt), []).append(line)
    return seen


def worker_of(line: str, fmt: str) -> int:
    if fmt == "json":
        return orjson.loads(line)["worker"]
    assert line.split()[-1].startswith("worker="), line  # last on the line
    return int(line.split()[-1].removeprefix("worker="))


def seen_workers(proxy, fmt: str) -> set[int]:
    return {worker_of(line, fmt) for line in proxy.log().splitlines() if "req-who-" in line}


@pytest.mark.parametrize("fmt", ["text", "json"])
async def test_with_workers_every_access_log_line_names_the_worker_that_served_it(
    aiohttp_server, start_proxy, tmp_path, fmt
):
    _, _, proxy = await rig(aiohttp_server, start_proxy, tmp_path, "--log-format", fmt)
    by_worker = await request_lines_by_worker(proxy, fmt)
    assert set(by_worker) == worker_pids(proxy)  # both workers served, and each line names one of them
    if fmt == "json":  # a field of its own, the line's others unchanged
        record = orjson.loads(by_worker[min(by_worker)][0])
        assert record["msg"] == "request" and record["status"] == 200 and record["request_id"].startswith("req-who-")


@pytest.mark.parametrize("how", ["SIGHUP", "POST /-/reload", "--watch"])
async def test_a_valid_change_reaches_every_worker_as_the_same_version(aiohttp_server, start_proxy, tmp_path, how):
    _, url, proxy = await rig(aiohttp_server, start_proxy, tmp_path, *(("--watch",) if how == "--watch" else ()))
    before = {body["version"] for body in (await answers(proxy)).values()}
    assert len(before) == 1
    write_pack(tmp_path / "rules", "alpha", pack(url, models="alpha-2"))
    if how == "SIGHUP":
        proxy.signal(signal.SIGHUP)
    elif how == "POST /-/reload":
        async with fresh() as http, http.post(proxy.url + "/-/reload") as r:
            assert r.status == 200 and (await r.json())["ok"] is True
    after = await answers(proxy, until=lambda body: body["version"] not in before)
    assert len({body["version"] for body in after.values()}) == 1
    assert all(body["packs"][0]["models"] == ["alpha-2"] and body["last_reload"]["ok"] for body in after.values())
    # one decision: the same load time and reload time everywhere, and counted once
    assert len({(body["loaded_at"], body["last_reload"]["at"]) for body in after.values()}) == 1
    async with fresh() as http, http.get(proxy.url + "/metrics") as r:
        assert metric(await r.text(), "switchyard_reloads_total", result="success") == 1


@pytest.mark.parametrize("how", ["SIGHUP", "POST /-/reload"])
async def test_a_broken_file_reaches_no_worker(aiohttp_server, start_proxy, tmp_path, how):
    _, _, proxy = await rig(aiohttp_server, start_proxy, tmp_path)
    before = await answers(proxy)
    (version,) = {body["version"] for body in before.values()}
    write_pack(tmp_path / "rules", "alpha", BROKEN)
    if how == "SIGHUP":
        proxy.signal(signal.SIGHUP)
    else:
        async with fresh() as http, http.post(proxy.url + "/-/reload") as r:
            assert r.status == 422
            assert any("unknown key 'renam'" in p for p in (await r.json())["problems"])
    after = await answers(proxy, until=lambda body: not body["last_reload"]["ok"])
    for body in after.values():
        assert body["version"] == version and body["packs"][0]["models"] == ["alpha-1"]
        assert any("unknown key 'renam'" in p for p in body["last_reload"]["problems"])
    async with fresh() as http:
        for _ in range(4):  # whichever worker answers still serves the previous packs
            async with http.post(f"{proxy.base_url}/chat/completions", json=CHAT) as r:
                assert r.status == 200
        async with http.get(proxy.url + "/metrics") as r:
            text = await r.text()
    assert metric(text, "switchyard_reloads_total", result="failure") == 1  # one decision, counted once
    assert metric(text, "switchyard_last_reload_success") == 0
    assert metric(text, "switchyard_packs_loaded") == 1


async def test_metrics_from_any_worker_count_the_requests_of_all_workers(aiohttp_server, start_proxy, tmp_path):
    _, _, proxy = await rig(aiohttp_server, start_proxy, tmp_path)
    sent = 40  # each on a new connection: the kernel spreads them over both workers
    async with fresh() as http:
        for _ in range(sent):
            async with http.post(f"{proxy.base_url}/chat/completions", json=CHAT) as r:
                assert r.status == 200
        scrapes = []
        for _ in range(6):  # scraped from either worker, the totals are the same
            async with http.get(proxy.url + "/metrics") as r:
                scrapes.append(await r.text())
    labels = {"pack": "alpha", "client": "chat", "upstream": "chat", "status": "200"}
    assert {metric(text, "switchyard_requests_total", **labels) for text in scrapes} == {sent}
    assert {
        metric(text, "switchyard_request_duration_seconds_count", pack="alpha", client="chat") for text in scrapes
    } == {sent}
    for text in scrapes:  # every metric is listed, as with one process (labelled ones with no sample yet too)
        for name in ("switchyard_step_errors", "switchyard_upstream_retries", "switchyard_active_streams"):
            assert f"# TYPE {name}" in text


async def streams_on_every_worker(proxy, fake, http_sessions: list, release: asyncio.Event) -> list:
    """A held stream on each worker: a session's one connection is one worker, told by `/-/rules` first."""
    responses, pids = [], set()
    for _ in range(60):
        if len(pids) == len(worker_pids(proxy)):
            break
        http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1))
        http_sessions.append(http)
        async with http.get(proxy.url + "/-/rules") as r:
            pid = (await r.json())["pid"]
        if pid in pids:
            continue
        pids.add(pid)
        fake.reply_stream([chunk({"role": "assistant", "content": "Hel"}), chunk({}, "stop")], hold=(1, release))
        response = await http.post(f"{proxy.base_url}/chat/completions", json=STREAM)
        await response.content.readuntil(b"\n\n")  # in flight on that worker
        responses.append(response)
    assert len(pids) == 2
    return responses


async def test_sigterm_drains_a_stream_on_every_worker_and_the_supervisor_exits_0(
    aiohttp_server, start_proxy, tmp_path
):
    never = asyncio.Event()
    fake, _, proxy = await rig(aiohttp_server, start_proxy, tmp_path, "--shutdown-delay", "0.5", "--grace", "1")
    sessions: list = []
    try:
        held = await streams_on_every_worker(proxy, fake, sessions, never)
        proxy.signal(signal.SIGTERM)
        await asyncio.sleep(0.2)
        async with fresh() as http:
            for _ in range(4):  # every worker is out of rotation at once
                async with http.get(proxy.url + "/readyz") as ready:
                    assert ready.status == 503
        for response in held:
            events = [line[6:] for line in (await response.read()).decode().splitlines() if line.startswith("data: ")]
            assert events[-1] == "[DONE]" and "shutting down" in orjson.loads(events[-2])["error"]["message"]
    finally:
        never.set()
        for http in sessions:
            await http.close()
    assert await asyncio.to_thread(proxy.proc.wait, 20) == 0
    assert proxy.log().count("ended by the shutdown") == 2


async def test_a_killed_worker_is_replaced_and_serves_the_current_rules(aiohttp_server, start_proxy, tmp_path):
    _, url, proxy = await rig(aiohttp_server, start_proxy, tmp_path)
    write_pack(tmp_path / "rules", "alpha", pack(url, models="alpha-2"))
    proxy.signal(signal.SIGHUP)
    await answers(proxy, until=lambda body: body["packs"][0]["models"] == ["alpha-2"])
    victim = min(worker_pids(proxy))
    os.kill(victim, signal.SIGKILL)
    await wait_for(lambda: victim not in worker_pids(proxy) and len(worker_pids(proxy)) == 2, timeout=10)
    after = await answers(proxy)
    assert victim not in after and all(body["packs"][0]["models"] == ["alpha-2"] for body in after.values())
    assert f"(pid {victim}) exited unexpectedly with signal SIGKILL; starting another" in proxy.log()


async def test_a_killed_workers_streams_leave_the_gauge_and_its_requests_stay_counted(
    aiohttp_server, start_proxy, tmp_path
):
    # The supervisor marks a dead worker dead in prometheus-client (`mark_process_dead`): its live
    # gauges (the stream it had in flight) stop counting, its counters (requests served) still add up.
    release = asyncio.Event()
    fake, _, proxy = await rig(aiohttp_server, start_proxy, tmp_path)
    pinned: dict[int, aiohttp.ClientSession] = {}  # worker pid -> a session whose one connection is on it
    held = []
    try:
        for _ in range(60):
            if len(pinned) == 2:
                break
            http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1))
            async with http.get(proxy.url + "/-/rules") as r:
                pid = (await r.json())["pid"]
            if pid in pinned:
                await http.close()
                continue
            pinned[pid] = http
            for _ in range(3):  # each read to its end, or the connection is not reused (and may reach the other)
                async with http.post(f"{proxy.base_url}/chat/completions", json=CHAT) as r:
                    assert r.status == 200 and (await r.json())["choices"]
            fake.reply_stream([chunk({"role": "assistant", "content": "Hel"}), chunk({}, "stop")], hold=(1, release))
            response = await http.post(f"{proxy.base_url}/chat/completions", json=STREAM)
            await response.content.readuntil(b"\n\n")  # in flight on that worker
            held.append(response)
        assert len(pinned) == 2

        async def scrape() -> str:
            async with fresh() as http, http.get(proxy.url + "/metrics") as r:
                return await r.text()

        served = {"pack": "alpha", "client": "chat", "upstream": "chat", "status": "200"}
        assert metric(await scrape(), "switchyard_active_streams") == 2
        victim = min(pinned)
        os.kill(victim, signal.SIGKILL)
        await wait_for(lambda: victim not in worker_pids(proxy) and len(worker_pids(proxy)) == 2, timeout=10)
        await answers(proxy)  # the replacement serves
        for _ in range(4):  # from either worker, the replacement included
            text = await scrape()
            assert metric(text, "switchyard_active_streams") == 1  # the survivor's stream only
            assert metric(text, "switchyard_requests_total", **served) == 6  # the dead worker's 3 included
    finally:
        release.set()
        for response in held:
            response.close()
        for http in pinned.values():
            await http.close()


def test_a_taken_port_stops_start_up_before_any_worker_with_exit_2(tmp_path):
    write_pack(tmp_path / "rules", "alpha", pack("http://127.0.0.1:9/v1"))
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        cmd = [sys.executable, "-m", "switchyard", "serve", "--rules", str(tmp_path / "rules"), "--workers", "2"]
        done = subprocess.run([*cmd, "--port", str(port)], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and "cannot listen" in done.stderr


def test_a_broken_pack_stops_start_up_before_any_worker_with_exit_1(tmp_path):
    write_pack(tmp_path / "rules", "alpha", BROKEN)
    cmd = [sys.executable, "-m", "switchyard", "serve", "--rules", str(tmp_path / "rules"), "--workers", "2"]
    done = subprocess.run([*cmd, "--port", str(free_port())], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert done.returncode == 1 and "unknown key 'renam'" in done.stderr and "serving" not in done.stderr


# A worker whose start fails (here: its app cannot be built) while the supervisor's checks passed.
FAILING_WORKER = """
import sys
from switchyard.server import worker
def cannot_start(*args, **kwargs):
    raise RuntimeError("no app for this worker")
worker.run = cannot_start
from switchyard.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_worker_that_cannot_start_stops_the_server_with_exit_1_and_says_why(tmp_path):
    write_pack(tmp_path / "rules", "alpha", pack("http://127.0.0.1:9/v1"))
    args = ["serve", "--rules", str(tmp_path / "rules"), "--workers", "2", "--port", str(free_port())]
    done = subprocess.run(
        [sys.executable, "-c", FAILING_WORKER, *args], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 1
    assert "RuntimeError: no app for this worker" in done.stderr
    assert "exited with code 1 before it was serving; not serving" in done.stderr


async def test_with_partial_every_worker_leaves_out_the_same_broken_file(aiohttp_server, start_proxy, tmp_path):
    _, _, proxy = await rig(aiohttp_server, start_proxy, tmp_path, "--partial")
    write_pack(tmp_path / "rules", "beta", BROKEN.replace("pack: alpha", "pack: beta"))
    proxy.signal(signal.SIGHUP)
    after = await answers(proxy, until=lambda body: body["left_out"])
    assert len({orjson.dumps([body["version"], body["left_out"], body["packs"]]) for body in after.values()}) == 1
    (body, *_) = after.values()
    assert body["left_out"][0]["file"].endswith("beta.yaml") and [p["name"] for p in body["packs"]] == ["alpha"]


async def test_switchyard_trace_finds_a_request_whichever_worker_kept_its_trace(aiohttp_server, start_proxy, tmp_path):
    # Each worker keeps its own traces and each new connection may reach the other worker: the command
    # asks again before it believes a 404 (one try each would miss about half of the time).
    _, _, proxy = await rig(aiohttp_server, start_proxy, tmp_path)
    ids = []
    async with fresh() as http:
        for n in range(4):
            headers = {"X-Request-Id": f"req-workers-{n}"}
            async with http.post(f"{proxy.base_url}/chat/completions", json=CHAT, headers=headers) as r:
                assert r.status == 200
                ids.append(r.headers["X-Request-Id"])
    for request_id in ids:
        run = subprocess.run(
            [sys.executable, "-m", "switchyard", "trace", request_id, "--server", proxy.url, "--json"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert run.returncode == 0, run.stderr
        assert orjson.loads(run.stdout)["id"] == request_id
