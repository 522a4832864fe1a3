"""Strict fake providers for `switchyard probe`: each refuses different things, in a different error style.

They extend the strict fake Chat provider (chat_provider.py: its scripted replies, its SSE writing,
its echo) with a key check, a rule set and an error style per provider, modelled on what real
providers answer (protocols.md B, C):

- `dashscope()`: DashScope's compatible mode as chat_provider.py has it: a field allowlist, no
  `developer` role, function tools only; the error names the field (`param`, and the message).
- `opaque()`: a self-hosted server that answers every refusal with a bare "invalid request": no
  `developer`, one leading system message only (Qwen's chat template), content as strings only, no
  `reasoning_content` in the history, a short field allowlist.
- `renames()`: OpenAI's reasoning models' style: `max_tokens` refused with "Use
  'max_completion_tokens' instead", `developer` refused as an invalid value, `strict` refused in tools.
- `thoughts()`: accepts OpenAI's fields, wants `content: ""` (not null) on tool-call messages and
  `tool_choice` as a string, and
  streams its reasoning as `delta.thoughts`, a field no shipped pack knows; errors as `{"detail": ...}`.
- `rate_limited()`: DashScope's rules, but the first request is a 429 with `Retry-After`.
- any of them with a wrong key: 401.

`FakeResponsesLite` is a Responses server stricter than OpenAI: no `client_metadata` or
`prompt_cache_key`, no namespace or built-in tools, no `developer` role.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson
from aiohttp import web

from fakes.chat_provider import (
    ALLOWED_FIELDS,
    FakeChatProvider,
    Received,
    Rejection,
    Reply,
    chunk,
    completion,
    usage_chunk,
    validate,
)
from fakes.responses_provider import (
    KNOWN_FIELDS,
    FakeResponsesProvider,
    check_openai,
    openai_error,
)

KEY = "sk-probe-secret-4242"
OPENAI_FIELDS = {
    "model", "messages", "stream", "stream_options", "temperature", "top_p", "max_tokens",
    "max_completion_tokens", "n", "seed", "stop", "tools", "tool_choice", "parallel_tool_calls",
    "response_format", "logprobs", "top_logprobs", "presence_penalty", "frequency_penalty", "user",
    "metadata", "reasoning_effort", "store", "service_tier", "logit_bias", "prediction", "modalities",
}  # fmt: skip


@dataclass
class Rules:
    """What one fake refuses, beyond chat_provider.validate's DashScope rules."""

    fields: set[str] = field(default_factory=lambda: set(ALLOWED_FIELDS))
    developer: bool = False  # accept the developer role
    one_leading_system: bool = False  # Qwen's template: only messages[0] may be system
    string_content: bool = False  # content parts refused
    history_reasoning: bool = True  # reasoning_content on assistant messages accepted
    strict: bool = True  # `strict` in function tools accepted
    null_tool_content: bool = True  # content null on tool-call messages accepted
    max_tokens_hint: bool = False  # max_tokens refused with "Use 'max_completion_tokens' instead"
    named_tool_choice: bool = True  # tool_choice naming a function accepted (else only the string forms)


class StrictChatProvider(FakeChatProvider):
    """A fake Chat provider with its own rules, error style, key, and reasoning field."""

    def __init__(self, rules: Rules, style: str, *, reasoning_field: str = "reasoning_content", rate_limit: int = 0):
        super().__init__(allowed_fields=rules.fields, split=2)
        self.rules, self.style = rules, style
        self.reasoning_field = reasoning_field
        self.rate_limit = rate_limit  # this many first requests get a 429
        self.statuses: list[int] = []

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {KEY}":
            body = {"error": {"message": "Incorrect API key provided.", "code": "invalid_api_key"}}
            return web.json_response(body, status=401)
        body = orjson.loads(await request.read())
        self.received.append(Received(request.path, dict(request.headers), body, dict(request.query)))
        if self.rate_limit:
            self.rate_limit -= 1
            return web.json_response(
                {"error": {"message": "Rate limit reached"}}, status=429, headers={"Retry-After": "0.2"}
            )
        try:
            self.check(orjson.loads(orjson.dumps(body)))
        except Rejection as rejection:
            return self.error(rejection)
        reply = self.replies.popleft() if self.replies else self.echo(body)
        if reply.kind == "json":
            return web.json_response(reply.body)
        if reply.kind == "error":
            return web.json_response(reply.body, status=reply.status)
        return await self._stream(request, reply)

    def check(self, body: dict) -> None:
        rules = self.rules
        if rules.max_tokens_hint and "max_tokens" in body:
            raise Rejection(
                "Unsupported parameter: 'max_tokens' is not supported with this model. "
                "Use 'max_completion_tokens' instead.",
                "max_tokens",
            )
        messages = body.get("messages") if isinstance(body.get("messages"), list) else []
        for i, message in enumerate(messages):
            if not isinstance(message, dict):
                continue
            if rules.developer and message.get("role") == "developer":
                message = {**message, "role": "system"}  # accepted: checked as the system message it is
            elif message.get("role") == "developer":
                raise Rejection(
                    "Invalid value: 'developer'. Supported values are: 'system', 'assistant', 'user', 'tool'.",
                    f"messages[{i}].role",
                )
            if rules.one_leading_system and message.get("role") == "system" and i != 0:
                raise Rejection("System message must be at the beginning.", "messages")
            if rules.string_content and not isinstance(message.get("content"), str | None):
                raise Rejection(f"messages[{i}].content must be a string.", f"messages[{i}].content")
            if not rules.history_reasoning and "reasoning_content" in message:
                raise Rejection(f"Unrecognized field 'reasoning_content' in messages[{i}].", f"messages[{i}]")
            if not rules.null_tool_content and message.get("tool_calls") and message.get("content") is None:
                raise Rejection(f"messages[{i}].content: Input should be a valid string", f"messages[{i}].content")
            messages[i] = message
        for i, tool in enumerate(body.get("tools") or []):
            function = tool.get("function") if isinstance(tool, dict) else None
            if not rules.strict and isinstance(function, dict) and "strict" in function:
                raise Rejection(f"Unrecognized field 'strict' in tools[{i}].function.", f"tools[{i}].function.strict")
        if not rules.named_tool_choice and isinstance(body.get("tool_choice"), dict):
            raise Rejection("tool_choice must be one of 'auto', 'none', 'required'.", "tool_choice")
        validate(body, self.allowed_fields)

    def echo(self, body: dict) -> Reply:
        """The reply when nothing is queued: OK, after a thought in the fake's reasoning field."""
        text = "OK"
        thought = "The user wants OK."
        if body.get("stream"):
            chunks = [chunk({"role": "assistant", "content": ""}), chunk({self.reasoning_field: thought})]
            chunks += [chunk({"content": text}), chunk({}, "stop")]
            if (body.get("stream_options") or {}).get("include_usage"):
                chunks.append(usage_chunk())
            return Reply("stream", chunks=chunks)
        answer = completion(text)
        answer["choices"][0]["message"][self.reasoning_field] = thought
        return Reply("json", body=answer)

    def error(self, rejection: Rejection) -> web.Response:
        if self.style == "opaque":
            return web.json_response(
                {"error": {"message": "invalid request", "type": "invalid_request_error"}}, status=400
            )
        if self.style == "detail":
            return web.json_response({"detail": rejection.message}, status=422)
        body = {"error": {"message": rejection.message, "type": "invalid_request_error", "param": rejection.param}}
        return web.json_response(body, status=400)


def reasoning_chunks(field_name: str, thought: str, *parts: str) -> list[dict]:
    """A streamed text answer whose reasoning arrives in `field_name`."""
    chunks = [chunk({"role": "assistant", "content": ""}), chunk({field_name: thought})]
    chunks += [chunk({"content": p}) for p in parts]
    return [*chunks, chunk({}, "stop"), usage_chunk()]


# -- the providers


def dashscope() -> StrictChatProvider:
    return StrictChatProvider(Rules(), "named")


def opaque() -> StrictChatProvider:
    fields = {
        "model",
        "messages",
        "stream",
        "stream_options",
        "max_tokens",
        "temperature",
        "top_p",
        "tools",
        "tool_choice",
    }
    rules = Rules(fields=fields, one_leading_system=True, string_content=True, history_reasoning=False)
    return StrictChatProvider(rules, "opaque")


def renames() -> StrictChatProvider:
    rules = Rules(fields=set(OPENAI_FIELDS), strict=False, max_tokens_hint=True)
    return StrictChatProvider(rules, "named")


def thoughts() -> StrictChatProvider:
    rules = Rules(fields=set(OPENAI_FIELDS), developer=True, null_tool_content=False, named_tool_choice=False)
    return StrictChatProvider(rules, "detail", reasoning_field="thoughts")


def rate_limited() -> StrictChatProvider:
    return StrictChatProvider(Rules(), "named", rate_limit=1)


CHAT_PROVIDERS = {"dashscope": dashscope, "opaque": opaque, "renames": renames, "thoughts": thoughts}


# -- Responses


class FakeResponsesLite(FakeResponsesProvider):
    """A Responses server stricter than OpenAI (see the module docstring), with a key."""

    FIELDS = KNOWN_FIELDS - {"client_metadata", "prompt_cache_key", "include"}

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {KEY}":
            return web.json_response(openai_error("Incorrect API key provided."), status=401)
        body = orjson.loads(await request.read())
        self.requests.append({"path": request.path, "headers": dict(request.headers), "body": body})
        if error := self.check(body):
            return web.json_response(error, status=400)
        reply = self.replies.popleft() if self.replies else self.default_reply(body)
        if reply["kind"] == "json":
            return web.json_response(reply["body"], status=reply["status"])
        return await self._stream(request, reply)

    def check(self, body: dict) -> dict | None:
        for key in body:
            if key not in self.FIELDS:
                return openai_error(f"Unknown parameter: '{key}'.", key, "unknown_parameter")
        for i, tool in enumerate(body.get("tools") or []):
            if tool.get("type") != "function":
                return openai_error(f"Invalid value: '{tool.get('type')}'.", f"tools[{i}].type", "invalid_value")
        for i, item in enumerate(body.get("input") if isinstance(body.get("input"), list) else []):
            if item.get("role") == "developer":
                return openai_error("Invalid value: 'developer'.", f"input[{i}].role", "invalid_value")
        return check_openai(body)


__all__ = ["CHAT_PROVIDERS", "KEY", "FakeResponsesLite", "StrictChatProvider", "reasoning_chunks"]
