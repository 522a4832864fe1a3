"""A strict fake Gemini API provider: an aiohttp app for end-to-end tests of Gemini upstreams.

It is as strict as the Gemini API is documented and observed to be (docs/reference/gemini.md), because a
lenient fake would let the proxy send bodies Gemini refuses. All refusals are Gemini's error shape
`{"error": {code, message, status}}` with the HTTP status of `code`:

- Routes: `POST .../{v1beta|v1}/models/{model}:generateContent` and `:streamGenerateContent` (`?alt=sse`:
  `data: JSON` events; without it, one JSON array written a piece at a time), anything else 404.
- Auth: `x-goog-api-key`, `?key=` or a Bearer token; none is a 403 (`PERMISSION_DENIED`).
- Field names as proto3 JSON reads them: lowerCamelCase, or the proto's snake_case (`inline_data`), which
  the Python SDK sends for some fields; both mean the same field.
- Unknown fields anywhere it knows the shape (the request, contents, parts, function calls and
  responses, declarations, tool config, generation config, thinking config) are a 400
  `Invalid JSON payload received. Unknown name "X" at 'path': Cannot find field.`; so is a part with
  two data fields, a role other than `user`/`model`, non-object `args`/`response`.
- `parameters` (the OpenAPI `Schema` subset) with any keyword outside that subset, or a type array, is
  refused as Gemini refuses it; `parameters` with `parametersJsonSchema` too. In `parametersJsonSchema`
  a `$ref` that names no definition is refused (`reference to undefined schema`).
- Thought signatures: a `thoughtSignature` that is not base64 is refused; in the current turn (the
  model contents after the last user content holding more than function responses), the first
  `functionCall` of each model content must carry a signature (the documented dummy
  `skip_thought_signature_validator` passes, as on Gemini); and any `functionCall` this fake signed
  when it answered must come back with exactly the signature it issued (stricter than Gemini, which
  would also take the dummy: the point of the fake is to see signatures survive).
- A user content's function responses must be as many as the function calls of the model content
  right before it.
- `thinkingBudget` together with `thinkingLevel` is refused, as Gemini does.

What it accepts it answers from a queue of scripted replies (`reply_stream`, `reply_json`,
`reply_error`, `reply_cut`), or with a text echo. `received` keeps every request; `issued` the
signatures it gave.

    provider = FakeGeminiProvider()
    provider.reply_stream(call_chunks("ls", {"path": "."}, signature="c2lnLTI="))
    server = await aiohttp_server(provider.app)
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
from collections import deque
from dataclasses import dataclass, field

import orjson
from aiohttp import web

DUMMY_SIGNATURES = {"skip_thought_signature_validator", "context_engineering_is_the_way_to_go"}
ROUTE = re.compile(r"^.*/(v1beta|v1)/models/([^/:]+):(generateContent|streamGenerateContent)$")

REQUEST_FIELDS = {"contents", "systemInstruction", "tools", "toolConfig", "generationConfig", "safetySettings",
                  "cachedContent", "serviceTier", "labels"}  # fmt: skip
CONTENT_FIELDS = {"role", "parts"}
PART_DATA = {"text", "inlineData", "fileData", "functionCall", "functionResponse", "executableCode",
             "codeExecutionResult"}  # fmt: skip
PART_FIELDS = PART_DATA | {"thought", "thoughtSignature", "videoMetadata", "mediaResolution", "partMetadata"}
CALL_FIELDS = {"id", "name", "args"}
RESPONSE_FIELDS = {"id", "name", "response", "parts", "willContinue", "scheduling"}
TOOL_FIELDS = {"functionDeclarations", "googleSearch", "googleSearchRetrieval", "codeExecution", "urlContext",
               "fileSearch", "computerUse", "googleMaps"}  # fmt: skip
DECLARATION_FIELDS = {"name", "description", "parameters", "parametersJsonSchema", "response", "responseJsonSchema",
                      "behavior"}  # fmt: skip
# The OpenAPI `Schema` subset `parameters` takes (js-genai / python-genai `Schema`); anything else is a 400.
SCHEMA_FIELDS = {"type", "format", "title", "description", "nullable", "enum", "items", "minItems", "maxItems",
                 "minLength", "maxLength", "pattern", "minimum", "maximum", "properties", "required",
                 "minProperties", "maxProperties", "propertyOrdering", "anyOf", "default", "example"}  # fmt: skip
SCHEMA_TYPES = {"STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT", "NULL", "TYPE_UNSPECIFIED"}
GENERATION_FIELDS = {"temperature", "topP", "topK", "candidateCount", "maxOutputTokens", "stopSequences",
                     "presencePenalty", "frequencyPenalty", "seed", "responseLogprobs", "logprobs",
                     "responseMimeType", "responseSchema", "responseJsonSchema", "responseModalities",
                     "mediaResolution", "speechConfig", "imageConfig", "thinkingConfig",
                     "enableEnhancedCivicAnswers"}  # fmt: skip
THINKING_FIELDS = {"includeThoughts", "thinkingBudget", "thinkingLevel"}
MODES = {"AUTO", "ANY", "NONE", "VALIDATED", "MODE_UNSPECIFIED"}
NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_.:-]{0,127}$")
BASE64 = re.compile(r"^[A-Za-z0-9+/_-]*={0,2}$")
MISSING_SIGNATURE = (
    "Function call is missing a thought_signature in functionCall parts. This is required for tools to work "
    "correctly, and missing thought_signature may lead to degraded model performance. Additional data, function "
    "call `default_api:{name}` , position {position}. Please refer to "
    "https://ai.google.dev/gemini-api/docs/thought-signatures for more details."
)


@dataclass
class Received:
    path: str
    headers: dict
    body: dict
    query: dict = field(default_factory=dict)


@dataclass
class Reply:
    """One scripted answer; `kind` is `stream`, `json`, `error` or `cut`."""

    kind: str
    chunks: list = field(default_factory=list)
    body: dict | str | None = None
    status: int = 200


class Rejection(Exception):
    def __init__(self, message: str, code: int = 400, status: str = "INVALID_ARGUMENT"):
        super().__init__(message)
        self.message, self.code, self.status = message, code, status


class FakeGeminiProvider:
    def __init__(self, *, split: int = 3, pause: float = 0.0):
        self.split = split
        self.pause = pause
        self.received: list[Received] = []
        self.replies: deque[Reply] = deque()
        self.issued: dict[str, str] = {}  # call key (id, or name + args) -> the signature this fake put on it
        self.app = web.Application()
        self.app.router.add_post("/{path:.*}", self._handle)

    # --- scripting -----------------------------------------------------------------------------------

    def reply_stream(self, chunks: list[dict | bytes]) -> None:
        """Answer the next request with these chunks (a `bytes` item is written as it is)."""
        self.replies.append(Reply("stream", chunks=chunks))

    def reply_json(self, body: dict) -> None:
        self.replies.append(Reply("json", body=body))

    def reply_error(self, status: int, body: dict | str) -> None:
        self.replies.append(Reply("error", body=body, status=status))

    def reply_cut(self, chunks: list[dict]) -> None:
        """Stream these chunks, then drop the connection."""
        self.replies.append(Reply("cut", chunks=chunks))

    # --- serving -------------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        route = ROUTE.match(request.path)
        if route is None:
            return error(404, f"Not found: {request.path}", "NOT_FOUND")
        streaming = route.group(3) == "streamGenerateContent"
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return error(400, "Invalid JSON payload received.", "INVALID_ARGUMENT")
        self.received.append(Received(request.path, dict(request.headers), body, dict(request.query)))
        body = camel_case(body)  # proto3 JSON: `parameters_json_schema` is read as `parametersJsonSchema`
        try:
            check_auth(request)
            validate(body)
            self._check_signatures(body)
        except Rejection as rejection:
            return error(rejection.code, rejection.message, rejection.status)
        reply = self.replies.popleft() if self.replies else Reply("stream", chunks=echo_chunks(body))
        if reply.kind == "error" and isinstance(reply.body, str):
            return web.Response(text=reply.body, status=reply.status, content_type="text/html")
        if reply.kind == "error":
            return web.json_response(reply.body, status=reply.status, dumps=_dumps)
        chunks = reply.chunks if reply.kind != "json" else [reply.body]
        self._issue(chunks)
        if reply.kind == "json" or not streaming:
            return web.json_response(body_of(chunks) if reply.kind != "json" else reply.body, dumps=_dumps)
        return await self._stream(request, reply, sse=request.query.get("alt") == "sse")

    async def _stream(self, request: web.Request, reply: Reply, *, sse: bool) -> web.StreamResponse:
        kind = "text/event-stream" if sse else "application/json"
        response = web.StreamResponse(headers={"Content-Type": kind, "Cache-Control": "no-cache"})
        await response.prepare(request)
        for i, item in enumerate(reply.chunks):
            if isinstance(item, bytes):
                data = item
            elif sse:
                data = b"data: " + orjson.dumps(item) + b"\r\n\r\n"  # Google's own framing is CRLF
            else:
                data = (b"[" if i == 0 else b",\r\n") + orjson.dumps(item)
            step = max(1, -(-len(data) // self.split))
            for start in range(0, len(data), step):
                await response.write(data[start : start + step])
                await asyncio.sleep(self.pause)
        if reply.kind == "cut":
            request.transport.close()
            return response
        if not sse:
            await response.write(b"]" if reply.chunks else b"[]")
        await response.write_eof()
        return response

    # --- signatures ----------------------------------------------------------------------------------

    def _issue(self, chunks: list) -> None:
        for item in chunks:
            for part in _parts(item):
                call = part.get("functionCall")
                if isinstance(call, dict) and part.get("thoughtSignature"):
                    self.issued[call_key(call)] = part["thoughtSignature"]

    def _check_signatures(self, body: dict) -> None:
        contents = body["contents"]
        start = 0
        for i, content in enumerate(contents):
            if content.get("role", "user") == "user" and any("functionResponse" not in p for p in content["parts"]):
                start = i + 1
        for i, content in enumerate(contents):
            if content.get("role") != "model":
                continue
            calls = [(j, p) for j, p in enumerate(content["parts"]) if "functionCall" in p]
            for k, (j, part) in enumerate(calls):
                issued = self.issued.get(call_key(part["functionCall"]))
                signature = part.get("thoughtSignature")
                name = part["functionCall"].get("name")
                if issued is not None and not same_signature(signature, issued):
                    raise Rejection(MISSING_SIGNATURE.format(name=name, position=j + 1) if signature is None
                                    else f"Corrupted thought signature at 'contents[{i}].parts[{j}]'.")  # fmt: skip
                if k == 0 and i >= start and signature is None:
                    raise Rejection(MISSING_SIGNATURE.format(name=name, position=j + 1))


def call_key(call: dict) -> str:
    if call.get("id"):
        return "id:" + str(call["id"])
    args = orjson.dumps(call.get("args") or {}, option=orjson.OPT_SORT_KEYS).decode()
    return f"call:{call.get('name')}:{args}"


def same_signature(given: object, issued: str) -> bool:
    """Whether two signatures are the same bytes (either base64 alphabet, with or without padding)."""
    return isinstance(given, str) and _bytes(given) == _bytes(issued)


def _bytes(signature: str) -> bytes:
    text = signature.replace("-", "+").replace("_", "/").rstrip("=")
    return base64.b64decode(text + "=" * (-len(text) % 4))


def _parts(item: object) -> list[dict]:
    if not isinstance(item, dict):
        return []
    out = []
    for candidate in item.get("candidates") or ():
        content = candidate.get("content") if isinstance(candidate, dict) else None
        out += [p for p in (content or {}).get("parts") or () if isinstance(p, dict)]
    return out


def error(code: int, message: str, status: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message, "status": status}}, status=code,
                             dumps=_dumps)  # fmt: skip


def _dumps(value: object) -> str:
    return orjson.dumps(value).decode()


# --- validation ----------------------------------------------------------------------------------------


# Values that are free-form JSON (google.protobuf.Struct), whose keys are the caller's, not field names.
_STRUCTS = frozenset({"args", "response", "parametersJsonSchema", "responseJsonSchema", "labels", "example",
                      "default", "enum"})  # fmt: skip


def camel_case(value: object, *, keys_are_names: bool = False) -> object:
    """A request with every proto field name in lowerCamelCase (free-form values and map keys untouched)."""
    if isinstance(value, list):
        return [camel_case(item) for item in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, inner in value.items():
        name = key if keys_are_names else _camel(key)
        if not keys_are_names and name in _STRUCTS:
            out[name] = inner
        elif not keys_are_names and name == "properties" and isinstance(inner, dict):
            out[name] = camel_case(inner, keys_are_names=True)
        else:
            out[name] = camel_case(inner)
    return out


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest) if rest and head else key


def check_auth(request: web.Request) -> None:
    key = request.headers.get("x-goog-api-key") or request.query.get("key")
    bearer = request.headers.get("authorization", "")
    if not key and not bearer.startswith("Bearer "):
        raise Rejection("Method doesn't allow unregistered callers (callers without established identity). "
                        "Please use API Key or other form of API consumer identity to call this API.",
                        403, "PERMISSION_DENIED")  # fmt: skip


def _unknown(value: dict, allowed: set[str], where: str) -> None:
    for key in value:
        if key not in allowed:
            raise Rejection(f"Invalid JSON payload received. Unknown name \"{key}\" at '{where}': Cannot find field.")


def _object(value: object, where: str) -> dict:
    if not isinstance(value, dict):
        raise Rejection(f"Invalid value at '{where}', expected an object.")
    return value


def validate(body: object) -> None:
    """Raise `Rejection` for a body the Gemini API would refuse."""
    body = _object(body, "request")
    _unknown(body, REQUEST_FIELDS, "request")
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise Rejection("* GenerateContentRequest.contents: contents is not specified")
    if body.get("systemInstruction") is not None:
        system = _object(body["systemInstruction"], "system_instruction")
        _unknown(system, CONTENT_FIELDS, "system_instruction")
        _parts_valid(system.get("parts"), "system_instruction")
    calls_before = 0
    for i, content in enumerate(contents):
        where = f"contents[{i}]"
        content = _object(content, where)
        _unknown(content, CONTENT_FIELDS, where)
        role = content.get("role", "user")
        if role not in ("user", "model"):
            raise Rejection(f"Please use a valid role: user, model. (got {role!r} at '{where}')")
        parts = _parts_valid(content.get("parts"), where)
        responses = sum(1 for p in parts if "functionResponse" in p)
        if responses and responses != calls_before:
            raise Rejection("Please ensure that the number of function response parts is equal to the number of "
                            "function call parts of the function call turn.")  # fmt: skip
        calls_before = sum(1 for p in parts if "functionCall" in p) if role == "model" else 0
    names = _tools_valid(body.get("tools"))
    _tool_config_valid(body.get("toolConfig"), names)
    _generation_valid(body.get("generationConfig"))


def _parts_valid(parts: object, where: str) -> list[dict]:
    if not isinstance(parts, list) or not parts:
        raise Rejection(f"* GenerateContentRequest.{where}.parts: contents.parts must not be empty.")
    for j, part in enumerate(parts):
        at = f"{where}.parts[{j}]"
        part = _object(part, at)
        _unknown(part, PART_FIELDS, at)
        data = [k for k in part if k in PART_DATA]
        if len(data) != 1:
            raise Rejection(f"Invalid value at '{at}': a part must hold exactly one data field (got {data}).")
        signature = part.get("thoughtSignature")
        if signature is not None and (not isinstance(signature, str) or not _base64(signature)):
            raise Rejection(f"Invalid value at '{at}.thought_signature' (TYPE_BYTES), Base64 decoding failed "
                            f"for \"{signature}\"")  # fmt: skip
        if "text" in part and not isinstance(part["text"], str):
            raise Rejection(f"Invalid value at '{at}.text' (TYPE_STRING)")
        if "functionCall" in part:
            call = _object(part["functionCall"], f"{at}.function_call")
            _unknown(call, CALL_FIELDS, f"{at}.function_call")
            if not isinstance(call.get("name"), str) or not call["name"]:
                raise Rejection(f"* GenerateContentRequest.{at}.function_call.name: Name cannot be empty.")
            if "args" in call and not isinstance(call["args"], dict):
                raise Rejection(f"Invalid value at '{at}.function_call.args' (google.protobuf.Struct)")
        if "functionResponse" in part:
            response = _object(part["functionResponse"], f"{at}.function_response")
            _unknown(response, RESPONSE_FIELDS, f"{at}.function_response")
            if not isinstance(response.get("name"), str) or not response["name"]:
                raise Rejection(f"* GenerateContentRequest.{at}.function_response.name: Name cannot be empty.")
            if not isinstance(response.get("response"), dict):
                raise Rejection(f"Invalid value at '{at}.function_response.response' (google.protobuf.Struct)")
    return parts


def _base64(value: str) -> bool:
    if not BASE64.match(value) or len(value.rstrip("=")) % 4 == 1:
        return False
    try:
        _bytes(value)
    except (binascii.Error, ValueError):
        return False
    return True


def _tools_valid(tools: object) -> set[str]:
    names: set[str] = set()
    if tools is None:
        return names
    if not isinstance(tools, list):
        raise Rejection("Invalid value at 'tools', expected a list.")
    for i, tool in enumerate(tools):
        where = f"tools[{i}]"
        tool = _object(tool, where)
        _unknown(tool, TOOL_FIELDS, where)
        for k, declaration in enumerate(tool.get("functionDeclarations") or ()):
            at = f"{where}.function_declarations[{k}]"
            declaration = _object(declaration, at)
            _unknown(declaration, DECLARATION_FIELDS, at)
            name = declaration.get("name")
            if not isinstance(name, str) or not NAME.match(name):
                raise Rejection(f"* GenerateContentRequest.{at}.name: Invalid function name. Must start with a "
                                "letter or an underscore. Must be a-z, A-Z, 0-9, or contain underscores, dots, "
                                "colons and dashes, with a maximum length of 128.")  # fmt: skip
            if "parameters" in declaration and "parametersJsonSchema" in declaration:
                raise Rejection(f"* GenerateContentRequest.{at}: parameters and parameters_json_schema are "
                                "mutually exclusive.")  # fmt: skip
            if "parameters" in declaration:
                _schema_valid(declaration["parameters"], f"{at}.parameters")
            if "parametersJsonSchema" in declaration:
                schema = _object(declaration["parametersJsonSchema"], f"{at}.parameters_json_schema")
                _refs_valid(schema, schema, f"{at}.parameters_json_schema")
            names.add(name)
    return names


def _schema_valid(schema: object, where: str) -> None:
    schema = _object(schema, where)
    _unknown(schema, SCHEMA_FIELDS, where)
    kind = schema.get("type")
    if kind is not None and (not isinstance(kind, str) or kind.upper() not in SCHEMA_TYPES):
        raise Rejection(f"Invalid value at '{where}.type' (google.ai.generativelanguage.v1beta.Type), "
                        f"{orjson.dumps(kind).decode()}")  # fmt: skip
    for key, value in (schema.get("properties") or {}).items():
        _schema_valid(value, f"{where}.properties[{key}].value")
    if schema.get("items") is not None:
        _schema_valid(schema["items"], f"{where}.items")
    for j, option in enumerate(schema.get("anyOf") or ()):
        _schema_valid(option, f"{where}.any_of[{j}]")


def _refs_valid(node: object, root: dict, where: str) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            target: object = root
            for step in ref.removeprefix("#/").split("/") if ref.startswith("#/") else [None]:
                target = target.get(step) if isinstance(target, dict) and step is not None else None
            if target is None:
                raise Rejection(f"Invalid JSON payload received: reference to undefined schema at {where}: {ref}")
        for value in node.values():
            _refs_valid(value, root, where)
    elif isinstance(node, list):
        for value in node:
            _refs_valid(value, root, where)


def _tool_config_valid(config: object, names: set[str]) -> None:
    if config is None:
        return
    config = _object(config, "tool_config")
    _unknown(config, {"functionCallingConfig", "retrievalConfig", "includeServerSideToolInvocations"},
             "tool_config")  # fmt: skip
    calling = _object(config.get("functionCallingConfig", {}), "tool_config.function_calling_config")
    _unknown(calling, {"mode", "allowedFunctionNames", "streamFunctionCallArguments"},
             "tool_config.function_calling_config")  # fmt: skip
    if "streamFunctionCallArguments" in calling:
        raise Rejection("streamFunctionCallArguments is not supported in Gemini API.")
    if calling.get("mode", "AUTO") not in MODES:
        raise Rejection(f"Invalid value at 'tool_config.function_calling_config.mode', {calling.get('mode')!r}")
    allowed = calling.get("allowedFunctionNames")
    if allowed is not None:
        if calling.get("mode") not in ("ANY", "VALIDATED"):
            raise Rejection("allowed_function_names may be set only when the mode is ANY or VALIDATED.")
        for name in allowed:
            if name not in names:
                raise Rejection(f"allowed_function_names: function {name!r} is not declared.")


def _generation_valid(config: object) -> None:
    if config is None:
        return
    config = _object(config, "generation_config")
    _unknown(config, GENERATION_FIELDS, "generation_config")
    if "responseSchema" in config and "responseJsonSchema" in config:
        raise Rejection("response_schema and response_json_schema are mutually exclusive.")
    if ("responseSchema" in config or "responseJsonSchema" in config) and config.get("responseMimeType") not in (
        "application/json", "text/x.enum"
    ):  # fmt: skip
        raise Rejection("responseSchema and responseJsonSchema need responseMimeType application/json.")
    if "responseSchema" in config:
        _schema_valid(config["responseSchema"], "generation_config.response_schema")
    thinking = config.get("thinkingConfig")
    if thinking is not None:
        thinking = _object(thinking, "generation_config.thinking_config")
        _unknown(thinking, THINKING_FIELDS, "generation_config.thinking_config")
        if "thinkingBudget" in thinking and "thinkingLevel" in thinking:
            raise Rejection("You can only set only one of thinking budget and thinking level.")
        level = thinking.get("thinkingLevel")
        if level is not None and level not in ("MINIMAL", "LOW", "MEDIUM", "HIGH"):
            raise Rejection(f"Invalid value at 'generation_config.thinking_config.thinking_level', {level!r}")


# --- replies ---------------------------------------------------------------------------------------------


def chunk(parts: list[dict], finish: str | None = None, *, usage: dict | None = None,
          model: str = "gemini-fake-001") -> dict:  # fmt: skip
    """One streamed `GenerateContentResponse` holding `parts` (and a `finishReason` on the last)."""
    candidate: dict = {"content": {"role": "model", "parts": parts}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    out: dict = {"candidates": [candidate], "modelVersion": model, "responseId": "resp-fake"}
    if usage is not None:
        out["usageMetadata"] = usage
    return out


def usage(prompt: int = 12, candidates: int = 5, thoughts: int = 0, cached: int = 0) -> dict:
    metadata = {"promptTokenCount": prompt, "candidatesTokenCount": candidates,
                "totalTokenCount": prompt + candidates + thoughts}  # fmt: skip
    if thoughts:
        metadata["thoughtsTokenCount"] = thoughts
    if cached:
        metadata["cachedContentTokenCount"] = cached
    return metadata


def text_chunks(*texts: str, thought: str | None = None, signature: str | None = "c2lnLXRleHQ=") -> list[dict]:
    """A text answer in pieces, optionally after a thought; Gemini 3 signs its last part (an empty text here)."""
    chunks = [chunk([{"text": thought, "thought": True}])] if thought else []
    chunks += [chunk([{"text": t}]) for t in texts]
    last: list[dict] = [{"text": "", "thoughtSignature": signature}] if signature else []
    return [*chunks, chunk(last or [{"text": ""}], "STOP", usage=usage())]


def call_chunks(*calls: tuple[str, dict], signature: str | None = "c2lnLWNhbGw=", ids: bool = False,
                thought: str | None = "Let me look.") -> list[dict]:  # fmt: skip
    """Function calls (whole, as Gemini sends them), the first one signed (Gemini 3's parallel calls)."""
    parts: list[dict] = [{"text": thought, "thought": True}] if thought else []
    for n, (name, args) in enumerate(calls):
        call: dict = {"id": f"fc-{name}-{n}", "name": name, "args": args} if ids else {"name": name, "args": args}
        part: dict = {"functionCall": call}
        if n == 0 and signature:
            part["thoughtSignature"] = signature
        parts.append(part)
    return [chunk(parts[:1]), chunk(parts[1:], "STOP", usage=usage(thoughts=7))] if thought else [
        chunk(parts, "STOP", usage=usage())
    ]  # fmt: skip


def body_of(chunks: list[dict]) -> dict:
    """The non-streaming body the same answer would be: all parts, the last finish reason and usage."""
    parts: list[dict] = []
    last = chunks[-1] if chunks else chunk([{"text": ""}], "STOP")
    for item in chunks:
        parts += _parts(item)
    out = dict(last)
    candidate = dict(last["candidates"][0]) if last.get("candidates") else {"index": 0}
    candidate["content"] = {"role": "model", "parts": parts}
    out["candidates"] = [candidate]
    return out


def echo_chunks(body: dict) -> list[dict]:
    last = body["contents"][-1]
    texts = [p["text"] for p in last["parts"] if isinstance(p.get("text"), str)]
    outputs = [p["functionResponse"]["response"] for p in last["parts"] if "functionResponse" in p]
    said = " ".join(texts) if texts else orjson.dumps(outputs).decode()
    return text_chunks(f"echo: {said}")
