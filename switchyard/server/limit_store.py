"""`--rate-limit-store redis://HOST:PORT/DB`: the limits' TATs in Redis, shared by every worker and replica.

Each check is one Lua script, run atomically by Redis: it reads the TATs of the request's limits,
decides, and writes them all or none, so two processes can never both take the last place. The clock
is Redis's own (`TIME`), so replicas whose clocks differ still agree. Keys expire once their TAT has
passed: an idle client costs Redis nothing. Values are milliseconds since the epoch, as text.

The client is the `redis` library's asyncio one (an optional dependency: `pip install
'switchyard[redis]'`). `check` is called before the server binds, so an unreachable Redis is a clear
start-up error rather than a first request that fails.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from switchyard.errors import UsageError

PREFIX = "switchyard:limit:"
TIMEOUT = 1.0  # seconds for a connection or a reply; past it the store has failed (see --rate-limit-on-store-error)

# KEYS: the limits' keys; ARGV[1]: "admit" or "charge"; ARGV[2]: the window (ms); ARGV[3..]: each key's cost (ms).
# Returns "0" when admitted (or charged), else "<ms to wait> <index of the key most over, from 0>".
SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local window = tonumber(ARGV[2])
local news = {}
local wait, worst = 0, -1
for i, key in ipairs(KEYS) do
  local tat = tonumber(redis.call('GET', key) or '0')
  if tat < now then tat = now end
  local new = tat + tonumber(ARGV[i + 2])
  news[i] = new
  if ARGV[1] == 'admit' and new - now - window > wait then
    wait, worst = new - now - window, i - 1
  end
end
if worst >= 0 then return tostring(wait) .. ' ' .. tostring(worst) end
for i, key in ipairs(KEYS) do
  redis.call('SET', key, string.format('%.3f', news[i]), 'PX', math.ceil(news[i] - now) + 1000)
end
return '0'
"""


def _module():
    try:
        import redis.asyncio
    except ImportError:
        raise UsageError("--rate-limit-store needs the redis client library: pip install 'switchyard[redis]'") from None
    return redis


def check_url(url: str) -> None:
    if urlsplit(url).scheme not in ("redis", "rediss", "unix"):
        raise UsageError(f"--rate-limit-store must be a redis:// URL (redis://HOST:PORT/DB), not {shown(url)}")


def shown(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=netloc).geturl()


def check(url: str) -> None:
    """Before binding: Redis must answer, or `serve` stops with a message saying so."""
    check_url(url)
    redis = _module()
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        raise UsageError(f"the rate-limit store {shown(url)} is unreachable: {exc}") from None
    finally:
        client.close()


class RedisStore:
    """The limits' store in Redis: `admit` and `charge` are one script call each."""

    def __init__(self, url: str):
        check_url(url)
        redis = _module()
        self.url = url
        self.client = redis.asyncio.Redis.from_url(url, socket_connect_timeout=TIMEOUT, socket_timeout=TIMEOUT)
        self.script = self.client.register_script(SCRIPT)

    async def admit(self, keys: list[str], costs: list[float]) -> tuple[float, int]:
        return self._parse(await self._run("admit", keys, costs))

    async def charge(self, keys: list[str], costs: list[float]) -> None:
        await self._run("charge", keys, costs)

    async def _run(self, mode: str, keys: list[str], costs: list[float]):
        args = [mode, 60_000, *(f"{c * 1000:.3f}" for c in costs)]
        return await self.script(keys=[PREFIX + k for k in keys], args=args)

    @staticmethod
    def _parse(reply) -> tuple[float, int]:
        text = reply.decode() if isinstance(reply, bytes) else str(reply)
        if text == "0":
            return 0.0, -1
        wait, worst = text.split()
        return float(wait) / 1000, int(worst)

    async def close(self) -> None:
        await self.client.aclose()
