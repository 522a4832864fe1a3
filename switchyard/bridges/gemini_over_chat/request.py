"""Gemini `generateContent` request -> Chat Completions request: the request half of the Gemini-over-Chat bridge.

`to_chat(body)` rewrites what Gemini CLI (or a google-genai SDK) sends into the body a Chat upstream
understands. The body carries the facts of the URL (`model`, `stream`, `alt`: see
`switchyard.protocols.gemini`). Like the other bridges it makes the most faithful Chat request it can
and passes top-level fields it does not know on, because the pack that runs next decides what a
provider accepts. docs/bridges.md lists every mapping.

Nothing is lost without a word: each field and part is translated, dropped by a rule listed in
`DROPPED_FIELDS`/`DROPPED_CONFIG`/`DROPPED_PART_FIELDS` (with its reason, also in the docs), or refused
with a 400 in Gemini's shape naming it (`param` is its path, `contents[2].parts[0].executableCode`).

Design choices:

- A `user` turn holding `functionResponse` parts becomes the `tool` messages first (strict Chat
  providers need them right after the assistant's `tool_calls`), then one user message with the rest.
  A response without an `id` answers the first call of that name in the model turn before it not yet
  answered (Gemini pairs them so, by position); a call without an `id` gets one made from where it
  stands (`call_<turn>_<part>`), the same every time the history is sent.
- `functionResponse.response` is an object; `{"output": X}` (what Gemini CLI sends) becomes X as the
  tool message's text, `{"error": X}` becomes `Error: X`, anything else its JSON.
- A `model` turn becomes one assistant message: its text parts joined, its `thought: true` parts as
  `reasoning_content` (the field thinking providers want back, and every shipped pack handles), its
  `functionCall`s as `tool_calls` (args as a JSON string).
- Thinking: `thinkingConfig.thinkingLevel` is the effort itself (`HIGH` -> `high`); a `thinkingBudget`
  of 0 is `none`, -1 (dynamic) nothing, another the effort the Messages bridge gives such a budget.
  `includeThoughts` is the stream's business: thoughts go back to the client only when asked.
- Schemas: `parameters` and `responseSchema` (Gemini's OpenAPI subset) and `responseJsonSchema` (which
  Gemini CLI's router writes with upper-case types) all go through `schema.to_json_schema`.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson

from switchyard.bridges.gemini_over_chat.schema import camel_case, to_json_schema
from switchyard.bridges.shape import array, obj, text
from switchyard.errors import RequestError

# Top-level fields translated here; every other field passes through for the pack to judge.
_CONSUMED = {
    "model",
    "stream",
    "alt",
    "contents",
    "systemInstruction",
    "tools",
    "toolConfig",
    "generationConfig",
}
# Top-level fields dropped on purpose, with why (docs/bridges.md says the same).
DROPPED_FIELDS = {
    "safetySettings": "Gemini's own content filters and their thresholds; a Chat provider applies its own",
    "labels": "billing labels for Google Cloud",
    "serviceTier": "Gemini's capacity tiers mean nothing to a Chat provider",
}
# Top-level fields a Chat upstream cannot honour: refused, as dropping them would change what was asked.
REFUSED_FIELDS = {
    "cachedContent": "a context cache lives on Google's servers",
    "store": "stored interactions live on Google's servers",
}
# `generationConfig` fields translated here.
_CONFIG = {
    "temperature": "temperature",
    "topP": "top_p",
    "topK": "top_k",
    "maxOutputTokens": "max_tokens",
    "presencePenalty": "presence_penalty",
    "frequencyPenalty": "frequency_penalty",
    "seed": "seed",
}
# `generationConfig` fields dropped on purpose, with why.
DROPPED_CONFIG = {
    "mediaResolution": "a hint to Gemini's image tokenizer; a Chat provider sizes images itself",
    "candidateCount": "1 is what a Chat request asks for (more is refused)",
}
# Part fields dropped on purpose, with why.
DROPPED_PART_FIELDS = {
    "thoughtSignature": "Gemini's signature of its own reasoning; a Chat provider neither reads nor needs it",
    "videoMetadata": "clipping of a video part, which is refused anyway",
    "partMetadata": "the client's own metadata on a part",
}
# Function declaration fields dropped on purpose, with why.
DROPPED_FUNCTION_FIELDS = {
    "response": "a Chat function declares no return type; the model sees the results it gets",
    "responseJsonSchema": "a Chat function declares no return type; the model sees the results it gets",
    "behavior": "blocking or not is for Gemini's Live API",
}
_MODES = {"AUTO": "auto", "NONE": "none", "ANY": "required", "VALIDATED": "auto"}
_LEVELS = {"MINIMAL": "minimal", "LOW": "low", "MEDIUM": "medium", "HIGH": "high"}
# `thinkingBudget` -> `reasoning_effort`: below 4,096 tokens low, below 16,384 medium, else high (as the
# Messages bridge reads Claude Code's budget).
_BUDGETS = ((4096, "low"), (16384, "medium"))


def to_chat(body: dict) -> dict:
    """Translate a Gemini request body (with its URL's facts) into a Chat Completions request body."""
    if not isinstance(body, dict):
        raise RequestError("The request body must be a JSON object.")
    for field, why in REFUSED_FIELDS.items():
        if body.get(field) is not None:
            raise RequestError(f"'{field}' cannot be sent to this upstream: {why}.", param=field)
    body = camel_case(body)
    out = {k: v for k, v in body.items() if k not in _CONSUMED and k not in DROPPED_FIELDS}
    out["model"] = body.get("model")
    system = body.get("systemInstruction")
    out["messages"] = _system(system) + _contents(body.get("contents"))
    names = _tools(body.get("tools"), out)
    _tool_config(obj(body.get("toolConfig"), "toolConfig", optional=True), names, out)
    _generation(obj(body.get("generationConfig"), "generationConfig", optional=True), out)
    out["stream"] = body.get("stream") is True
    if out["stream"]:
        # The last Gemini chunk carries usageMetadata, and Chat streams report usage only when asked.
        out["stream_options"] = {"include_usage": True}
    return out


# --- system and contents -----------------------------------------------------------------------------


def _system(system: object) -> list[dict]:
    if system is None:
        return []
    if isinstance(system, str):
        return [{"role": "system", "content": system}] if system else []
    system = obj(system, "systemInstruction")
    texts = []
    for j, part in enumerate(array(system.get("parts"), "systemInstruction.parts", optional=True)):
        part = obj(part, f"systemInstruction.parts[{j}]")
        _check_part_fields(part, f"systemInstruction.parts[{j}]")
        if "text" not in part:
            raise RequestError("System instruction parts must be text.", param=f"systemInstruction.parts[{j}]")
        texts.append(text(part["text"], f"systemInstruction.parts[{j}].text") or "")
    joined = "\n\n".join(t for t in texts if t)
    return [{"role": "system", "content": joined}] if joined else []


def _contents(contents: object) -> list[dict]:
    out: list[dict] = []
    pending: list[tuple[str, str]] = []  # (name, id) of the last model turn's calls not answered yet
    for i, content in enumerate(array(contents, "contents")):
        where = f"contents[{i}]"
        content = obj(content, where)
        role = content.get("role") or "user"
        parts = [obj(p, f"{where}.parts[{j}]") for j, p in enumerate(array(content.get("parts"), f"{where}.parts"))]
        if role == "model":
            message, pending = _model(parts, i, where)
            out.append(message)
        elif role in ("user", "function", "tool"):
            out += _user(parts, where, pending)
        else:
            raise RequestError(f"Content roles are 'user' and 'model', not {role!r}.", param=f"{where}.role")
    return out


_PART_DATA = ("text", "inlineData", "fileData", "functionCall", "functionResponse", "executableCode",
              "codeExecutionResult", "toolCall", "toolResponse")  # fmt: skip
_PART_KNOWN = frozenset({*_PART_DATA, "thought", *DROPPED_PART_FIELDS})


def _check_part_fields(part: dict, at: str) -> None:
    data = None
    for key in part:
        if key not in _PART_KNOWN:
            raise RequestError(f"Part field {key!r} cannot be sent to this upstream.", param=f"{at}.{key}")
        if key in _PART_DATA:
            if data is not None:  # one kind of data per part (gemini.md 2): the second would be lost
                raise RequestError(f"A part holds one kind of data, not {data!r} and {key!r}.", param=f"{at}.{key}")
            data = key


def _user(parts: list[dict], where: str, pending: list[tuple[str, str]]) -> list[dict]:
    tools: list[dict] = []
    chat_parts: list[dict] = []
    for j, part in enumerate(parts):
        at = f"{where}.parts[{j}]"
        _check_part_fields(part, at)
        response = part.get("functionResponse")
        if response is not None:
            tools.append(_function_response(obj(response, f"{at}.functionResponse"), f"{at}.functionResponse", pending))
        elif part.get("thought") is True:
            raise RequestError("Thought parts belong in model turns.", param=f"{at}.thought")
        else:
            chat_parts.append(_user_part(part, at))
    out = tools
    if chat_parts:
        out.append({"role": "user", "content": _content(chat_parts)})
    elif not tools:
        out.append({"role": "user", "content": ""})
    return out


def _content(parts: list[dict]) -> str | list[dict]:
    """A plain string when every part is text (what most Chat providers and local templates handle best)."""
    if all(part["type"] == "text" for part in parts):
        return "\n\n".join(part["text"] for part in parts)
    return parts


def _user_part(part: dict, at: str) -> dict:
    if "text" in part:
        return {"type": "text", "text": text(part["text"], f"{at}.text") or ""}
    inline = part.get("inlineData")
    if inline is not None:
        return _inline(obj(inline, f"{at}.inlineData"), f"{at}.inlineData")
    file = part.get("fileData")
    if file is not None:
        return _file(obj(file, f"{at}.fileData"), f"{at}.fileData")
    kind = next((k for k in _PART_DATA if k in part), None)
    if kind is None:
        raise RequestError("A part must hold data (text, inlineData, ...).", param=at)
    raise RequestError(f"A {kind!r} part cannot be sent to this upstream.", param=f"{at}.{kind}")


def _inline(inline: dict, at: str) -> dict:
    mime = text(inline.get("mimeType"), f"{at}.mimeType") or ""
    data = text(inline.get("data"), f"{at}.data") or ""
    if mime.startswith("image/"):
        return {"type": "image_url", "image_url": {"url": f"data:{mime};base64,{data}"}}
    if mime in ("audio/wav", "audio/x-wav", "audio/mp3", "audio/mpeg"):
        return {"type": "input_audio", "input_audio": {"data": data, "format": "wav" if "wav" in mime else "mp3"}}
    if mime == "application/pdf":
        return {"type": "file", "file": {"file_data": f"data:{mime};base64,{data}"}}
    if mime.startswith("text/"):
        try:
            return {"type": "text", "text": base64.b64decode(data, validate=True).decode("utf-8")}
        except (binascii.Error, UnicodeDecodeError):
            raise RequestError("Inline text data must be base64 of UTF-8 text.", param=f"{at}.data") from None
    raise RequestError(f"Inline data of type {mime!r} cannot be sent to this upstream.", param=f"{at}.mimeType")


def _file(file: dict, at: str) -> dict:
    uri = text(file.get("fileUri"), f"{at}.fileUri") or ""
    mime = text(file.get("mimeType"), f"{at}.mimeType", optional=True) or ""
    web = uri.startswith(("https://", "http://")) and "generativelanguage.googleapis.com" not in uri
    if web and (mime.startswith("image/") or not mime):
        return {"type": "image_url", "image_url": {"url": uri}}
    raise RequestError(
        "Files must be sent inline or as an image URL; files uploaded to Google need Google's servers.",
        param=f"{at}.fileUri",
    )


def _function_response(response: dict, at: str, pending: list[tuple[str, str]]) -> dict:
    name = text(response.get("name"), f"{at}.name", optional=True)
    given = text(response.get("id"), f"{at}.id", optional=True)
    call_id = given
    for k, (pending_name, pending_id) in enumerate(pending):
        if (given and pending_id == given) or (not given and pending_name == name):
            call_id = pending_id
            del pending[k]
            break
    if not call_id:
        raise RequestError(
            f"The function response {name!r} answers no function call of the turn before it.", param=f"{at}.name"
        )
    result = obj(response.get("response"), f"{at}.response", optional=True)
    if response.get("parts"):
        raise RequestError(
            "Function responses with parts (media) cannot be sent to this upstream.", param=f"{at}.parts"
        )
    if set(result) == {"output"}:
        output = result["output"]
        content = output if isinstance(output, str) else orjson.dumps(output).decode()
    elif set(result) == {"error"}:
        error = result["error"]
        content = "Error: " + (error if isinstance(error, str) else orjson.dumps(error).decode())
    else:
        content = orjson.dumps(result).decode()
    return {"role": "tool", "tool_call_id": call_id, "content": content}


def _model(parts: list[dict], turn: int, where: str) -> tuple[dict, list[tuple[str, str]]]:
    texts: list[str] = []
    reasoning: list[str] = []
    calls: list[dict] = []
    for j, part in enumerate(parts):
        at = f"{where}.parts[{j}]"
        _check_part_fields(part, at)
        call = part.get("functionCall")
        if call is not None:
            call = obj(call, f"{at}.functionCall")
            name = text(call.get("name"), f"{at}.functionCall.name") or ""
            args = obj(call.get("args"), f"{at}.functionCall.args", optional=True)
            call_id = text(call.get("id"), f"{at}.functionCall.id", optional=True) or f"call_{turn}_{j}"
            calls.append({"id": call_id, "type": "function", "function": {"name": name, "arguments": _json(args)}})
        elif "text" in part:
            value = text(part["text"], f"{at}.text") or ""
            (reasoning if part.get("thought") is True else texts).append(value)
        else:
            kind = next((k for k in _PART_DATA if k in part), "?")
            raise RequestError(f"A {kind!r} part in a model turn cannot be sent to this upstream.", param=f"{at}")
    joined = "".join(texts)
    message: dict = {"role": "assistant", "content": joined or (None if calls else "")}
    if calls:
        message["tool_calls"] = calls
    if any(reasoning):
        message["reasoning_content"] = "".join(reasoning)
    return message, [(c["function"]["name"], c["id"]) for c in calls]


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


# --- tools and tool config ---------------------------------------------------------------------------


def _tools(tools: object, out: dict) -> list[str]:
    if tools is None:
        return []
    chat_tools: list[dict] = []
    for i, tool in enumerate(array(tools, "tools")):
        tool = obj(tool, f"tools[{i}]")
        for key, value in tool.items():
            if key == "functionDeclarations":
                for k, declaration in enumerate(array(value, f"tools[{i}].{key}")):
                    chat_tools.append(_function(obj(declaration, f"tools[{i}].{key}[{k}]"), f"tools[{i}].{key}[{k}]"))
            else:
                # googleSearch, codeExecution, urlContext, ...: run by Google's servers.
                raise RequestError(
                    f"The tool {key!r} runs on Google's servers and cannot be sent to this upstream.",
                    param=f"tools[{i}].{key}",
                )
    if chat_tools:
        out["tools"] = chat_tools
    return [tool["function"]["name"] for tool in chat_tools]


_FUNCTION_KNOWN = {"name", "description", "parameters", "parametersJsonSchema", *DROPPED_FUNCTION_FIELDS}


def _function(declaration: dict, at: str) -> dict:
    name = text(declaration.get("name"), f"{at}.name")
    if not name:
        raise RequestError("Every function declaration needs a 'name'.", param=f"{at}.name")
    for key in declaration:
        if key not in _FUNCTION_KNOWN:
            raise RequestError(
                f"Function declaration field {key!r} cannot be sent to this upstream.", param=f"{at}.{key}"
            )
    function: dict = {"name": name}
    if declaration.get("description"):
        function["description"] = text(declaration["description"], f"{at}.description")
    if declaration.get("parameters") is not None and declaration.get("parametersJsonSchema") is not None:
        raise RequestError("Give 'parameters' or 'parametersJsonSchema', not both.", param=f"{at}.parameters")
    if declaration.get("parametersJsonSchema") is not None:
        function["parameters"] = obj(declaration["parametersJsonSchema"], f"{at}.parametersJsonSchema")
    elif declaration.get("parameters") is not None:
        function["parameters"] = to_json_schema(obj(declaration["parameters"], f"{at}.parameters"))
    else:
        function["parameters"] = {"type": "object", "properties": {}}
    return {"type": "function", "function": function}


def _tool_config(config: dict, names: list[str], out: dict) -> None:
    for key in config:
        if key != "functionCallingConfig":
            raise RequestError(f"'toolConfig.{key}' cannot be sent to this upstream.", param=f"toolConfig.{key}")
    calling = obj(config.get("functionCallingConfig"), "toolConfig.functionCallingConfig", optional=True)
    at = "toolConfig.functionCallingConfig"
    for key in calling:
        if key not in ("mode", "allowedFunctionNames"):
            raise RequestError(f"'{at}.{key}' cannot be sent to this upstream.", param=f"{at}.{key}")
    mode = text(calling.get("mode"), f"{at}.mode", optional=True) or "AUTO"
    if mode not in _MODES:
        raise RequestError(f"Unsupported function calling mode {mode!r}.", param=f"{at}.mode")
    allowed = array(calling.get("allowedFunctionNames"), f"{at}.allowedFunctionNames", optional=True)
    if not calling:
        return
    if allowed:
        if mode not in ("ANY", "VALIDATED"):
            raise RequestError(
                "'allowedFunctionNames' goes with mode ANY or VALIDATED.", param=f"{at}.allowedFunctionNames"
            )
        unknown = [n for n in allowed if n not in names]
        if unknown:
            raise RequestError(
                f"'allowedFunctionNames' names no declared function: {unknown}.", param=f"{at}.allowedFunctionNames"
            )
        # Only those may be called: the others are not offered.
        out["tools"] = [t for t in out.get("tools", []) if t["function"]["name"] in allowed]
        if mode == "ANY" and len(allowed) == 1:
            out["tool_choice"] = {"type": "function", "function": {"name": allowed[0]}}
            return
    out["tool_choice"] = _MODES[mode]


# --- generation config -------------------------------------------------------------------------------

_CONFIG_KNOWN = {*_CONFIG, *DROPPED_CONFIG, "stopSequences", "responseMimeType", "responseSchema",
                 "responseJsonSchema", "thinkingConfig", "responseModalities"}  # fmt: skip


def _generation(config: dict, out: dict) -> None:
    for key, value in config.items():
        if key not in _CONFIG_KNOWN:
            raise RequestError(
                f"'generationConfig.{key}' cannot be sent to this upstream.", param=f"generationConfig.{key}"
            )
        if key in _CONFIG and value is not None:
            out[_CONFIG[key]] = value
    count = config.get("candidateCount")
    if count is not None and count != 1:
        raise RequestError("Only one candidate can be asked of this upstream.", param="generationConfig.candidateCount")
    stops = config.get("stopSequences")
    if stops:
        stops = array(stops, "generationConfig.stopSequences")
        for i, stop in enumerate(stops):
            text(stop, f"generationConfig.stopSequences[{i}]")
        out["stop"] = list(stops)
    modalities = array(config.get("responseModalities"), "generationConfig.responseModalities", optional=True)
    if any(m != "TEXT" for m in modalities):
        raise RequestError("Only text can be asked of this upstream.", param="generationConfig.responseModalities")
    _format(config, out)
    _thinking(obj(config.get("thinkingConfig"), "generationConfig.thinkingConfig", optional=True), out)


def _format(config: dict, out: dict) -> None:
    at = "generationConfig"
    mime = text(config.get("responseMimeType"), f"{at}.responseMimeType", optional=True)
    schema = config.get("responseJsonSchema")
    if config.get("responseSchema") is not None:
        if schema is not None:
            raise RequestError("Give 'responseSchema' or 'responseJsonSchema', not both.", param=f"{at}.responseSchema")
        schema = config["responseSchema"]
    if mime in (None, "text/plain"):
        if schema is not None:
            raise RequestError(
                "A response schema needs responseMimeType 'application/json'.", param=f"{at}.responseMimeType"
            )
        return
    if mime != "application/json":
        raise RequestError(
            f"responseMimeType {mime!r} cannot be asked of this upstream.", param=f"{at}.responseMimeType"
        )
    if schema is None:
        out["response_format"] = {"type": "json_object"}
        return
    schema = to_json_schema(obj(schema, f"{at}.responseJsonSchema"))
    out["response_format"] = {"type": "json_schema", "json_schema": {"name": "response", "schema": schema}}


def _thinking(config: dict, out: dict) -> None:
    at = "generationConfig.thinkingConfig"
    for key in config:
        if key not in ("includeThoughts", "thinkingBudget", "thinkingLevel"):
            raise RequestError(f"'{at}.{key}' cannot be sent to this upstream.", param=f"{at}.{key}")
    level, budget = config.get("thinkingLevel"), config.get("thinkingBudget")
    if level is not None and budget is not None:
        raise RequestError(
            "You can only set only one of thinking budget and thinking level.", param=f"{at}.thinkingLevel"
        )
    if level is not None:
        effort = _LEVELS.get(str(level).upper())
        if effort is None:
            raise RequestError(f"Unsupported thinking level {level!r}.", param=f"{at}.thinkingLevel")
        out["reasoning_effort"] = effort
    elif budget is not None:
        if not isinstance(budget, int) or isinstance(budget, bool):
            raise RequestError("'thinkingBudget' must be an integer.", param=f"{at}.thinkingBudget")
        if budget == 0:
            out["reasoning_effort"] = "none"
        elif budget > 0:
            out["reasoning_effort"] = next((level for limit, level in _BUDGETS if budget < limit), "high")
