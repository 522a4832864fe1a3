"""Conformance: what Switchyard builds, checked against published schemas nobody on this project wrote.

- Responses: the Open Responses specification's own pydantic models (`openresponses-types`, spec
  version `SPEC_VERSION`): `ResponseResource` for a body and for the `response` inside the lifecycle
  events, one model per streamed event type (chosen by its `type`), `CreateResponseBody` for what we
  send a Responses upstream. A stream's `sequence_number`s must strictly increase.
- Chat Completions: the openai SDK's `ChatCompletion` / `ChatCompletionChunk`, and its request params
  (`CompletionCreateParams`) for what we send a Chat upstream.
- Anthropic Messages: the anthropic SDK's `Message` / `RawMessageStreamEvent` (and `ErrorResponse`
  for the `error` event, which that union leaves out), and its `MessageCreateParams` for what we send.
- Gemini: the google-genai SDK's `GenerateContentResponse` for a body and each stream chunk, and its
  `Content` / `GenerateContentConfig` for the parts of what we send a Gemini upstream (the SDK has no
  type for the REST request itself); Google's error shape by its documented fields.

Models are checked with `model_validate_json(..., strict=True)` on the bytes a client would read (no
coercion of a string into a number, no lenient `construct`). The SDKs' request params are TypedDicts
whose lists are lazily validated `Iterable`s in pydantic, so those are checked eagerly with jsonschema
against the JSON Schema pydantic derives from them. Fields a schema does not know are allowed: every
one of these schemas admits extension fields, and providers' packs rely on that.

Where the specification and a real client disagree, the client wins (docs/bridges.md lists each):
what the spec has no model for but Codex CLI and the openai SDK need (custom and tool-search tools and
calls, namespaces, the `response.reasoning_text.*` and `response.custom_tool_call_input.*` events) is
checked against the openai SDK's own models instead, and the rest of the object still against the spec.

Every check counts what it validated (`COUNTS`, by kind); the bridges' conftest prints the total.
"""

from __future__ import annotations

import collections
import enum
import functools
import typing
from typing import Any

import anthropic.types as anthropic_types
import jsonschema
import openai.types.chat as chat_types
import openai.types.responses as openai_responses
import openresponses_types
import orjson
import pydantic
from anthropic.types import message_create_params
from google.genai import types as gemini_types
from openai.types.chat import completion_create_params
from openresponses_types import types as spec

SPEC_VERSION = openresponses_types.__spec_version__

COUNTS: collections.Counter[str] = collections.Counter()


class Nonconforming(AssertionError):
    """An object that a published schema refuses."""


def total() -> int:
    return sum(COUNTS.values())


# -- the machinery: one strict check, counted ------------------------------------------------------------


def _strict(model: Any, value: Any, kind: str, what: str) -> None:
    adapter = model if isinstance(model, pydantic.TypeAdapter) else None
    raw = orjson.dumps(value)
    try:
        if adapter is not None:
            adapter.validate_json(raw, strict=True)
        else:
            model.model_validate_json(raw, strict=True)
    except pydantic.ValidationError as error:
        raise Nonconforming(f"{what} is not valid by {kind}:\n{error}\n{_short(value)}") from None
    COUNTS[kind] += 1


def _schema(validator: jsonschema.protocols.Validator, value: Any, kind: str, what: str) -> None:
    errors = sorted(validator.iter_errors(value), key=lambda e: len(list(e.absolute_path)))
    if errors:
        best = jsonschema.exceptions.best_match(errors)
        where = "/".join(str(p) for p in best.absolute_path)
        raise Nonconforming(f"{what} is not valid by {kind} at /{where}: {best.message}\n{_short(value)}")
    COUNTS[kind] += 1


def _short(value: Any) -> str:
    text = orjson.dumps(value).decode()
    return text if len(text) < 2000 else text[:2000] + "..."


@functools.cache
def _params_validator(name: str) -> jsonschema.protocols.Validator:
    params = {
        "chat": completion_create_params.CompletionCreateParamsStreaming,
        "chat-nonstreaming": completion_create_params.CompletionCreateParamsNonStreaming,
        "messages": message_create_params.MessageCreateParamsStreaming,
        "messages-nonstreaming": message_create_params.MessageCreateParamsNonStreaming,
        "openai tool": openai_responses.ToolParam,
        "openai input item": openai_responses.ResponseInputItemParam,
        "anthropic tool": anthropic_types.ToolUnionParam,
    }[name]
    schema = pydantic.TypeAdapter(params).json_schema()
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)


# -- Open Responses ----------------------------------------------------------------------------------------


def _event_type(model: type[pydantic.BaseModel]) -> str | None:
    annotation = model.model_fields["type"].annotation
    args = typing.get_args(annotation)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum) and len(annotation) == 1:
        return next(iter(annotation)).value
    if typing.get_origin(annotation) is typing.Literal and len(args) == 1:
        return args[0]
    return None


@functools.cache
def _spec_events() -> dict[str, type[pydantic.BaseModel]]:
    found = {}
    for name in dir(spec):
        model = getattr(spec, name)
        if name.endswith("StreamingEvent") and isinstance(model, type) and issubclass(model, pydantic.BaseModel):
            kind = _event_type(model)
            if kind:
                found[kind] = model
    return found


# What the spec has no model for and the clients need (docs/bridges.md, "Conformance"): the openai SDK's model.
CLIENT_EVENTS = frozenset(
    {
        "response.reasoning_text.delta",  # the spec says response.reasoning.delta; Codex reads reasoning_text
        "response.reasoning_text.done",
        "response.custom_tool_call_input.delta",  # Codex's custom tools (apply_patch)
        "response.custom_tool_call_input.done",
    }
)
CLIENT_ITEMS = frozenset({"custom_tool_call", "tool_search_call"})
CLIENT_TOOLS = frozenset({"custom", "namespace", "tool_search"})
CLIENT_INPUT_ITEMS = frozenset(
    {"custom_tool_call", "custom_tool_call_output", "tool_search_call", "tool_search_output"}
)


@functools.cache
def _openai(name: str) -> pydantic.TypeAdapter:
    return pydantic.TypeAdapter(getattr(openai_responses, name))


def _client_items(items: list, what: str) -> list:
    """The spec's items, after the items only the clients know were checked by the openai SDK's model."""
    kept = []
    for item in items:
        if isinstance(item, dict) and item.get("type") in CLIENT_ITEMS:
            _strict(_openai("ResponseOutputItem"), item, "openai ResponseOutputItem", f"{what} item")
        else:
            kept.append(item)
    return kept


def _client_tools(tools: Any, what: str) -> Any:
    if not isinstance(tools, list):
        return tools
    kept = []
    for tool in tools:
        if isinstance(tool, dict) and tool.get("type") in CLIENT_TOOLS:
            if tool.get("type") != "namespace":  # the SDK has no model for Codex's namespaces either
                _schema(_params_validator("openai tool"), tool, "openai ToolParam", f"{what} tool")
        else:
            kept.append(tool)
    return kept


def response(body: Any, what: str = "the response") -> None:
    """A Responses body (or the `response` inside a lifecycle event) is a valid `ResponseResource`."""
    if not isinstance(body, dict):
        raise Nonconforming(f"{what} is not an object: {_short(body)}")
    checked = {**body, "output": _client_items(body.get("output") or [], what)}
    if "tools" in body:
        checked["tools"] = _client_tools(body["tools"], what)
    _strict(spec.ResponseResource, checked, "ResponseResource", what)


def responses_event(event: Any) -> None:
    """One streamed Responses event is valid by its event model (and its `response`, by ResponseResource)."""
    kind = event.get("type") if isinstance(event, dict) else None
    what = f"the {kind} event"
    if kind in CLIENT_EVENTS:
        _strict(_openai("ResponseStreamEvent"), event, "openai ResponseStreamEvent", what)
        return
    model = _spec_events().get(kind)
    if model is None:
        raise Nonconforming(f"{what} has no model in the Open Responses spec {SPEC_VERSION}: {_short(event)}")
    checked = event
    if isinstance(event.get("item"), dict) and event["item"].get("type") in CLIENT_ITEMS:
        _client_items([event["item"]], what)
        return
    if isinstance(event.get("response"), dict):
        response(event["response"], f"the response of the {kind} event")
        checked = {**event, "response": _valid_stub(event["response"])}
    _strict(model, checked, f"{model.__name__}", what)


def _valid_stub(body: dict) -> dict:
    """The event's `response` once checked on its own: what the event model then sees (counted once)."""
    checked = {**body, "output": [i for i in body.get("output") or [] if i.get("type") not in CLIENT_ITEMS]}
    if "tools" in body:
        checked["tools"] = [t for t in body["tools"] if not (isinstance(t, dict) and t.get("type") in CLIENT_TOOLS)]
    return checked


def responses_stream(events: list) -> None:
    """Every event of a Responses stream is valid, and `sequence_number` strictly increases."""
    last = None
    for event in events:
        responses_event(event)
        seq = event["sequence_number"]
        if last is not None and seq <= last:
            raise Nonconforming(f"sequence_number {seq} after {last}: it must strictly increase")
        last = seq


def responses_request(body: Any, what: str = "the Responses request") -> None:
    """What we send a Responses upstream is a valid `CreateResponseBody`."""
    if not isinstance(body, dict):
        raise Nonconforming(f"{what} is not an object")
    checked = {**body, "tools": _client_tools(body["tools"], what)} if "tools" in body else body
    if isinstance(body.get("input"), list):
        kept = []
        for item in body["input"]:
            if isinstance(item, dict) and item.get("type") in CLIENT_INPUT_ITEMS:
                _schema(_params_validator("openai input item"), item, "openai ResponseInputItemParam", what)
            else:
                kept.append(item)
        checked = {**checked, "input": kept}
    _strict(spec.CreateResponseBody, checked, "CreateResponseBody", what)


def responses_error(body: Any, what: str = "the error body") -> None:
    """An error answer's body: `{"error": ...}`. The spec defines no body for an HTTP error of `POST
    /responses`; its error object is the `error` event's payload (type, code, message, param), checked here."""
    if not isinstance(body, dict) or not isinstance(body.get("error"), dict):
        raise Nonconforming(f"{what} has no error object: {_short(body)}")
    _strict(spec.ErrorPayload, body["error"], "Open Responses ErrorPayload", what)


# -- Chat Completions --------------------------------------------------------------------------------------


def chat_completion(body: Any, what: str = "the chat completion") -> None:
    _strict(chat_types.ChatCompletion, body, "ChatCompletion", what)


def chat_chunk(chunk: Any, what: str = "the chat chunk") -> None:
    _strict(chat_types.ChatCompletionChunk, chunk, "ChatCompletionChunk", what)


def chat_stream(chunks: list) -> None:
    """Every chunk of a Chat stream (an error object, which ends a broken one, by the error shape)."""
    for chunk in chunks:
        if isinstance(chunk, dict) and "error" in chunk and "choices" not in chunk:
            openai_error(chunk, "the chat stream's error")
        else:
            chat_chunk(chunk)


def openai_error(body: Any, what: str = "the error body") -> None:
    """`{"error": ...}` as the openai SDK reads it."""
    if not isinstance(body, dict) or not isinstance(body.get("error"), dict):
        raise Nonconforming(f"{what} has no error object: {_short(body)}")
    from openai.types.shared import ErrorObject

    _strict(ErrorObject, body["error"], "openai ErrorObject", what)


def chat_request(body: Any, what: str = "the Chat request") -> None:
    """What we send a Chat upstream is valid by the openai SDK's `CompletionCreateParams`."""
    name = "chat" if isinstance(body, dict) and body.get("stream") else "chat-nonstreaming"
    if isinstance(body, dict) and isinstance(body.get("tools"), list):
        body = {**body, "tools": [tool for tool in body["tools"] if not _passed_on(tool, what)]}
    _schema(_params_validator(name), body, "CompletionCreateParams", what)


def _passed_on(tool: Any, what: str) -> bool:
    """A client's built-in tool that Chat has no type for, passed on for the pack to map or drop
    (docs/bridges.md): valid as the client's own protocol's tool (a Responses or an Anthropic one)."""
    if not isinstance(tool, dict) or tool.get("type") in ("function", "custom"):
        return False
    for name in ("openai tool", "anthropic tool"):
        if _params_validator(name).is_valid(tool):
            COUNTS[f"{name} passed on"] += 1
            return True
    raise Nonconforming(f"{what}: the tool {_short(tool)} is neither Chat's, nor a Responses or Anthropic tool")


# -- Anthropic Messages ------------------------------------------------------------------------------------


@functools.cache
def _messages_event() -> pydantic.TypeAdapter:
    return pydantic.TypeAdapter(anthropic_types.RawMessageStreamEvent)


def message(body: Any, what: str = "the message") -> None:
    _strict(anthropic_types.Message, body, "anthropic Message", what)


def messages_event(event: Any) -> None:
    kind = event.get("type") if isinstance(event, dict) else None
    if kind == "error":
        _strict(anthropic_types.ErrorResponse, event, "anthropic ErrorResponse", "the error event")
    elif kind == "ping":
        COUNTS["anthropic ping"] += 1  # the SDK skips it; its only field is its type
    else:
        _strict(_messages_event(), event, "RawMessageStreamEvent", f"the {kind} event")


def messages_stream(events: list) -> None:
    for event in events:
        messages_event(event)


def messages_error(body: Any, what: str = "the error body") -> None:
    _strict(anthropic_types.ErrorResponse, body, "anthropic ErrorResponse", what)


def messages_request(body: Any, what: str = "the Messages request") -> None:
    """What we send an Anthropic upstream is valid by the anthropic SDK's `MessageCreateParams`."""
    name = "messages" if isinstance(body, dict) and body.get("stream") else "messages-nonstreaming"
    _schema(_params_validator(name), body, "MessageCreateParams", what)


# -- Gemini ---------------------------------------------------------------------------------------------------


def gemini_response(body: Any, what: str = "the Gemini response") -> None:
    """A `GenerateContentResponse`: a whole body, or one chunk of a stream."""
    if not isinstance(body, dict) or "error" in body:
        raise Nonconforming(f"{what} is not a GenerateContentResponse: {_short(body)}")
    _strict(gemini_types.GenerateContentResponse, body, "GenerateContentResponse", what)


def gemini_stream(chunks: list) -> None:
    for chunk in chunks:
        if isinstance(chunk, dict) and "error" in chunk:  # a stream that ends in an error ends with Google's shape
            gemini_error(chunk, "a Gemini stream's error")
        else:
            gemini_response(chunk, "a Gemini stream chunk")


def gemini_error(body: Any, what: str = "the error body") -> None:
    """Google's error shape: `{"error": {"code": HTTP status, "message", "status": the google.rpc name}}`."""
    inner = body.get("error") if isinstance(body, dict) and set(body) == {"error"} else None
    if not (
        isinstance(inner, dict)
        and set(inner) <= {"code", "message", "status", "details"}
        and isinstance(inner.get("code"), int)
        and isinstance(inner.get("message"), str)
        and isinstance(inner.get("status"), str)
        and inner["status"].isupper()
    ):
        raise Nonconforming(f"{what} is not Google's error shape: {_short(body)}")
    COUNTS["Google error"] += 1


GEMINI_ENVELOPE = ("model", "stream", "alt")  # the path's facts, which the upstream call takes out of the body
# The SDK has no type for the REST request itself: each top-level field by its own type (one, or a list of them).
GEMINI_REQUEST = {
    "contents": gemini_types.Content,
    "systemInstruction": gemini_types.Content,
    "tools": gemini_types.Tool,
    "toolConfig": gemini_types.ToolConfig,
    "generationConfig": gemini_types.GenerationConfig,
    "safetySettings": gemini_types.SafetySetting,
}


def gemini_request(body: Any, what: str = "the Gemini request") -> None:
    """A `generateContent` body: every field by the SDK's type for it; a field no Gemini request has is refused."""
    for key, value in body.items():
        if key in GEMINI_ENVELOPE:
            continue
        if key == "cachedContent":  # a resource name
            if not isinstance(value, str):
                raise Nonconforming(f"{what}: cachedContent must be a resource name, got {_short(value)}")
            continue
        kind = GEMINI_REQUEST.get(key)
        if kind is None:
            raise Nonconforming(f"{what} has a field no Gemini request has: {key}")
        for item in value if isinstance(value, list) else [value]:
            _strict(kind, item, f"Gemini {kind.__name__}", what)


# -- by protocol: what a client of each protocol receives --------------------------------------------------


def client_body(protocol: str, body: Any, what: str = "the body") -> None:
    """A non-streaming body for a client of `protocol` (an error body by its error shape)."""
    is_error = isinstance(body, dict) and (
        body.get("type") == "error" or (isinstance(body.get("error"), dict) and "object" not in body)
    )
    if is_error:
        errors = {
            "responses": responses_error,
            "chat": openai_error,
            "messages": messages_error,
            "gemini": gemini_error,
        }
        errors[protocol](body, what)
    else:
        bodies = {"responses": response, "chat": chat_completion, "messages": message, "gemini": gemini_response}
        bodies[protocol](body, what)


def client_stream(protocol: str, events: list) -> None:
    streams = {"responses": responses_stream, "chat": chat_stream, "messages": messages_stream, "gemini": gemini_stream}
    streams[protocol](events)


def upstream_request(protocol: str, body: Any, what: str = "the upstream request") -> None:
    requests = {
        "responses": responses_request,
        "chat": chat_request,
        "messages": messages_request,
        "gemini": gemini_request,
    }
    requests[protocol](body, what)
