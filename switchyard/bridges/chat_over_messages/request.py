"""Chat Completions request -> Anthropic Messages request: the request half of the Chat-over-Messages bridge.

`to_messages(body)` rewrites what a Chat client (the openai SDK, LangChain, or a Responses client
composed through Chat) sends into a Messages request. Unknown top-level fields pass through (a Chat
client reaches Anthropic's own fields, `top_k`, `thinking`, `metadata`, through `extra_body`); the
fields Chat has and Anthropic would reject are dropped by the rules in `DROPPED_FIELDS`, and what
cannot be expressed is refused with a 400 naming it. docs/claude-code.md lists every mapping.

Design choices:

- System and developer messages: Anthropic has one `system`, so every one of them goes there, in
  order, joined by a blank line (a later one is not lost, though it moves to the front).
- Anthropic alternates user and assistant turns, and a `tool_result` must be in the user turn right
  after its `tool_use`: consecutive tool messages become one user turn of `tool_result` blocks, and a
  user message after them joins that turn, after the results. Other consecutive same-role messages
  are merged too.
- Assistant `reasoning_content` is not sent back: Anthropic accepts thinking blocks only with its own
  signature, which a Chat client never had. For the same reason thinking is not turned on for a request
  that continues a tool loop (its last message is a tool result): Anthropic requires such a turn's
  assistant message to begin with a signed thinking block.
- `max_tokens` is required by Anthropic: `DEFAULT_MAX_TOKENS` when the client sent none, which every
  current Claude model accepts. With thinking on, the budget counts within it, so it is raised to
  budget + `DEFAULT_MAX_TOKENS` when it does not exceed the budget.
"""

from __future__ import annotations

import orjson

from switchyard.bridges.shape import array, obj, text
from switchyard.errors import RequestError

DEFAULT_MAX_TOKENS = 4096

# `reasoning_effort` -> `thinking.budget_tokens` (Anthropic's minimum budget is 1,024).
BUDGETS = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 16384, "xhigh": 32000, "max": 32000}

_CONSUMED = {
    "messages",
    "max_tokens",
    "max_completion_tokens",
    "stop",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "reasoning_effort",
    "response_format",
    "user",
    "stream",
    "stream_options",
    "n",
}
# Chat fields Anthropic has no equivalent for (and would reject as unknown), with why.
DROPPED_FIELDS = {
    "frequency_penalty": "no Anthropic equivalent",
    "presence_penalty": "no Anthropic equivalent",
    "seed": "no Anthropic equivalent",
    "logit_bias": "no Anthropic equivalent",
    "logprobs": "Anthropic returns no log probabilities",
    "top_logprobs": "Anthropic returns no log probabilities",
    "store": "OpenAI's stored completions",
    "metadata": "OpenAI's key-value tags for stored completions (Anthropic's metadata takes user_id only)",
    "modalities": "text is the only output",
    "prediction": "OpenAI's predicted outputs",
    "prompt_cache_key": "OpenAI's cache routing hint; Anthropic caches by cache_control markers",
    "prompt_cache_retention": "OpenAI's cache retention",
    "safety_identifier": "OpenAI's end-user id for abuse detection (user maps to metadata.user_id)",
    "service_tier": "OpenAI's tiers are not Anthropic's",
    "verbosity": "no Anthropic equivalent",
}
REFUSED_FIELDS = {
    "audio": "audio output",
    "functions": "the legacy functions API (use tools)",
    "function_call": "the legacy functions API (use tool_choice)",
    "web_search_options": "OpenAI's built-in web search",
}


def to_messages(body: dict) -> dict:
    """Translate a Chat Completions request body into an Anthropic Messages request body."""
    if not isinstance(body, dict):
        raise RequestError("The request body must be a JSON object.")
    for field, what in REFUSED_FIELDS.items():
        if body.get(field) is not None:
            raise RequestError(f"'{field}' cannot be sent to this upstream: {what} has no Anthropic equivalent.",
                               param=field)  # fmt: skip
    if body.get("n") not in (None, 1):
        raise RequestError("'n' must be 1: Anthropic answers with one message.", param="n")
    if isinstance(body.get("modalities"), list) and "audio" in body["modalities"]:
        raise RequestError("Audio output has no Anthropic equivalent.", param="modalities")
    obj(body.get("stream_options"), "stream_options", optional=True)  # Anthropic streams always carry usage
    out = {k: v for k, v in body.items() if k not in _CONSUMED and k not in DROPPED_FIELDS}
    system, messages = _messages(body)
    out["messages"] = messages
    if system:
        out["system"] = system
    max_tokens = body.get("max_completion_tokens")
    if max_tokens is None:
        max_tokens = body.get("max_tokens")
    out["max_tokens"] = DEFAULT_MAX_TOKENS if max_tokens is None else max_tokens
    stop = body.get("stop")
    if isinstance(stop, str):
        out["stop_sequences"] = [stop]
    elif stop is not None:
        out["stop_sequences"] = [text(s, f"stop[{i}]") for i, s in enumerate(array(stop, "stop"))]
    if body.get("tools") is not None:
        out["tools"] = _tools(body["tools"])
    _tool_choice(body, out)
    _thinking(body, out)
    _response_format(body, out)
    if body.get("user") is not None:
        out["metadata"] = {"user_id": text(body["user"], "user")}
    if body.get("stream") is not None:
        out["stream"] = body["stream"]
    return out


# --- messages ------------------------------------------------------------------------------------------


def _messages(body: dict) -> tuple[str, list[dict]]:
    system: list[str] = []
    turns: list[dict] = []
    for i, message in enumerate(array(body.get("messages"), "messages")):
        where = f"messages[{i}]"
        message = obj(message, where)
        role = message.get("role")
        if role in ("system", "developer"):
            content = _text_content(message.get("content"), f"{where}.content")
            if content:
                system.append(content)
        elif role == "user":
            _append(turns, "user", _user_blocks(message.get("content"), f"{where}.content"))
        elif role == "assistant":
            blocks = _assistant_blocks(message, where)
            if blocks:
                _append(turns, "assistant", blocks)
        elif role == "tool":
            call_id = text(message.get("tool_call_id"), f"{where}.tool_call_id")
            result = {"type": "tool_result", "tool_use_id": call_id,
                      "content": _text_content(message.get("content"), f"{where}.content")}  # fmt: skip
            _append(turns, "user", [result])
        else:
            raise RequestError(f"Unsupported message role {role!r}.", param=f"{where}.role")
    return "\n\n".join(system), turns


def _append(turns: list[dict], role: str, blocks: list[dict]) -> None:
    """Add blocks as a turn, merged into the previous turn of the same role (Anthropic alternates roles)."""
    if turns and turns[-1]["role"] == role:
        turns[-1]["content"] += blocks
    else:
        turns.append({"role": role, "content": blocks})


def _text_content(content: object, where: str) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    texts = []
    for j, part in enumerate(array(content, where)):
        part = obj(part, f"{where}[{j}]")
        if part.get("type") == "text":
            texts.append(text(part.get("text"), f"{where}[{j}].text", optional=True) or "")
        else:
            raise RequestError(f"Content part type {part.get('type')!r} cannot go here; text only.",
                               param=f"{where}[{j}].type")  # fmt: skip
    return "\n".join(texts)


def _user_blocks(content: object, where: str) -> list[dict]:
    if content is None or isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks = []
    for j, part in enumerate(array(content, where)):
        at = f"{where}[{j}]"
        part = obj(part, at)
        kind = part.get("type")
        if kind == "text":
            value = text(part.get("text"), f"{at}.text", optional=True)
            if value:
                blocks.append({"type": "text", "text": value})
        elif kind == "image_url":
            image = part.get("image_url")
            url = image if isinstance(image, str) else obj(image, f"{at}.image_url").get("url")
            blocks.append({"type": "image", "source": _source(text(url, f"{at}.image_url.url"), at)})
        elif kind == "file":
            file = obj(part.get("file"), f"{at}.file")
            if not isinstance(file.get("file_data"), str):
                raise RequestError(
                    "Files must be sent as file_data; file ids need OpenAI's server.", param=f"{at}.file"
                )
            document = {"type": "document", "source": _source(file["file_data"], at)}
            if isinstance(file.get("filename"), str):
                document["title"] = file["filename"]
            blocks.append(document)
        else:
            raise RequestError(f"Content part type {kind!r} cannot be sent to this upstream.", param=f"{at}.type")
    return blocks


def _source(url: str, at: str) -> dict:
    """A data URL -> a base64 source; an http(s) URL -> a url source."""
    if url.startswith("data:"):
        header, comma, data = url[5:].partition(",")
        media, _, encoding = header.partition(";")
        if not comma or encoding != "base64" or not media:
            raise RequestError("A data URL must be base64 with a media type.", param=at)
        return {"type": "base64", "media_type": media, "data": data}
    if url.startswith(("http://", "https://")):
        return {"type": "url", "url": url}
    raise RequestError("A URL must be http(s) or a base64 data URL.", param=at)


def _assistant_blocks(message: dict, where: str) -> list[dict]:
    blocks = []
    content = message.get("content")
    if isinstance(content, list):
        texts = []
        for j, part in enumerate(content):
            part = obj(part, f"{where}.content[{j}]")
            if part.get("type") == "text":
                texts.append(text(part.get("text"), f"{where}.content[{j}].text", optional=True) or "")
            elif part.get("type") == "refusal":
                texts.append(text(part.get("refusal"), f"{where}.content[{j}].refusal", optional=True) or "")
            else:
                raise RequestError(f"Assistant content part type {part.get('type')!r} cannot be sent to this upstream.",
                                   param=f"{where}.content[{j}].type")  # fmt: skip
        content = "".join(texts)
    else:
        content = text(content, f"{where}.content", optional=True)
    if content:
        blocks.append({"type": "text", "text": content})
    elif isinstance(message.get("refusal"), str) and message["refusal"]:
        blocks.append({"type": "text", "text": message["refusal"]})
    for k, call in enumerate(array(message.get("tool_calls"), f"{where}.tool_calls", optional=True)):
        at = f"{where}.tool_calls[{k}]"
        call = obj(call, at)
        if call.get("type", "function") != "function":
            raise RequestError(
                f"Tool call type {call.get('type')!r} cannot be sent to this upstream.", param=f"{at}.type"
            )
        function = obj(call.get("function"), f"{at}.function")
        arguments = function.get("arguments")
        if isinstance(arguments, str):
            try:
                arguments = orjson.loads(arguments) if arguments.strip() else {}
            except orjson.JSONDecodeError:
                raise RequestError(
                    "Tool call arguments must be a JSON object.", param=f"{at}.function.arguments"
                ) from None
        if not isinstance(arguments, dict):
            raise RequestError("Tool call arguments must be a JSON object.", param=f"{at}.function.arguments")
        blocks.append({
            "type": "tool_use",
            "id": text(call.get("id"), f"{at}.id"),
            "name": text(function.get("name"), f"{at}.function.name"),
            "input": arguments,
        })  # fmt: skip
    return blocks


# --- tools and options ---------------------------------------------------------------------------------


def _tools(tools: object) -> list[dict]:
    out = []
    for i, tool in enumerate(array(tools, "tools")):
        tool = obj(tool, f"tools[{i}]")
        if tool.get("type") == "custom":  # a client's free-text tool: Anthropic has no such kind
            raise RequestError("Tool type 'custom' cannot be sent to this upstream.", param=f"tools[{i}].type")
        if tool.get("type") != "function":
            # A built-in tool of another provider (`web_search`, which Codex always declares): passed on
            # unchanged for the pack to drop or map to Anthropic's own (rules/anthropic.yaml drops it).
            out.append(tool)
            continue
        function = obj(tool.get("function"), f"tools[{i}].function")
        converted = {"name": text(function.get("name"), f"tools[{i}].function.name")}
        if function.get("description"):
            converted["description"] = text(function["description"], f"tools[{i}].function.description")
        parameters = function.get("parameters")
        converted["input_schema"] = (
            obj(parameters, f"tools[{i}].function.parameters") if parameters is not None
            else {"type": "object", "properties": {}}
        )  # fmt: skip
        if function.get("strict") is True:
            converted["strict"] = True
        out.append(converted)
    return out


def _tool_choice(body: dict, out: dict) -> None:
    choice = body.get("tool_choice")
    if choice is None:
        converted = None
    elif choice == "auto":
        converted = {"type": "auto"}
    elif choice == "required":
        converted = {"type": "any"}
    elif choice == "none":
        converted = {"type": "none"}
    elif isinstance(choice, dict) and choice.get("type") == "function":
        name = text(obj(choice.get("function"), "tool_choice.function").get("name"), "tool_choice.function.name")
        converted = {"type": "tool", "name": name}
    else:
        raise RequestError("tool_choice must be 'auto', 'required', 'none' or a named function.", param="tool_choice")
    if body.get("parallel_tool_calls") is False and (converted is None or converted["type"] != "none"):
        converted = converted or {"type": "auto"}
        converted["disable_parallel_tool_use"] = True
    if converted is not None:
        out["tool_choice"] = converted


def _thinking(body: dict, out: dict) -> None:
    effort = body.get("reasoning_effort")
    if effort is None or "thinking" in out:
        return  # a client's own `thinking` (extra_body) wins
    if effort == "none":
        out["thinking"] = {"type": "disabled"}
        return
    if not isinstance(effort, str) or effort not in BUDGETS:
        raise RequestError(f"Unsupported reasoning_effort {effort!r}.", param="reasoning_effort")
    messages = out["messages"]
    last = messages[-1]["content"] if messages else []
    if isinstance(last, list) and any(block.get("type") == "tool_result" for block in last):
        return  # a tool loop in progress: its assistant turn has no signed thinking to begin with
    budget = BUDGETS[effort]
    out["thinking"] = {"type": "enabled", "budget_tokens": budget}
    if isinstance(out["max_tokens"], int) and out["max_tokens"] <= budget:
        out["max_tokens"] = budget + DEFAULT_MAX_TOKENS


def _response_format(body: dict, out: dict) -> None:
    fmt = body.get("response_format")
    if fmt is None:
        return
    fmt = obj(fmt, "response_format")
    if fmt.get("type") == "text":
        return
    if fmt.get("type") == "json_schema":
        schema = obj(obj(fmt.get("json_schema"), "response_format.json_schema").get("schema"),
                     "response_format.json_schema.schema")  # fmt: skip
        out["output_config"] = {"format": {"type": "json_schema", "schema": schema}}
        return
    raise RequestError(f"response_format {fmt.get('type')!r} has no Anthropic equivalent (use json_schema).",
                       param="response_format.type")  # fmt: skip
