"""Chat Completions request -> Gemini `GenerateContentRequest`: the request half of the Chat-over-Gemini bridge.

`to_gemini(body)` rewrites what a Chat client (the openai SDK, or Codex and Claude Code composed through
Chat) sends into the body of `models/{model}:generateContent`. The result keeps `model` and `stream` at
the top level, as every protocol's body does here: packs select and rewrite by them, and the Gemini
protocol turns them into the upstream URL (`{model}:streamGenerateContent?alt=sse`) when the call is
made. Unknown top-level fields pass through (a Chat client reaches Gemini's own `safetySettings` or
`cachedContent` through `extra_body`) for the pack to keep or drop; Chat fields Gemini has no place for
are dropped here by `DROPPED_FIELDS`, and what cannot be expressed is refused with a 400 naming it.
docs/bridges.md lists every mapping.

Design choices:

- System and developer messages all go to `systemInstruction`, one text part each, in order.
- Roles are `user` and `model`; consecutive messages of one role are merged into one content, and tool
  results are `functionResponse` parts of a user content (several results of one step in one content,
  as Gemini requires as many responses as the step had calls).
- Tool call ids carry Gemini's thought signatures (`signatures.py`): each assistant `tool_calls[i].id`
  gives back the `functionCall.id` (where Gemini gave one) and the `thoughtSignature` of its part.
  A history that never had a signature (another model's turns, a client's own calls) is left unsigned
  here; Gemini's documented placeholder for it is a pack step (rules/gemini.yaml), not code.
- Assistant `reasoning_content` is not sent back: a thought part is only meaningful with the signature
  Gemini put on it, and Chat has no field that carries one for text.
- Tool schemas go as `parametersJsonSchema`, the JSON Schema field, unchanged: it takes what Chat
  clients send. Gemini's other field, `parameters`, takes an OpenAPI subset and refuses the rest; a
  pack that must use it converts (rules/gemini.yaml says which it chose and why).
- `reasoning_effort` passes through untouched: how much a Gemini model thinks is per model family
  (`thinkingLevel` for Gemini 3, `thinkingBudget` for 2.5), so the pack maps it.
"""

from __future__ import annotations

import mimetypes

import orjson

from switchyard.bridges.chat_over_gemini import signatures
from switchyard.bridges.shape import array, obj, text
from switchyard.errors import RequestError

_CONSUMED = {
    "messages",
    "max_tokens",
    "max_completion_tokens",
    "stop",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "response_format",
    "temperature",
    "top_p",
    "presence_penalty",
    "frequency_penalty",
    "seed",
    "logprobs",
    "top_logprobs",
    "stream_options",
    "n",
}
# Chat fields Gemini has no equivalent for (and would refuse as unknown), with why.
DROPPED_FIELDS = {
    "user": "Gemini takes no end-user id",
    "safety_identifier": "Gemini takes no end-user id",
    "logit_bias": "no Gemini equivalent",
    "store": "OpenAI's stored completions",
    "metadata": "OpenAI's key-value tags for stored completions",
    "modalities": "text is the only output asked for",
    "prediction": "OpenAI's predicted outputs",
    "prompt_cache_key": "OpenAI's cache routing hint; Gemini caches implicitly or by cachedContent",
    "prompt_cache_retention": "OpenAI's cache retention",
    "service_tier": "OpenAI's tiers are not Gemini's",
    "verbosity": "no Gemini equivalent",
}
REFUSED_FIELDS = {
    "audio": "audio output",
    "functions": "the legacy functions API (use tools)",
    "function_call": "the legacy functions API (use tool_choice)",
    "web_search_options": "OpenAI's built-in web search",
}
# `input_audio.format` -> the MIME type Gemini's inlineData takes.
AUDIO_TYPES = {"wav": "audio/wav", "mp3": "audio/mp3"}


def to_gemini(body: dict) -> dict:
    """Translate a Chat Completions request body into a Gemini GenerateContentRequest (plus `model`, `stream`)."""
    if not isinstance(body, dict):
        raise RequestError("The request body must be a JSON object.")
    for field, what in REFUSED_FIELDS.items():
        if body.get(field) is not None:
            raise RequestError(f"'{field}' cannot be sent to this upstream: {what} has no Gemini equivalent.",
                               param=field)  # fmt: skip
    if body.get("n") not in (None, 1):
        raise RequestError("'n' must be 1: the bridge reads one candidate.", param="n")
    if isinstance(body.get("modalities"), list) and "audio" in body["modalities"]:
        raise RequestError("Audio output has no Gemini equivalent here.", param="modalities")
    obj(body.get("stream_options"), "stream_options", optional=True)  # Gemini streams always carry usage
    out = {k: v for k, v in body.items() if k not in _CONSUMED and k not in DROPPED_FIELDS}
    system, contents = _contents(array(body.get("messages"), "messages"))
    out["contents"] = contents
    if system:
        out["systemInstruction"] = {"parts": system}
    if body.get("tools") is not None:
        out["tools"] = _tools(body["tools"])
    _tool_config(body, out)
    config = _generation_config(body)
    if config:
        # A client's own generationConfig (extra_body) is kept, and wins over what was mapped.
        given = body.get("generationConfig")
        out["generationConfig"] = {**config, **given} if isinstance(given, dict) else config
    return out


# --- contents ------------------------------------------------------------------------------------------


def _contents(messages: list) -> tuple[list[dict], list[dict]]:
    system: list[dict] = []
    contents: list[dict] = []
    names: dict[str, str] = {}  # tool call id -> function name (a tool message has only the id)
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        message = obj(message, where)
        role = message.get("role")
        if role in ("system", "developer"):
            content = _text(message.get("content"), f"{where}.content")
            if content:
                system.append({"text": content})
        elif role == "user":
            _append(contents, "user", _user_parts(message.get("content"), f"{where}.content"))
        elif role == "assistant":
            _append(contents, "model", _model_parts(message, where, names))
        elif role == "tool":
            _append(contents, "user", [_function_response(message, where, names)], results=True)
        else:
            raise RequestError(f"Unsupported message role {role!r}.", param=f"{where}.role")
    return system, contents


def _append(contents: list[dict], role: str, parts: list[dict], *, results: bool = False) -> None:
    """Add parts as a content, merged into the previous content of the same role.

    Function responses go before any text of the same user content: a user message that follows the
    tool results of a step joins their content after them.
    """
    if not parts:
        return
    if contents and contents[-1]["role"] == role:
        held = contents[-1]["parts"]
        if results:
            at = sum(1 for part in held if "functionResponse" in part)
            held[at:at] = parts
        else:
            held.extend(parts)
    else:
        contents.append({"role": role, "parts": parts})


def _text(content: object, where: str) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    texts = []
    for j, part in enumerate(array(content, where)):
        part = obj(part, f"{where}[{j}]")
        if part.get("type") == "text":
            texts.append(text(part.get("text"), f"{where}[{j}].text", optional=True) or "")
        elif part.get("type") == "refusal":
            texts.append(text(part.get("refusal"), f"{where}[{j}].refusal", optional=True) or "")
        else:
            raise RequestError(f"Content part type {part.get('type')!r} cannot go here; text only.",
                               param=f"{where}[{j}].type")  # fmt: skip
    return "\n".join(texts)


def _user_parts(content: object, where: str) -> list[dict]:
    if content is None or isinstance(content, str):
        return [{"text": content}] if content else []
    parts = []
    for j, part in enumerate(array(content, where)):
        at = f"{where}[{j}]"
        part = obj(part, at)
        kind = part.get("type")
        if kind == "text":
            value = text(part.get("text"), f"{at}.text", optional=True)
            if value:
                parts.append({"text": value})
        elif kind == "image_url":
            image = part.get("image_url")
            url = image if isinstance(image, str) else obj(image, f"{at}.image_url").get("url")
            parts.append(_media(text(url, f"{at}.image_url.url"), at))
        elif kind == "file":
            file = obj(part.get("file"), f"{at}.file")
            if not isinstance(file.get("file_data"), str):
                raise RequestError("Files must be sent as file_data; file ids need OpenAI's server.",
                                   param=f"{at}.file")  # fmt: skip
            parts.append(_media(file["file_data"], at))
        elif kind == "input_audio":
            audio = obj(part.get("input_audio"), f"{at}.input_audio")
            media = AUDIO_TYPES.get(audio["format"]) if isinstance(audio.get("format"), str) else None
            if media is None:
                raise RequestError("input_audio.format must be 'wav' or 'mp3'.", param=f"{at}.input_audio.format")
            data = text(audio.get("data"), f"{at}.input_audio.data")
            parts.append({"inlineData": {"mimeType": media, "data": data}})
        else:
            raise RequestError(f"Content part type {kind!r} cannot be sent to this upstream.", param=f"{at}.type")
    return parts


def _media(url: str, at: str) -> dict:
    """A base64 data URL -> `inlineData`; an http(s) URL -> `fileData` (its type guessed from the name)."""
    if url.startswith("data:"):
        header, comma, data = url[5:].partition(",")
        media, _, encoding = header.partition(";")
        if not comma or encoding != "base64" or not media:
            raise RequestError("A data URL must be base64 with a media type.", param=at)
        return {"inlineData": {"mimeType": media, "data": data}}
    if url.startswith(("http://", "https://")):
        guessed = mimetypes.guess_type(url.partition("?")[0])[0]
        return {"fileData": {"mimeType": guessed, "fileUri": url} if guessed else {"fileUri": url}}
    raise RequestError("A URL must be http(s) or a base64 data URL.", param=at)


def _model_parts(message: dict, where: str, names: dict[str, str]) -> list[dict]:
    parts: list[dict] = []
    content = _text(message.get("content"), f"{where}.content")
    if not content and isinstance(message.get("refusal"), str):
        content = message["refusal"]
    if content:
        parts.append({"text": content})
    for k, call in enumerate(array(message.get("tool_calls"), f"{where}.tool_calls", optional=True)):
        at = f"{where}.tool_calls[{k}]"
        call = obj(call, at)
        if call.get("type", "function") != "function":
            raise RequestError(f"Tool call type {call.get('type')!r} cannot be sent to this upstream.",
                               param=f"{at}.type")  # fmt: skip
        function = obj(call.get("function"), f"{at}.function")
        name = text(function.get("name"), f"{at}.function.name")
        chat_id = text(call.get("id"), f"{at}.id")
        names[chat_id] = name
        gemini_id, signature = signatures.decode(chat_id)
        function_call: dict = {"name": name, "args": _arguments(function.get("arguments"), f"{at}.function.arguments")}
        if gemini_id is not None:
            function_call = {"id": gemini_id, **function_call}
        part: dict = {"functionCall": function_call}
        if signature is not None:
            part["thoughtSignature"] = signature
        parts.append(part)
    return parts


def _arguments(arguments: object, where: str) -> dict:
    if isinstance(arguments, str):
        try:
            arguments = orjson.loads(arguments) if arguments.strip() else {}
        except orjson.JSONDecodeError:
            raise RequestError("Tool call arguments must be a JSON object.", param=where) from None
    if arguments is None:
        return {}
    if not isinstance(arguments, dict):
        raise RequestError("Tool call arguments must be a JSON object.", param=where)
    return arguments


def _function_response(message: dict, where: str, names: dict[str, str]) -> dict:
    chat_id = text(message.get("tool_call_id"), f"{where}.tool_call_id")
    name = names.get(chat_id) or message.get("name")
    if not isinstance(name, str) or not name:
        raise RequestError("A tool result must answer a tool call of an earlier assistant message "
                           "(Gemini needs the function's name).", param=f"{where}.tool_call_id")  # fmt: skip
    gemini_id, _ = signatures.decode(chat_id)
    response: dict = {"name": name, "response": {"output": _text(message.get("content"), f"{where}.content")}}
    if gemini_id is not None:
        response = {"id": gemini_id, **response}
    return {"functionResponse": response}


# --- tools and options ---------------------------------------------------------------------------------


def _tools(tools: object) -> list[dict]:
    declarations: list[dict] = []
    others: list[dict] = []
    for i, tool in enumerate(array(tools, "tools")):
        tool = obj(tool, f"tools[{i}]")
        if tool.get("type") == "custom":  # a client's free-text tool: Gemini has no such kind
            raise RequestError("Tool type 'custom' cannot be sent to this upstream.", param=f"tools[{i}].type")
        if tool.get("type") != "function":
            # Another provider's built-in tool (Codex always declares `web_search`): passed on unchanged for
            # the pack to drop or map to Gemini's own (`googleSearch`); rules/gemini.yaml drops it.
            others.append(tool)
            continue
        function = obj(tool.get("function"), f"tools[{i}].function")
        declaration = {"name": text(function.get("name"), f"tools[{i}].function.name")}
        if function.get("description"):
            declaration["description"] = text(function["description"], f"tools[{i}].function.description")
        if function.get("parameters") is not None:
            declaration["parametersJsonSchema"] = obj(function["parameters"], f"tools[{i}].function.parameters")
        declarations.append(declaration)
    return ([{"functionDeclarations": declarations}] if declarations else []) + others


def _tool_config(body: dict, out: dict) -> None:
    choice = body.get("tool_choice")
    if choice is None:
        return
    if choice in ("auto", "none", "required"):
        config = {"mode": {"auto": "AUTO", "none": "NONE", "required": "ANY"}[choice]}
    elif isinstance(choice, dict) and choice.get("type") == "function":
        name = text(obj(choice.get("function"), "tool_choice.function").get("name"), "tool_choice.function.name")
        config = {"mode": "ANY", "allowedFunctionNames": [name]}
    else:
        raise RequestError("tool_choice must be 'auto', 'required', 'none' or a named function.", param="tool_choice")
    out["toolConfig"] = {"functionCallingConfig": config}


def _generation_config(body: dict) -> dict:
    config: dict = {}
    for chat, gemini in (("temperature", "temperature"), ("top_p", "topP"), ("presence_penalty", "presencePenalty"),
                         ("frequency_penalty", "frequencyPenalty"), ("seed", "seed")):  # fmt: skip
        if body.get(chat) is not None:
            config[gemini] = body[chat]
    max_tokens = body.get("max_completion_tokens")
    if max_tokens is None:
        max_tokens = body.get("max_tokens")
    if max_tokens is not None:
        config["maxOutputTokens"] = max_tokens
    stop = body.get("stop")
    if isinstance(stop, str):
        config["stopSequences"] = [stop]
    elif stop is not None:
        config["stopSequences"] = [text(s, f"stop[{i}]") for i, s in enumerate(array(stop, "stop"))]
    if body.get("logprobs") is True:
        config["responseLogprobs"] = True
        if body.get("top_logprobs") is not None:
            config["logprobs"] = body["top_logprobs"]
    fmt = body.get("response_format")
    if fmt is not None:
        fmt = obj(fmt, "response_format")
        if fmt.get("type") == "json_schema":
            schema = obj(obj(fmt.get("json_schema"), "response_format.json_schema").get("schema"),
                         "response_format.json_schema.schema")  # fmt: skip
            config["responseMimeType"] = "application/json"
            config["responseJsonSchema"] = schema
        elif fmt.get("type") == "json_object":
            config["responseMimeType"] = "application/json"
        elif fmt.get("type") != "text":
            raise RequestError(f"response_format {fmt.get('type')!r} has no Gemini equivalent.",
                               param="response_format.type")  # fmt: skip
    return config
