"""deploy/prometheus and deploy/grafana against the metrics the server really exports.

Every metric an alert or a dashboard query names is one `switchyard.server.metrics` exports (a
renamed metric must not leave a silent alert or an empty panel behind), the alerts pass their own
`promtool test rules`, and a live `/metrics`, after traffic that fills every token series, passes
`promtool check metrics`. promtool is Debian's `prometheus` package (`make test` and `make lint`
install it).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import aiohttp
import golden_files
import pytest
from fakes.chat_provider import FakeChatProvider
from prometheus_client import Counter, Gauge, Histogram
from proxy_process import write_pack
from ruamel.yaml import YAML

from switchyard.server.metrics import Metrics

DEPLOY = golden_files.ROOT / "deploy"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool is not installed: `make promtool` (Debian's prometheus package, as root)"
)
NAME = re.compile(r"\bswitchyard_[a-z_]+\b")


def exported() -> set[str]:
    """Every series name `/metrics` can have."""
    names = set()
    for metric in vars(Metrics()).values():
        if isinstance(metric, Counter):
            names.add(metric._name + "_total")
        elif isinstance(metric, Histogram):
            names.update(metric._name + suffix for suffix in ("_bucket", "_count", "_sum"))
        elif isinstance(metric, Gauge):
            names.add(metric._name)
    return names


def dashboard_queries() -> list[str]:
    dashboard = json.loads((DEPLOY / "grafana" / "switchyard.json").read_text(encoding="utf-8"))
    queries = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", ())]
    queries += [v["definition"] for v in dashboard["templating"]["list"] if "definition" in v]
    return queries


def alert_expressions() -> dict[str, str]:
    rules = YAML(typ="safe").load((DEPLOY / "prometheus" / "alerts.yaml").read_text(encoding="utf-8"))
    return {rule["alert"]: rule["expr"] for group in rules["groups"] for rule in group["rules"]}


def test_every_dashboard_query_names_only_metrics_the_server_exports():
    queries = dashboard_queries()
    assert len(queries) >= 15
    for query in queries:
        named = set(NAME.findall(query))
        assert named, query
        assert named <= exported(), f"{query} names {sorted(named - exported())}"


def test_the_dashboard_shows_tokens_by_model_requests_and_errors_by_pack_latency_ttft_streams_and_reloads():
    named = {name for query in dashboard_queries() for name in NAME.findall(query)}
    for metric in ("switchyard_tokens_total", "switchyard_requests_total", "switchyard_upstream_http_errors_total",
                   "switchyard_request_duration_seconds_bucket", "switchyard_time_to_first_token_seconds_bucket",
                   "switchyard_active_streams", "switchyard_reloads_total"):  # fmt: skip
        assert metric in named


def test_every_alert_names_only_metrics_the_server_exports():
    alerts = alert_expressions()
    assert {"SwitchyardUpstreamErrorRatioHigh", "SwitchyardReloadFailed", "SwitchyardPacksLeftOut",
            "SwitchyardSaturated", "SwitchyardTimeToFirstTokenSlow"} <= set(alerts)  # fmt: skip
    for name, expr in alerts.items():
        named = set(NAME.findall(expr))
        assert named and named <= exported(), f"{name} names {sorted(named - exported())}"


@needs_promtool
def test_the_alerts_pass_their_promtool_unit_tests():
    done = subprocess.run(
        [PROMTOOL, "test", "rules", "alerts_test.yaml"], cwd=DEPLOY / "prometheus", capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


@needs_promtool
async def test_a_live_metrics_page_with_every_token_series_passes_promtool_check_metrics(
    aiohttp_server, start_proxy, tmp_path
):
    fake = FakeChatProvider(allowed_fields=None)
    url = str((await aiohttp_server(fake.app)).make_url("/v1"))
    write_pack(
        tmp_path / "rules",
        "p",
        f"""
        pack: p
        match: "model == 'm'"
        models: [m]
        upstream: {{url: "{url}", protocol: chat}}
        """,
    )
    proxy = start_proxy(tmp_path / "rules")
    async with aiohttp.ClientSession() as http:
        for stream in (False, True):
            body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": stream}
            async with http.post(proxy.base_url + "/chat/completions", json=body) as r:
                assert r.status == 200
                await r.read()
        async with http.get(proxy.url + "/metrics") as r:
            page = await r.read()
    assert b'switchyard_tokens_total{client="",model="m",pack="p",type="input"} 20.0' in page
    assert b"switchyard_time_to_first_token_seconds_count" in page
    done = subprocess.run([PROMTOOL, "check", "metrics"], input=page, capture_output=True)
    assert done.returncode == 0, done.stdout + done.stderr
