"""Keys, endpoints and limits (issue 25): what choosing an endpoint and key and checking a request's limits cost.

    .venv/bin/python -m bench.bench_pool [--quick]

Figures, each printed next to its budget or as a report:

1. The routing decision and a local limit check together, per request, as the proxy makes them: the pack's
   `affinity` evaluated on the client's request and hashed, the endpoint and key chosen by rendezvous
   hashing (two endpoints, two keys each), and the pack's limits checked in this process's memory (one per
   client, one per pack, requests and tokens). Budget: <= 5 µs per request. The same without affinity
   (smooth weighted round robin) and without limits are printed beside it.
2. The added latency of a limit check in Redis (`--rate-limit-store`): one script call per request to a
   redis-server on loopback, started here (skipped, saying so, when redis-server is not installed). A
   report: the figure is a network round trip and Redis's work, not this code's.

Timing is the best of 300 rounds of 1,000 calls (`bench.kit.best_of`): on a shared machine short rounds
are what the neighbours leave undisturbed, so the best one measures the code. The Redis figure is the
median and 99th percentile of single calls. A conversation's first request (its affinity value never
seen) hashes and scores every endpoint; later ones find their pick in a dict: both are printed.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import sys
import tempfile
import time

from switchyard.server.limits import Limits
from switchyard.server.pool import Pool, affinity_key

try:
    from bench.kit import best_of, compile_text, judge
except ImportError:  # run as a script: bench/ itself is on sys.path
    from kit import best_of, compile_text, judge  # type: ignore[no-redef]

QUICK = "--quick" in sys.argv
# Many short rounds: on a shared machine the best of them is the one the neighbours disturbed least.
ROUNDS = 20 if QUICK else 300
CALLS = 1_000
REDIS_CALLS = 500 if QUICK else 5_000

PACK = """\
pack: bench-pool
match: "`true`"
upstream:
  protocol: chat
  api_key: [sk-bench-a, sk-bench-b]
  endpoints:
    - {url: "https://eu.example/v1", weight: 3}
    - {url: "https://us.example/v1", weight: 1}
  affinity: "prompt_cache_key || metadata.user_id"
limits:
  - {per: client, requests_per_minute: 100000000, tokens_per_minute: 1000000000}
  - {per: pack, requests_per_minute: 100000000}
"""
BODY = {"model": "m", "prompt_cache_key": "019a8f3e-2b4c-7d1e-9f00-5a6b7c8d9e0f", "input": "hi"}


def row(label: str, value: float, unit: str, budget: str = "") -> None:
    print(f"{label:<66} {value:>10.2f} {unit:<4} {budget} {judge(label, value, budget)}")


def decision_µs(pack, body: dict, affinity: bool, limits: bool, new_conversations: bool = False) -> float:
    pool = Pool(pack.name, pack.upstream)
    checker = Limits()
    expression = pack.upstream.affinity
    bodies = [{**body, "prompt_cache_key": f"conversation-{i}"} for i in range(CALLS)] if new_conversations else None

    def many() -> None:  # as the proxy makes them (a local check is a plain call, no await)
        if bodies is not None:
            pool.sticky.clear()  # every value unseen, as a conversation's first request
        for i in range(CALLS):
            sticky = affinity_key(expression.evaluate(bodies[i] if bodies else body)) if affinity else None
            pool.pick(sticky)
            if limits:
                checker.admit_now(pack, "127.0.0.1")

    return best_of(ROUNDS, many) / CALLS * 1e6


def redis_figures(pack) -> tuple[float, float] | None:
    binary = shutil.which("redis-server")
    if binary is None:
        return None
    from bench.bench_server import free_port
    from switchyard.server.limit_store import RedisStore

    port = free_port()
    import subprocess

    with tempfile.TemporaryDirectory() as folder:
        proc = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", folder],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            return asyncio.run(_redis_calls(pack, f"redis://127.0.0.1:{port}/0", RedisStore))
        finally:
            proc.terminate()
            proc.wait(10)


async def _redis_calls(pack, url: str, store_class) -> tuple[float, float]:
    for _ in range(100):
        try:
            store = store_class(url)
            await store.client.ping()
            break
        except Exception:
            await asyncio.sleep(0.05)
    limits = Limits(store)
    samples = []
    for i in range(REDIS_CALLS):
        started = time.perf_counter()
        await limits.admit(pack, f"client-{i % 50}")
        samples.append((time.perf_counter() - started) * 1e6)
    await store.close()
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99)]


def main() -> None:
    pack = compile_text(PACK)
    with_everything = decision_µs(pack, BODY, affinity=True, limits=True)
    row("routing decision (affinity) + local limit check, per request", with_everything, "µs", "budget <= 5 µs")
    row("  routing decision by weight + local limit check", decision_µs(pack, BODY, False, True), "µs")
    row("  routing decision (affinity) alone", decision_µs(pack, BODY, True, False), "µs")
    first = decision_µs(pack, BODY, True, True, new_conversations=True)
    row("  the same, each request a new conversation (hash and score)", first, "µs", "budget <= 5 µs")
    redis = redis_figures(pack)
    if redis is None:
        print("limit check in Redis: skipped (redis-server not installed; Debian's package: redis-server)")
    else:
        median, p99 = redis
        row("limit check in Redis (loopback), added latency: median", median, "µs")
        row("limit check in Redis (loopback), added latency: p99", p99, "µs")


if __name__ == "__main__":
    main()
