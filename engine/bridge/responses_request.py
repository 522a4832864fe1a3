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
"""

from __future__ import annotations

from ..errors import RequestError

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
    _refuse_untranslatable(body)
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
        out["tools"] = [_tool(tool, i) for i, tool in enumerate(body["tools"] or [])]
    if "tool_choice" in body:
        out["tool_choice"] = _tool_choice(body["tool_choice"])
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is not None:
        out["max_output_tokens"] = max_tokens
    if body.get("reasoning_effort") is not None:
        out["reasoning"] = {**(body.get("reasoning") or {}), "effort": body["reasoning_effort"]}
    text = dict(body.get("text") or {})
    if body.get("response_format") is not None:
        text["format"] = _text_format(body["response_format"])
    if body.get("verbosity") is not None:
        text["verbosity"] = body["verbosity"]
    if text:
        out["text"] = text

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
    if "audio" in (body.get("modalities") or []):
        raise RequestError(REFUSED["audio"], param="modalities")


# -- messages


def _input(messages: list) -> tuple[str | None, list[dict]]:
    """Split messages into `instructions` (the leading system/developer run) and `input` items."""
    leading: list[str] = []
    items: list[dict] = []
    custom_calls: set[str] = set()  # call ids of custom tool calls, whose outputs have their own item type
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise RequestError(f"'messages[{i}]' must be an object.", param=f"messages[{i}]")
        role = message.get("role")
        if role in ("system", "developer"):
            text = _text(message.get("content"), f"messages[{i}].content")
            if not items:
                # Leading instructions become `instructions`, where Responses expects the system prompt.
                leading.append(text)
            else:
                # Later ones keep their place in the conversation, which is where the client put them.
                items.append(_message(role, [{"type": "input_text", "text": text}]))
        elif role == "user":
            items.append(_message("user", _user_content(message.get("content"), i)))
        elif role == "assistant":
            items.extend(_assistant(message, i, custom_calls))
        elif role == "tool":
            call_id = message.get("tool_call_id")
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
        return "".join(part.get("text") or "" for part in content if isinstance(part, dict))
    raise RequestError(f"'{param}' must be a string or an array of content parts.", param=param)


def _user_content(content, i: int) -> list[dict]:
    if isinstance(content, str):
        return [{"type": "input_text", "text": content}]
    if not isinstance(content, list):
        raise RequestError(f"'messages[{i}].content' must be a string or an array.", param=f"messages[{i}].content")
    parts = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            parts.append({"type": "input_text", "text": part.get("text") or ""})
        elif kind == "image_url":
            image = part.get("image_url")
            image = image if isinstance(image, dict) else {"url": image}
            # `detail` is optional in Chat but required in Responses; "auto" is Chat's documented default.
            parts.append(
                {"type": "input_image", "image_url": image.get("url"), "detail": image.get("detail") or "auto"}
            )
        elif kind == "file":
            file = part.get("file") or {}
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
        for part in content:
            if part.get("type") == "refusal":
                parts.append({"type": "refusal", "refusal": part.get("refusal") or ""})
            elif part.get("text"):
                parts.append({"type": "output_text", "text": part["text"]})
    if message.get("refusal"):
        parts.append({"type": "refusal", "refusal": message["refusal"]})
    items = [_message("assistant", parts)] if parts else []
    for j, call in enumerate(message.get("tool_calls") or []):
        if call.get("type") == "custom":
            custom = call.get("custom") or {}
            custom_calls.add(call.get("id"))
            items.append(
                {
                    "type": "custom_tool_call",
                    "call_id": call.get("id"),
                    "name": custom.get("name"),
                    "input": custom.get("input") or "",
                }
            )
        elif call.get("type", "function") == "function":
            function = call.get("function") or {}
            items.append(
                {
                    "type": "function_call",
                    "call_id": call.get("id"),
                    "name": function.get("name"),
                    "arguments": function.get("arguments") or "",
                }
            )
        else:
            param = f"messages[{i}].tool_calls[{j}].type"
            raise RequestError(f"Tool call type {call.get('type')!r} is not supported.", param=param)
    return items


# -- tools and formats


def _tool(tool: dict, i: int) -> dict:
    """Chat's nested tool definition -> Responses' flat one."""
    kind = tool.get("type")
    if kind == "function":
        function = tool.get("function") or {}
        flat = {"type": "function", "name": function.get("name")}
        if function.get("description") is not None:
            flat["description"] = function["description"]
        # Responses requires `parameters`; Chat lets a function without parameters omit it.
        flat["parameters"] = function.get("parameters") or {"type": "object", "properties": {}}
        # Responses makes function tools strict by default, Chat does not: an unset `strict` must stay false.
        flat["strict"] = bool(function.get("strict", False))
        return flat
    if kind == "custom":
        custom = tool.get("custom") or {}
        flat = {"type": "custom", "name": custom.get("name")}
        if custom.get("description") is not None:
            flat["description"] = custom["description"]
        if custom.get("format") is not None:
            flat["format"] = _custom_format(custom["format"])
        return flat
    # A tool type Chat does not define is a provider extension; it is the client's to get right.
    return tool


def _custom_format(fmt: dict) -> dict:
    # Chat nests the grammar (`format.grammar.{definition, syntax}`), Responses does not.
    if fmt.get("type") == "grammar" and isinstance(fmt.get("grammar"), dict):
        return {"type": "grammar", **fmt["grammar"]}
    return fmt


def _tool_choice(choice):
    if not isinstance(choice, dict):
        return choice  # "none" | "auto" | "required"
    kind = choice.get("type")
    if kind == "function" and isinstance(choice.get("function"), dict):
        return {"type": "function", "name": choice["function"].get("name")}
    if kind == "custom" and isinstance(choice.get("custom"), dict):
        return {"type": "custom", "name": choice["custom"].get("name")}
    if kind == "allowed_tools" and isinstance(choice.get("allowed_tools"), dict):
        allowed = choice["allowed_tools"]
        tools = [_tool_choice(tool) for tool in allowed.get("tools") or []]
        return {"type": "allowed_tools", "mode": allowed.get("mode", "auto"), "tools": tools}
    return choice


def _text_format(response_format: dict) -> dict:
    # Chat nests a JSON schema under `json_schema`; Responses puts its fields beside `type`.
    if response_format.get("type") == "json_schema" and isinstance(response_format.get("json_schema"), dict):
        return {"type": "json_schema", **response_format["json_schema"]}
    return response_format
