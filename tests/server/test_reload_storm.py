"""A reload storm under live streams (switchyard/server/reloader.py), short; `make soak` runs the long one.

SIGHUPs in quick succession while streams are in flight, the pack file alternating between a valid
version and a broken one: every stream ends whole with the one version it started with, broken
files leave the running set alone, the last valid version is the one running afterwards, and no
file descriptor is left behind. The storm itself is `load_kit.reload_storm`.
"""

from __future__ import annotations

import signal

import aiohttp
from load_kit import reload_storm, storm_pack
from server_kit import get_metrics, metric, wait_for


async def test_streams_keep_their_snapshot_through_a_reload_storm_and_the_last_valid_set_wins(
    faulty, start_proxy, tmp_path
):
    folder = tmp_path / "rules"
    storm_pack(folder, faulty[1], 1)
    proxy = start_proxy(folder)
    result = await reload_storm(proxy, folder, faulty[1], signals=10, seconds=2.0, streams=6, chunks=40)
    assert result.streams == 6 and len(result.versions_seen) >= 2  # streams did span reloads
    assert (result.reloads_ok, result.reloads_failed) == (5, 5)
    assert result.fds_after <= result.fds_before, (result.fds_before, result.fds_after)


async def test_a_10_mb_pack_file_is_refused_on_reload_and_the_running_set_stays(faulty, start_proxy, tmp_path):
    folder = tmp_path / "rules"
    storm_pack(folder, faulty[1], 1)
    proxy = start_proxy(folder)
    (folder / "huge.yaml").write_text('pack: huge\nmatch: "`true`"\n# ' + "x" * (10 * 1024 * 1024) + "\n")
    proxy.signal(signal.SIGHUP)
    async with aiohttp.ClientSession() as http:
        await wait_for(lambda: _failed_reloads(http, proxy), timeout=10)
        async with http.get(proxy.url + "/-/rules") as r:
            rules = await r.json()
    assert [p["name"] for p in rules["packs"]] == ["storm"], rules
    assert "huge.yaml:1:1: the file is over 1024 KiB" in str(rules), rules


async def _failed_reloads(http, proxy) -> bool:
    return metric(await get_metrics(http, proxy), "switchyard_reloads_total", result="failure") >= 1
