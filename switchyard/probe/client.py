"""Sending the probe's requests: bounded, polite, and never telling anyone the key.

Every request the probe makes goes through `Client.send`, which numbers it and keeps an `Exchange`
(what was sent, the status, the provider's words), so that each decision in the written pack can
cite the request and the answer that justified it.

Design choices:

- The budget is enforced here, once: the request that would exceed `--max-requests` is never sent
  (`BudgetSpent`), whatever the search wanted next.
- 429 is a pause, not an answer: the same body is sent again after `Retry-After` (seconds, at most
  `MAX_PAUSE`; a jittered second without one). Each attempt counts against the budget, since the
  provider counted it too.
- 401 and 403 stop the probe (`Refused`): nothing can be learnt about a body from a key the
  provider does not accept, and hammering it with more is rude.
- A 5xx is sent once more before it counts as the provider's answer to that body: a passing
  failure must not become a "refused" feature, but some servers do answer 500 to a body they
  cannot handle, every time.
- A 200 whose body (or first stream event) is an `{"error": ...}` is a refusal, not an acceptance:
  some providers answer that way.
- The key exists only in the `Authorization` header. Every text kept from an answer is passed
  through `redact` first, in case a provider echoes credentials back in an error.
- Streams are read whole with the project's SSE decoder; events are kept as parsed JSON (or the
  raw text, `[DONE]` included), so the stream reader can say where reasoning and usage arrived.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from switchyard.protocols.sse import SSEDecoder

MAX_PAUSE = 30.0  # seconds: the longest Retry-After honoured; a longer one stops the probe
ANSWER_CHARS = 300  # how much of an error answer is kept (and cited in the pack)


class ProbeStopped(Exception):
    """The probe cannot go on; the message says why, for the person who ran it."""


class Refused(ProbeStopped):
    """401/403: the key is missing, wrong, or not allowed to use the model."""


class BudgetSpent(ProbeStopped):
    """The next request would exceed `--max-requests`."""


@dataclass
class Exchange:
    """One request and its answer. `number` counts from 1 in the order sent."""

    number: int
    label: str  # what the body was meant to test, in words
    body: dict
    status: int = 0  # 0: no answer (connection failed)
    answer: str = ""  # the provider's error message (redacted, shortened); "" when accepted
    param: str | None = None  # the error's `param`, when it names one
    events: list[Any] = field(default_factory=list)  # a stream's events: parsed JSON, or raw text
    json: Any = None  # a non-streaming answer's body

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300 and not self.answer

    def cite(self) -> str:
        """`request 7 (a body with store): 400 "Unknown field store"`: how the pack's comments cite it."""
        said = f'{self.status} "{self.answer}"' if self.answer else f"{self.status}"
        return f"request {self.number} ({self.label}): {said}"


class Client:
    """The probe's HTTP side: one aiohttp session, a budget, the record of every exchange."""

    def __init__(
        self,
        url: str,
        path: str,
        key: str,
        *,
        max_requests: int,
        timeout: float = 60.0,
        say: Callable[[str], None] = lambda _: None,
    ):
        self.endpoint = url.rstrip("/") + path
        self._key = key
        self.max_requests = max_requests
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.say = say
        self.exchanges: list[Exchange] = []
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Client:
        self._session = aiohttp.ClientSession(timeout=self.timeout)
        return self

    async def __aexit__(self, *exc) -> None:
        if self._session is not None:
            await self._session.close()

    @property
    def used(self) -> int:
        return len(self.exchanges)

    def redact(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text

    async def send(self, body: dict, label: str) -> Exchange:
        """Send `body` (streamed when `body["stream"]` is true); 429s are waited out and sent again."""
        failed_once = False
        while True:
            if self.used >= self.max_requests:
                raise BudgetSpent(f"the request budget (--max-requests {self.max_requests}) is spent")
            exchange = Exchange(self.used + 1, label, json.loads(json.dumps(body)))
            self.exchanges.append(exchange)
            retry_after = await self._post(exchange)
            if exchange.status == 429:
                pause = retry_after if retry_after is not None else 1.0
                if pause > MAX_PAUSE:
                    raise ProbeStopped(f"the provider asked to wait {pause:.0f} s (429 Retry-After); try again later")
                self.say(f"request {exchange.number}: 429, pausing {pause:g} s as the provider asked")
                await asyncio.sleep(pause)
                continue
            if exchange.status >= 500 and not failed_once:
                failed_once = True
                self.say(f"request {exchange.number}: {exchange.status}, sending it once more")
                await asyncio.sleep(0.5)
                continue
            if exchange.status in (401, 403):
                raise Refused(
                    f"the provider answered {exchange.status} ({exchange.answer or 'no message'}): "
                    "check the key's variable (--key-env), the URL and that the key may use the model"
                )
            return exchange

    async def _post(self, exchange: Exchange) -> float | None:
        headers = {"Content-Type": "application/json"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        assert self._session is not None, "use the Client as `async with`"
        try:
            async with self._session.post(self.endpoint, json=exchange.body, headers=headers) as response:
                exchange.status = response.status
                if not exchange.ok:
                    self._read_error(exchange, await response.read())
                    return _retry_after(response.headers.get("Retry-After"))
                if "text/event-stream" in response.headers.get("Content-Type", ""):
                    decoder = SSEDecoder()
                    async for chunk in response.content.iter_any():
                        exchange.events += [_parse(e.data) for e in decoder.decode(chunk)]
                    first = next((e for e in exchange.events if isinstance(e, dict)), None)
                else:
                    exchange.json = first = _parse((await response.read()).decode("utf-8", "replace"))
                if isinstance(first, dict) and first.get("error"):
                    self._read_error(exchange, json.dumps(first).encode())
        except (aiohttp.ClientError, TimeoutError) as exc:
            exchange.status = 0
            exchange.answer = self.redact(f"no answer: {exc.__class__.__name__}: {exc}")[:ANSWER_CHARS]
            raise ProbeStopped(f"{self.endpoint} did not answer ({exc.__class__.__name__}: {exc})") from None
        return None

    def _read_error(self, exchange: Exchange, data: bytes) -> None:
        text = data.decode("utf-8", "replace")
        parsed = _parse(text)
        message, param = text.strip(), None
        if isinstance(parsed, dict):
            inner = parsed.get("error")
            if isinstance(inner, dict):
                message = inner.get("message") or json.dumps(inner)
                param = inner.get("param") if isinstance(inner.get("param"), str) else None
            elif isinstance(inner, str):
                message = inner
            else:
                message = parsed.get("message") or parsed.get("detail") or json.dumps(parsed)
        exchange.answer = " ".join(self.redact(str(message)).split())[:ANSWER_CHARS]
        exchange.param = self.redact(param) if param else None


def _parse(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: rare from APIs; the default pause applies
