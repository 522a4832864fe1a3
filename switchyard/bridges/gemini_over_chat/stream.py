"""Chat Completions chunks -> Gemini stream chunks: the response half of the Gemini-over-Chat bridge.

`GeminiStream` is fed one upstream chunk at a time and emits `GenerateContentResponse` chunks as
Gemini streams them (gemini.md 3): each holds only the new parts, `modelVersion` and `responseId` on
every one, `finishReason` and `usageMetadata` on the last.

Design choices:

- Text deltas go out as they come, one `{"text"}` part each; reasoning deltas as `{"text", "thought":
  true}` parts, but only when the client asked for thoughts (`thinkingConfig.includeThoughts`), as
  Gemini sends none otherwise.
- A function call arrives whole in Gemini (no partial arguments on the Gemini API), so Chat's
  argument pieces are collected and each call goes out once complete: when the next call starts or the
  answer finishes. Its `id` is the Chat call id, which Gemini CLI echoes in `functionCall.id` and
  `functionResponse.id`, so the next request pairs results with calls exactly. Arguments that are not
  a JSON object end the answer with `finishReason: MALFORMED_FUNCTION_CALL` (what Gemini says for a
  call it could not form; Gemini CLI retries on it) and the call is not sent.
- The last chunk (`finishReason`, `usageMetadata`) is sent after the usage chunk that follows Chat's
  `finish_reason` (or at the stream's end after one). `finishReason` is `STOP` after tool calls too,
  as Gemini says it; `length` is `MAX_TOKENS`, `content_filter` is `SAFETY`.
- Usage: `promptTokenCount` the prompt, `candidatesTokenCount` the output without reasoning,
  `thoughtsTokenCount` the reasoning and `cachedContentTokenCount` the cached prompt, where the
  upstream reports them.
- Failures: an error chunk ends the stream (both SDKs raise on a chunk with `error`, and Gemini CLI
  retries what it should). A stream that ends before any `finish_reason` failed, whatever the
  transport said. Calls not yet sent are never sent after a failure: a client must not run half a call.
- One machine for both modes: `to_response` replays a non-streaming completion as one chunk and folds
  the result with the protocol's own aggregator, so the two paths cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable

import orjson

from switchyard.bridges.gemini_over_chat.schema import camel_case
from switchyard.bridges.mapping import token_count
from switchyard.errors import UpstreamFailed
from switchyard.ids import new_id
from switchyard.protocols.chat.reading import as_one_chunk, reasoning_of, text_of
from switchyard.protocols.failures import failed
from switchyard.protocols.gemini.aggregate import final_response
from switchyard.protocols.gemini.errors import error_event
from switchyard.protocols.openai import upstream_error

# Chat `finish_reason` -> Gemini `finishReason`; any other value is a stop.
_FINISH = {"stop": "STOP", "length": "MAX_TOKENS", "tool_calls": "STOP", "function_call": "STOP",
           "content_filter": "SAFETY"}  # fmt: skip


class _Call:
    __slots__ = ("id", "name", "pieces")

    def __init__(self) -> None:
        self.id: str | None = None
        self.name: str | None = None
        self.pieces: list[str] = []


class GeminiStream:
    """Turns the chunks of one Chat Completions stream into the chunks of one Gemini stream."""

    def __init__(self, client_body: dict, *, ids: Callable[[str], str] = new_id):
        body = client_body if isinstance(client_body, dict) else {}
        config = camel_case(body.get("generationConfig")) if isinstance(body.get("generationConfig"), dict) else {}
        thinking = config.get("thinkingConfig") if isinstance(config.get("thinkingConfig"), dict) else {}
        self._thoughts = thinking.get("includeThoughts") is True
        self._ids = ids
        self._model = str(body.get("model") or "")
        self._response_id = ids("resp")
        self._calls: dict[object, _Call] = {}
        self._order: list[_Call] = []
        self._sent = 0  # calls already sent, in order
        self._finish: str | None = None
        self._usage: dict | None = None
        self._done = False

    # --- the translator contract ---------------------------------------------------------------------

    def feed(self, chunk: dict) -> list[dict]:
        if self._done:
            return []
        if chunk.get("error"):
            return self._fail(upstream_error(chunk))
        parts: list[dict] = []
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            self._usage = usage
        for choice in chunk.get("choices") or ():
            # n > 1 is refused by the request half; the first choice is the answer.
            if not isinstance(choice, dict) or (choice.get("index") or 0) != 0 or self._finish is not None:
                continue
            delta = choice.get("delta")
            if isinstance(delta, dict):
                parts += self._delta(delta)
            if choice.get("finish_reason"):
                self._finish = str(choice["finish_reason"])
        out = [self._chunk(parts)] if parts else []
        if self._finish is not None and isinstance(usage, dict):
            out += self._last()
        return out

    def close(self) -> list[dict]:
        if self._done:
            return []
        if self._finish is None:
            return self.fail("the upstream stream ended before it finished")
        return self._last()

    def fail(self, message: str, code: str = "server_error") -> list[dict]:
        return self._fail(failed(message, code))

    def _fail(self, failure: UpstreamFailed) -> list[dict]:
        if self._done:
            return []
        self._done = True
        return [error_event(failure)]

    # --- deltas --------------------------------------------------------------------------------------

    def _delta(self, delta: dict) -> list[dict]:
        parts: list[dict] = []
        reasoning = reasoning_of(delta)
        if reasoning and self._thoughts:
            parts.append({"text": reasoning, "thought": True})
        content = text_of(delta.get("content")) + text_of(delta.get("refusal"))
        if content:
            parts.append({"text": content})
        calls = delta.get("tool_calls")
        if isinstance(calls, list):
            for fragment in calls:
                if isinstance(fragment, dict):
                    self._tool_delta(fragment)
            # A call is whole once a later one has started: everything before the newest goes out.
            parts += self._calls_out(len(self._order) - 1)
        return parts

    def _tool_delta(self, fragment: dict) -> None:
        index, call_id = fragment.get("index"), fragment.get("id")
        key = ("index", index) if isinstance(index, int) and not isinstance(index, bool) else ("id", call_id)
        call = self._calls.get(key)
        if call is None:
            if key == ("id", None) and self._order:
                call = self._order[-1]  # no index and no id: a piece of the call being streamed
            else:
                call = self._calls[key] = _Call()
                self._order.append(call)
        if isinstance(call_id, str) and call_id and call.id is None:
            call.id = call_id
        function = fragment.get("function") if isinstance(fragment.get("function"), dict) else {}
        if isinstance(function.get("name"), str) and function["name"] and call.name is None:
            call.name = function["name"]
        piece = function.get("arguments")
        if isinstance(piece, dict | list):  # a few servers send the arguments already parsed
            piece = orjson.dumps(piece).decode()
        if isinstance(piece, str) and piece:
            call.pieces.append(piece)

    def _calls_out(self, upto: int) -> list[dict]:
        parts: list[dict] = []
        while self._sent < upto:
            call = self._order[self._sent]
            self._sent += 1
            if not call.name:
                continue  # never named: it could not be run, so it is not sent
            part = self._call_part(call)
            if part is None:
                return parts
            parts.append(part)
        return parts

    def _call_part(self, call: _Call) -> dict | None:
        """The whole call as a part; None (and the answer ends MALFORMED_FUNCTION_CALL) if it cannot be."""
        text = "".join(call.pieces).strip()
        try:
            args = orjson.loads(text) if text else {}
        except orjson.JSONDecodeError:
            args = None
        if not isinstance(args, dict):
            self._finish = "malformed"
            return None
        return {"functionCall": {"id": call.id or self._ids("call"), "name": call.name, "args": args}}

    # --- chunks and the end ---------------------------------------------------------------------------

    def _chunk(self, parts: list[dict], finish: str | None = None) -> dict:
        candidate: dict = {"content": {"role": "model", "parts": parts}, "index": 0}
        if finish is not None:
            candidate["finishReason"] = finish
        return {"candidates": [candidate], "modelVersion": self._model, "responseId": self._response_id}

    def _last(self) -> list[dict]:
        self._done = True
        parts = [] if self._finish == "malformed" else self._calls_out(len(self._order))
        finish = "MALFORMED_FUNCTION_CALL" if self._finish == "malformed" else _FINISH.get(self._finish, "STOP")
        chunk = self._chunk([] if finish == "MALFORMED_FUNCTION_CALL" else parts, finish)
        chunk["usageMetadata"] = gemini_usage(self._usage)
        return [chunk]


def gemini_usage(usage: dict | None) -> dict:
    """Chat `usage` -> Gemini `usageMetadata`: thoughts and cached tokens apart, where the upstream says them."""
    usage = usage if isinstance(usage, dict) else {}
    prompt = token_count(usage.get("prompt_tokens"))
    completion = token_count(usage.get("completion_tokens"))
    details = usage.get("completion_tokens_details")
    thoughts = min(token_count(details.get("reasoning_tokens")) if isinstance(details, dict) else 0, completion)
    prompt_details = usage.get("prompt_tokens_details")
    cached = token_count(prompt_details.get("cached_tokens")) if isinstance(prompt_details, dict) else 0
    cached = min(cached or token_count(usage.get("prompt_cache_hit_tokens")), prompt)
    out = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": completion - thoughts,
        "totalTokenCount": token_count(usage.get("total_tokens")) or prompt + completion,
    }
    if thoughts:
        out["thoughtsTokenCount"] = thoughts
    if cached:
        out["cachedContentTokenCount"] = cached
    return out


def to_response(completion: dict, client_body: dict, *, ids: Callable[[str], str] = new_id) -> dict:
    """A non-streaming Chat completion as one `GenerateContentResponse` (replayed through `GeminiStream`).

    An error body (`{"error": ...}` with HTTP 200) raises `UpstreamFailed`.
    """
    stream = GeminiStream(client_body, ids=ids)
    events = stream.feed(as_one_chunk(completion)) + stream.close()
    return final_response(events)
