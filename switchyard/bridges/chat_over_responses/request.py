"""Chat Completions request -> Responses request (the request half of the Chat-over-Responses bridge).

`to_responses(body)` is a pure function from a Chat body to a Responses body (protocols.md A, B, E).
It is provider-neutral: it speaks the two OpenAI protocols as specified, and anything one upstream needs
beyond them (the ChatGPT backend's mandatory `instructions`, a model that rejects `temperature`) is the
business of rule packs, which run on the translated body.

Field policy, in one place (`PASSED`, `DROPPED`, `REFUSED` below):

- Fields both protocols share are passed through unchanged. The client's `metadata` is forwarded exactly
  as sent: the proxy never adds keys of its own, because Responses allows at most 16.
- Fields with a different shape are translated: messages, tools, tool_choice, max tokens,
  response_format, reasoning_effort, verbosity.
- Chat-only fields that only tune sampling or reporting (penalties, seed, logit_bias, logprobs, `stop`,
  `n: 1`, `stream_options`, ...) are dropped: Responses rejects them as unknown parameters, and the
  clients this bridge serves (Open WebUI, LangChain) send several of them by default. `stop` is the one
  lossy drop: there is no stop sequence in Responses.
- Fields whose loss would silently change what the client gets (`n > 1`, audio output, the legacy
  `functions` API, `web_search_options`) are refused with a 400 naming the parameter.
- Fields this module does not know are passed through, so a client can reach Responses-only features
  (`include`, `reasoning.summary`, `truncation`) through `extra_body`, and a pack can still drop them.

Two defaults differ between the protocols and are made explicit so the Chat meaning survives:
`store` (Chat: false, Responses: true) and function tools' `strict` (Chat: false, Responses: true).

Every client value the translation looks into (and `stream_options`, which the stream side reads) is
checked for its JSON type first (`shape`): a body of the wrong shape is a 400 naming the parameter,
never an error inside the translation.
"""

from __future__ import annotations

from switchyard.bridges.shape import array, obj, text
from switchyard.errors import RequestError

PASSED = (
    "model",
    "stream",
    "temperature",
    "top_p",
    "parallel_tool_calls",
    "store",
    "metadata",
    "user",
    "prompt_cache_key",
    "prompt_cache_retention",
    "safety_identifier",
    "service_tier",
)
DROPPED = frozenset(
    {
        "frequency_penalty",
        "presence_penalty",
        "seed",
        "logit_bias",
        "logprobs",
        "top_logprobs",
        "stop",
        "n",
        "stream_options",
        "modalities",
        "prediction",
    }
)
REFUSED = {
    "audio": "Audio output is not available through this endpoint's upstream.",
    "functions": "The legacy `functions` parameter is not supported here; use `tools`.",
    "function_call": "The legacy `function_call` parameter is not supported here; use `tool_choice`.",
    "web_search_options": "`web_search_options` is not supported here; declare a web search tool instead.",
}
# Consumed by the translation itself rather than copied.
_TRANSLATED = frozenset(
    {
        "messages",
        "tools",
        "tool_choice",
        "max_tokens",
        "max_completion_tokens",
        "response_format",
        "reasoning_effort",
        "verbosity",
    }
)


def to_responses(body: dict) -> dict:
    """Translate a Chat Completions request body into a Responses request body; raise `RequestError` if impossible."""
    if not isinstance(body, dict):
        raise RequestError("The request body must be a JSON object.")
    _refuse_untranslatable(body)
    obj(body.get("stream_options"), "stream_options", optional=True)  # dropped here, read by the stream side
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise RequestError("'messages' must be an array of messages.", param="messages")

    out: dict = {key: body[key] for key in PASSED if key in body}
    instructions, items = _input(messages)
    if instructions is not None:
        out["instructions"] = instructions
    out["input"] = items
    out.setdefault("store", False)

    if "tools" in body:
        out["tools"] = [
            _tool(obj(tool, f"tools[{i}]"), i) for i, tool in enumerate(array(body["tools"], "tools", optional=True))
        ]
    if "tool_choice" in body:
        out["tool_choice"] = _tool_choice(body["tool_choice"])
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is not None:
        out["max_output_tokens"] = max_tokens
    reasoning = obj(body.get("reasoning"), "reasoning", optional=True)
    if body.get("reasoning_effort") is not None:
        out["reasoning"] = {**reasoning, "effort": body["reasoning_effort"]}
    options = dict(obj(body.get("text"), "text", optional=True))
    if body.get("response_format") is not None:
        options["format"] = _text_format(obj(body["response_format"], "response_format"))
    if body.get("verbosity") is not None:
        options["verbosity"] = body["verbosity"]
    if options:
        out["text"] = options

    for key, value in body.items():
        if key not in out and key not in DROPPED and key not in _TRANSLATED and key not in REFUSED:
            out[key] = value
    return out


def _refuse_untranslatable(body: dict) -> None:
    n = body.get("n")
    if n is not None and n != 1:
        raise RequestError(f"This model's upstream produces one choice per request; 'n' must be 1, got {n}.", param="n")
    for key, message in REFUSED.items():
        if body.get(key) is not None:
            raise RequestError(message, param=key)
    if "audio" in array(body.get("modalities"), "modalities", optional=True):
        raise RequestError(REFUSED["audio"], param="modalities")


# -- messages


def _input(messages: list) -> tuple[str | None, list[dict]]:
    """Split messages into `instructions` (the leading system/developer run) and `input` items."""
    leading: list[str] = []
    items: list[dict] = []
    custom_calls: set[str] = set()  # call ids of custom tool calls, whose outputs have their own item type
    for i, message in enumerate(messages):
        message = obj(message, f"messages[{i}]")
        role = message.get("role")
        if role in ("system", "developer"):
            said = _text(message.get("content"), f"messages[{i}].content")
            if not items:
                # Leading instructions become `instructions`, where Responses expects the system prompt.
                leading.append(said)
            else:
                # Later ones keep their place in the conversation, which is where the client put them.
                items.append(_message(role, [{"type": "input_text", "text": said}]))
        elif role == "user":
            items.append(_message("user", _user_content(message.get("content"), i)))
        elif role == "assistant":
            items.extend(_assistant(message, i, custom_calls))
        elif role == "tool":
            call_id = text(message.get("tool_call_id"), f"messages[{i}].tool_call_id", optional=True)
            output = _text(message.get("content"), f"messages[{i}].content")
            kind = "custom_tool_call_output" if call_id in custom_calls else "function_call_output"
            items.append({"type": kind, "call_id": call_id, "output": output})
        else:
            raise RequestError(f"Unsupported role {role!r} in 'messages[{i}]'.", param=f"messages[{i}].role")
    return ("\n\n".join(leading) if leading else None), items


def _message(role: str, content: list[dict]) -> dict:
    return {"type": "message", "role": role, "content": content}


def _text(content, param: str) -> str:
    """The text of a system, developer or tool message: a string, or its text parts joined."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(_part_text(part, f"{param}[{j}]") for j, part in enumerate(content))
    raise RequestError(f"'{param}' must be a string or an array of content parts.", param=param)


def _part_text(part, param: str, key: str = "text") -> str:
    """The text of a content part ("" when it has none)."""
    return text(obj(part, param).get(key), f"{param}.{key}", optional=True) or ""


def _user_content(content, i: int) -> list[dict]:
    if isinstance(content, str):
        return [{"type": "input_text", "text": content}]
    if not isinstance(content, list):
        raise RequestError(f"'messages[{i}].content' must be a string or an array.", param=f"messages[{i}].content")
    parts = []
    for j, part in enumerate(content):
        where = f"messages[{i}].content[{j}]"
        kind = obj(part, where).get("type")
        if kind == "text":
            parts.append({"type": "input_text", "text": _part_text(part, where)})
        elif kind == "image_url":
            image = part.get("image_url")
            image = image if isinstance(image, dict) else {"url": image}
            url = text(image.get("url"), f"{where}.image_url.url", optional=True)
            # `detail` is optional in Chat but required in Responses; "auto" is Chat's documented default.
            parts.append({"type": "input_image", "image_url": url, "detail": image.get("detail") or "auto"})
        elif kind == "file":
            file = obj(part.get("file"), f"{where}.file", optional=True)
            parts.append(
                {"type": "input_file", **{k: file[k] for k in ("file_id", "file_data", "filename") if k in file}}
            )
        else:
            param = f"messages[{i}].content[{j}].type"
            raise RequestError(f"Content part type {kind!r} cannot be sent to this upstream.", param=param)
    return parts


def _assistant(message: dict, i: int, custom_calls: set[str]) -> list[dict]:
    """An assistant turn: its text as `output_text` (never `input_text`, which Responses rejects), then its calls."""
    parts = []
    content = message.get("content")
    if isinstance(content, str):
        if content:
            parts.append({"type": "output_text", "text": content})
    elif isinstance(content, list):
        for j, part in enumerate(content):
            where = f"messages[{i}].content[{j}]"
            kind = obj(part, where).get("type")
            if kind == "refusal":
                parts.append({"type": "refusal", "refusal": _part_text(part, where, "refusal")})
            elif kind == "text":
                if _part_text(part, where):
                    parts.append({"type": "output_text", "text": part["text"]})
            else:  # an assistant said text or refused; anything else would be lost, so it is refused
                raise RequestError(f"Assistant content part type {kind!r} is not supported.", param=f"{where}.type")
    refusal = text(message.get("refusal"), f"messages[{i}].refusal", optional=True)
    if refusal:
        parts.append({"type": "refusal", "refusal": refusal})
    items = [_message("assistant", parts)] if parts else []
    for j, call in enumerate(array(message.get("tool_calls"), f"messages[{i}].tool_calls", optional=True)):
        where = f"messages[{i}].tool_calls[{j}]"
        call = obj(call, where)
        call_id = text(call.get("id"), f"{where}.id", optional=True)
        kind = call.get("type", "function")
        if kind not in ("function", "custom"):
            raise RequestError(f"Tool call type {kind!r} is not supported.", param=f"{where}.type")
        fields = obj(call.get(kind), f"{where}.{kind}", optional=True)
        name = text(fields.get("name"), f"{where}.{kind}.name", optional=True)
        if kind == "custom":
            custom_calls.add(call_id)
            given = text(fields.get("input"), f"{where}.custom.input", optional=True)
            items.append({"type": "custom_tool_call", "call_id": call_id, "name": name, "input": given or ""})
        else:
            arguments = text(fields.get("arguments"), f"{where}.function.arguments", optional=True)
            items.append({"type": "function_call", "call_id": call_id, "name": name, "arguments": arguments or ""})
    return items


# -- tools and formats


def _tool(tool: dict, i: int) -> dict:
    """Chat's nested tool definition -> Responses' flat one."""
    kind = tool.get("type")
    if kind == "function":
        function = obj(tool.get("function"), f"tools[{i}].function", optional=True)
        flat = {"type": "function", "name": function.get("name")}
        if function.get("description") is not None:
            flat["description"] = function["description"]
        # Responses requires `parameters`; Chat lets a function without parameters omit it.
        flat["parameters"] = function.get("parameters") or {"type": "object", "properties": {}}
        # Responses makes function tools strict by default, Chat does not: an unset `strict` must stay false.
        flat["strict"] = bool(function.get("strict", False))
        return flat
    if kind == "custom":
        custom = obj(tool.get("custom"), f"tools[{i}].custom", optional=True)
        flat = {"type": "custom", "name": custom.get("name")}
        if custom.get("description") is not None:
            flat["description"] = custom["description"]
        if custom.get("format") is not None:
            flat["format"] = _custom_format(obj(custom["format"], f"tools[{i}].custom.format"))
        return flat
    # A tool type Chat does not define is a provider extension; it is the client's to get right.
    return tool


def _custom_format(fmt: dict) -> dict:
    # Chat nests the grammar (`format.grammar.{definition, syntax}`), Responses does not.
    if fmt.get("type") == "grammar" and isinstance(fmt.get("grammar"), dict):
        return {"type": "grammar", **fmt["grammar"]}
    return fmt


def _tool_choice(choice, where: str = "tool_choice"):
    if not isinstance(choice, dict):
        return choice  # "none" | "auto" | "required"
    kind = choice.get("type")
    if kind == "function" and isinstance(choice.get("function"), dict):
        return {"type": "function", "name": choice["function"].get("name")}
    if kind == "custom" and isinstance(choice.get("custom"), dict):
        return {"type": "custom", "name": choice["custom"].get("name")}
    if kind == "allowed_tools" and isinstance(choice.get("allowed_tools"), dict):
        allowed = choice["allowed_tools"]
        listed = array(allowed.get("tools"), f"{where}.allowed_tools.tools", optional=True)
        param = f"{where}.allowed_tools.tools"
        tools = [_tool_choice(obj(tool, f"{param}[{k}]"), f"{param}[{k}]") for k, tool in enumerate(listed)]
        return {"type": "allowed_tools", "mode": allowed.get("mode", "auto"), "tools": tools}
    return choice


def _text_format(response_format: dict) -> dict:
    # Chat nests a JSON schema under `json_schema`; Responses puts its fields beside `type`.
    if response_format.get("type") == "json_schema" and isinstance(response_format.get("json_schema"), dict):
        return {"type": "json_schema", **response_format["json_schema"]}
    return response_format
