"""A real browser (headless Chromium) against a real `switchyard serve`: a page from another origin cannot
spend the packs' keys, a rebinding host name cannot read the admin endpoints, and an allowed origin works.

The page is served by a second local server (the "attacker", another port: another origin). It tries a
`fetch` in `no-cors` mode with `text/plain` (a simple request: no preflight), a `fetch` with JSON (which
needs a preflight), a read of `/-/rules`, and a form POST, then reports what it saw to its own server.
DNS rebinding is shown as the proxy sees it: Chromium resolves `rebound.test` to 127.0.0.1
(`--host-resolver-rules`) and loads `http://rebound.test:PORT/-/rules`, a same-origin GET without
`Origin`, which is what a rebound page's `fetch` sends.

Chromium comes from Debian's `chromium` package: installed here when missing and running as root
(`apt-get install`), skipped with the reason when it cannot be.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess

import orjson
import pytest
from aiohttp import web
from proxy_process import free_port, write_pack

BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
CHOICE = {"index": 0, "message": {"role": "assistant", "content": "from the provider"}, "finish_reason": "stop"}
COMPLETION = {"id": "c", "object": "chat.completion", "created": 0, "model": "m", "choices": [CHOICE]}

PAGE = """<!doctype html>
<form id="form" method="POST" action="PROXY/v1/chat/completions" enctype="text/plain" target="sink">
  <input name='{"model":"m","messages":[{"role":"user","content":"hi"}],"x":"' value='"}'>
</form>
<iframe name="sink"></iframe>
<script>
const proxy = "PROXY";
const body = JSON.stringify(BODY_JSON);
const results = {};
async function attempt(name, run) {
  try { results[name] = await run(); } catch (e) { results[name] = "failed: " + e; }
}
(async () => {
  await attempt("no-cors text/plain", async () => {
    const r = await fetch(proxy + "/v1/chat/completions",
      {method: "POST", mode: "no-cors", headers: {"Content-Type": "text/plain"}, body});
    return r.type;
  });
  await attempt("cors json", async () => {
    const r = await fetch(proxy + "/v1/chat/completions",
      {method: "POST", headers: {"Content-Type": "application/json", "Authorization": "Bearer x"}, body});
    return r.status + " " + await r.text();
  });
  await attempt("read rules", async () => {
    const r = await fetch(proxy + "/-/rules");
    return r.status + " " + await r.text();
  });
  const posted = new Promise(done => { document.querySelector("iframe").onload = done; setTimeout(done, 3000); });
  document.getElementById("form").submit();
  await posted;
  await fetch("/report", {method: "POST", body: JSON.stringify(results)});
})();
</script>
"""


@pytest.fixture(scope="module")
def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.geteuid() != 0:
        pytest.skip("Chromium is not installed, and installing it (apt-get install chromium) needs root")
    install = ["apt-get", "install", "-y", "-q", "-o", "DPkg::Lock::Timeout=600", "chromium"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    done = subprocess.run(install, env=env, capture_output=True, text=True)
    if done.returncode != 0:  # an old package list: update it once and try again
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True)
        done = subprocess.run(install, env=env, capture_output=True, text=True)
    found = shutil.which("chromium")
    if not found:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        pytest.skip(f"Chromium could not be installed from Debian's packages: {last}")
    return found


def browser(chromium: str, profile, url: str, *extra: str) -> list[str]:
    return [
        chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
        "--host-resolver-rules=MAP rebound.test 127.0.0.1", f"--user-data-dir={profile}", *extra, url,
    ]  # fmt: skip


async def provider(aiohttp_server, rules, seen: list) -> None:
    async def handle(request: web.Request) -> web.Response:
        seen.append(request.path)
        return web.json_response(COMPLETION)

    app = web.Application()
    app.router.add_route("*", "/{path:.*}", handle)
    url = (await aiohttp_server(app)).make_url("/v1")
    write_pack(rules, "p", f'pack: p\nmatch: "`true`"\nupstream: {{url: "{url}", protocol: chat}}\n')


async def dump(chromium, tmp_path, url: str) -> str:
    """The page Chromium shows for `url` (a top-level GET: no Origin, the Host of the URL)."""
    proc = await asyncio.create_subprocess_exec(
        *browser(chromium, tmp_path / "dump-profile", url, "--dump-dom"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return out.decode()


async def test_a_page_from_another_origin_reaches_no_provider_and_no_admin_endpoint(
    chromium, start_proxy, aiohttp_server, tmp_path
):
    seen: list = []
    await provider(aiohttp_server, tmp_path / "rules", seen)
    proxy = start_proxy(tmp_path / "rules")
    results = await attack(chromium, tmp_path, proxy.port, free_port())
    assert results["no-cors text/plain"] == "opaque"  # sent, and its answer unreadable: it was refused
    assert results["cors json"].startswith("failed")  # the preflight was refused
    assert results["read rules"].startswith("failed")
    assert seen == []  # nothing reached the provider, the form POST included
    # The proxy did see the page's requests (logged once per reason), and refused them.
    assert "refused POST /v1/chat/completions with 403: requests from the web origin http://127.0.0.1:" in proxy.log()


async def test_a_rebinding_host_name_cannot_read_the_admin_endpoints(chromium, start_proxy, aiohttp_server, tmp_path):
    await provider(aiohttp_server, tmp_path / "rules", [])
    proxy = start_proxy(tmp_path / "rules")
    rebound = await dump(chromium, tmp_path, f"http://rebound.test:{proxy.port}/-/rules")
    assert "host_not_allowed" in rebound and '"packs"' not in rebound
    local = await dump(chromium, tmp_path, f"http://localhost:{proxy.port}/-/rules")
    assert '"packs"' in local  # the same page under a loopback name is served


async def test_a_page_from_an_allowed_origin_gets_its_answer(chromium, start_proxy, aiohttp_server, tmp_path):
    seen: list = []
    await provider(aiohttp_server, tmp_path / "rules", seen)
    port = free_port()  # the page's origin, allowed before it is served
    proxy = start_proxy(tmp_path / "rules", args=("--cors-origin", f"http://127.0.0.1:{port}"))
    results = await attack(chromium, tmp_path, proxy.port, port)
    assert results["cors json"].startswith("200 ") and "from the provider" in results["cors json"]
    assert results["no-cors text/plain"] == "opaque"  # still refused: not declared JSON (415)
    assert seen == ["/v1/chat/completions"]  # the JSON fetch only


async def attack(chromium, tmp_path, proxy_port: int, page_port: int) -> dict:
    """Open the page, served on `page_port` (another origin), in Chromium; what it reported."""
    reported: asyncio.Future = asyncio.get_running_loop().create_future()
    page = PAGE.replace("PROXY", f"http://127.0.0.1:{proxy_port}").replace("BODY_JSON", orjson.dumps(BODY).decode())

    async def serve_page(request: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html")

    async def report(request: web.Request) -> web.Response:
        if not reported.done():
            reported.set_result(orjson.loads(await request.read()))
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/attack.html", serve_page)
    app.router.add_post("/report", report)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", page_port).start()
    proc = await asyncio.create_subprocess_exec(
        *browser(chromium, tmp_path / "profile", f"http://127.0.0.1:{page_port}/attack.html"),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        return await asyncio.wait_for(reported, 60)
    finally:
        proc.terminate()
        await proc.wait()
        await runner.cleanup()
