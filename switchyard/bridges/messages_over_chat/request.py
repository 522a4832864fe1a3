"""Anthropic Messages request -> Chat Completions request: the request half of the Messages-over-Chat bridge.

`to_chat(body)` rewrites what Claude Code (or any anthropic SDK client) sends into the body a
Chat-Completions-only upstream understands. Like the Responses bridge it makes the most faithful Chat
request it can and passes through the top-level fields it does not know (`top_k`, ...), because the
pack that runs next decides what a provider accepts. docs/claude-code.md lists every mapping.

Nothing is lost without a word: each field and block type is translated, dropped by a rule listed in
`DROPPED_FIELDS`/`DROPPED_BLOCKS` (with its reason, also in the docs), or refused with a 400 naming it
(`param` is its path, `messages[2].content[0].type`).

Design choices:

- A user turn holding `tool_result` blocks becomes the `tool` messages first (in order: strict Chat
  providers need them right after the assistant's `tool_calls`), then one user message with the rest
  of its text and images. Images inside a tool result cannot go in a `tool` message (text only on
  most providers), so they follow in that user message, after a line saying whose they are.
- `is_error: true` has no Chat field: the tool message's text starts with `Error: `.
- An assistant turn becomes one message: its text blocks joined by a blank line, its `tool_use` blocks
  as `tool_calls` (input as a JSON string), its `thinking` text as `reasoning_content`, the field
  thinking-mode providers (DeepSeek, Kimi) require back after tool calls and every shipped pack handles.
- Thinking: `thinking`/`output_config.effort` become `reasoning_effort`, which every shipped pack
  already maps to its provider's thinking switch (`_effort`).
- Tool names: Chat allows `^[a-zA-Z0-9_-]{1,64}$`, Anthropic up to 128 characters (long MCP names).
  A name Chat cannot take is flattened as the Responses bridge does it (invalid characters to `_`, cut to
  55, an 8-character hash of the original), and `tool_names(client_body)` rebuilds the reverse map for
  the stream back, so a bridge keeps no state between the two halves.
"""

from __future__ import annotations

import hashlib
import re

import orjson

from switchyard.bridges.shape import array, obj, text
from switchyard.errors import RequestError

_NAME_OK = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_NAME_BAD_CHARS = re.compile(r"[^a-zA-Z0-9_-]")

# Top-level fields translated here; every other field passes through for the pack to judge.
_CONSUMED = {
    "messages",
    "system",
    "max_tokens",
    "stop_sequences",
    "tools",
    "tool_choice",
    "thinking",
    "output_config",
    "stream",
    "stream_options",
}

# Top-level fields dropped on purpose, with why (docs/claude-code.md says the same).
DROPPED_FIELDS = {
    "metadata": "Anthropic's abuse-tracking id; Claude Code fills user_id with device and session ids, which a "
    "Chat provider has no use for",
    "cache_control": "Anthropic's prompt-caching marker; Chat providers cache by prefix on their own",
    "context_management": "instructions to Anthropic's server to clear old thinking or tool results; the Chat "
    "upstream gets the history as the client sent it",
    "service_tier": "Anthropic's capacity tiers (auto, standard_only) mean nothing to a Chat provider",
    "speed": "Anthropic's fast mode; a Chat provider has no such switch",
    "diagnostics": "asks Anthropic for prompt-cache diagnostics in its answer",
    "anthropic_version": "the API version, for Anthropic's own endpoints (Bedrock, Vertex)",
}
# Top-level fields a Chat upstream cannot honour: refused, as dropping them would change what was asked.
REFUSED_FIELDS = {
    "container": "a code-execution container lives on Anthropic's server",
    "mcp_servers": "MCP servers are called by Anthropic's server",
    "inference_geo": "a Chat upstream cannot promise where inference runs",
}
# Content blocks dropped on purpose, with why.
DROPPED_BLOCKS = {
    "redacted_thinking": "encrypted reasoning only Anthropic can read",
}

# `thinking.budget_tokens` -> `reasoning_effort`: below 4,096 tokens low, below 16,384 medium, else high
# (Claude Code asks for 31,999).
_BUDGETS = ((4096, "low"), (16384, "medium"))


def to_chat(body: dict) -> dict:
    """Translate an Anthropic Messages request body into a Chat Completions request body."""
    if not isinstance(body, dict):
        raise RequestError("The request body must be a JSON object.")
    for field, why in REFUSED_FIELDS.items():
        if body.get(field) is not None:
            raise RequestError(f"'{field}' cannot be sent to this upstream: {why}.", param=field)
    names = tool_names(body)  # refuses two tools whose flattened names collide, before anything is sent
    out = {k: v for k, v in body.items() if k not in _CONSUMED and k not in DROPPED_FIELDS}
    out["messages"] = _system(body) + _messages(body, names)
    if body.get("max_tokens") is not None:
        out["max_tokens"] = body["max_tokens"]
    stops = body.get("stop_sequences")
    if stops is not None:
        stops = array(stops, "stop_sequences")
        for i, stop in enumerate(stops):
            text(stop, f"stop_sequences[{i}]")
        if stops:
            out["stop"] = list(stops)
    if body.get("tools") is not None:
        out["tools"] = _tools(body["tools"], names)
    if body.get("tool_choice") is not None:
        _tool_choice(obj(body["tool_choice"], "tool_choice"), names, out)
    _reasoning(body, out)
    if "stream" in body:
        out["stream"] = body["stream"]
    if body.get("stream") is True:
        # message_delta must carry usage, and Chat streams report it only when asked.
        out["stream_options"] = {"include_usage": True}
    return out


# --- names -------------------------------------------------------------------------------------------


def flat_name(name: str) -> str:
    """The Chat function name for an Anthropic tool name: itself when Chat accepts it, else a flattened form."""
    if _NAME_OK.match(name):
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{_NAME_BAD_CHARS.sub('_', name)[:55]}_{digest}"


def tool_names(client_body: dict) -> dict[str, str]:
    """`Chat function name -> the client's tool name`, for every tool the client declared (for the way back)."""
    names: dict[str, str] = {}
    tools = client_body.get("tools") if isinstance(client_body, dict) else None
    for i, tool in enumerate(array(tools, "tools", optional=True)):
        tool = obj(tool, f"tools[{i}]")
        name = tool.get("name")
        if not isinstance(name, str) or not name:
            continue
        flat = flat_name(name)
        if names.setdefault(flat, name) != name:
            raise RequestError(f"Two tools map to the same upstream function name '{flat}'.", param=f"tools[{i}]")
    return names


# --- system and messages -----------------------------------------------------------------------------


def _system(body: dict) -> list[dict]:
    system = body.get("system")
    if system is None or system == "":
        return []
    if isinstance(system, str):
        return [{"role": "system", "content": system}]
    texts = []
    for i, block in enumerate(array(system, "system")):
        block = obj(block, f"system[{i}]")
        if block.get("type") != "text":
            raise RequestError("System blocks must be text blocks.", param=f"system[{i}].type")
        texts.append(text(block.get("text"), f"system[{i}].text", optional=True) or "")
    # cache_control on system blocks is dropped: see DROPPED_FIELDS.
    joined = "\n\n".join(t for t in texts if t)
    return [{"role": "system", "content": joined}] if joined else []


def _messages(body: dict, names: dict[str, str]) -> list[dict]:
    messages = array(body.get("messages"), "messages")
    flat = {name: flat for flat, name in names.items()}
    out: list[dict] = []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        message = obj(message, where)
        role = message.get("role")
        content = message.get("content")
        if role == "system":
            # Claude Code sends a `system` message inside `messages` when the model is not a Claude
            # model (seen with 2.1.197 and `--model qwen3-coder-plus`; reported against providers'
            # own Anthropic endpoints as "messages[1].role: unknown variant system"). Chat has the
            # role: its text goes across as a system message where it stands; packs decide placement.
            out.append({"role": "system", "content": _system({"system": content})[0]["content"] if content else ""})
            continue
        if role not in ("user", "assistant"):
            raise RequestError(
                f"Message roles are 'user', 'assistant' and 'system', not {role!r}.", param=f"{where}.role"
            )
        if isinstance(content, str):
            out.append({"role": role, "content": content})
            continue
        blocks = [obj(block, f"{where}.content[{j}]") for j, block in enumerate(array(content, f"{where}.content"))]
        if role == "user":
            out += _user(blocks, where)
        else:
            out.append(_assistant(blocks, where, flat))
    return out


def _user(blocks: list[dict], where: str) -> list[dict]:
    tools: list[dict] = []
    parts: list[dict] = []
    for j, block in enumerate(blocks):
        at = f"{where}.content[{j}]"
        kind = text(block.get("type"), f"{at}.type")
        if kind == "tool_result":
            message, images = _tool_result(block, at)
            tools.append(message)
            if images:
                parts.append(
                    {"type": "text", "text": f"(images from the result of tool call {message['tool_call_id']})"}
                )
                parts += images
        elif kind in DROPPED_BLOCKS:
            continue
        else:
            parts.append(_user_part(block, at))
    out = tools
    if parts:
        out.append({"role": "user", "content": _content(parts)})
    elif not tools:
        out.append({"role": "user", "content": ""})
    return out


def _content(parts: list[dict]) -> str | list[dict]:
    """A plain string when every part is text (what most Chat providers and local templates handle best)."""
    if all(part["type"] == "text" for part in parts):
        return "\n\n".join(part["text"] for part in parts)
    return parts


def _user_part(block: dict, at: str) -> dict:
    kind = block.get("type")
    if kind == "text":
        return {"type": "text", "text": text(block.get("text"), f"{at}.text", optional=True) or ""}
    if kind == "image":
        return _image(block, at)
    if kind == "document":
        return _document(block, at)
    raise RequestError(f"Content block type {kind!r} cannot be sent to this upstream.", param=f"{at}.type")


def _image(block: dict, at: str) -> dict:
    source = obj(block.get("source"), f"{at}.source")
    if source.get("type") == "base64":
        media = text(source.get("media_type"), f"{at}.source.media_type")
        data = text(source.get("data"), f"{at}.source.data")
        return {"type": "image_url", "image_url": {"url": f"data:{media};base64,{data}"}}
    if source.get("type") == "url":
        return {"type": "image_url", "image_url": {"url": text(source.get("url"), f"{at}.source.url")}}
    raise RequestError(
        "Images must be sent as base64 data or by URL; file ids need Anthropic's server.", param=f"{at}.source.type"
    )


def _document(block: dict, at: str) -> dict:
    source = obj(block.get("source"), f"{at}.source")
    kind = source.get("type")
    if kind == "text":
        return {"type": "text", "text": text(source.get("data"), f"{at}.source.data", optional=True) or ""}
    if kind == "base64":
        media = text(source.get("media_type"), f"{at}.source.media_type")
        data = text(source.get("data"), f"{at}.source.data")
        file = {"file_data": f"data:{media};base64,{data}"}
        if isinstance(block.get("title"), str):
            file["filename"] = block["title"]
        return {"type": "file", "file": file}
    raise RequestError(
        f"A document from a {kind!r} source cannot be sent to this upstream (base64 and text only).",
        param=f"{at}.source.type",
    )


def _tool_result(block: dict, at: str) -> tuple[dict, list[dict]]:
    call_id = text(block.get("tool_use_id"), f"{at}.tool_use_id")
    content = block.get("content")
    images: list[dict] = []
    if content is None or isinstance(content, str):
        result = content or ""
    else:
        texts = []
        for k, part in enumerate(array(content, f"{at}.content")):
            part = obj(part, f"{at}.content[{k}]")
            if part.get("type") == "text":
                texts.append(text(part.get("text"), f"{at}.content[{k}].text", optional=True) or "")
            elif part.get("type") == "image":
                images.append(_image(part, f"{at}.content[{k}]"))
            elif part.get("type") == "document":
                doc = _document(part, f"{at}.content[{k}]")
                if doc["type"] == "text":
                    texts.append(doc["text"])
                else:
                    images.append(doc)
            else:
                raise RequestError(
                    f"Tool result content type {part.get('type')!r} cannot be sent to this upstream.",
                    param=f"{at}.content[{k}].type",
                )
        result = "\n\n".join(texts)
    if block.get("is_error") is True:
        result = f"Error: {result}" if result else "Error"
    return {"role": "tool", "tool_call_id": call_id, "content": result}, images


def _assistant(blocks: list[dict], where: str, flat: dict[str, str]) -> dict:
    texts: list[str] = []
    reasoning: list[str] = []
    calls: list[dict] = []
    for j, block in enumerate(blocks):
        at = f"{where}.content[{j}]"
        kind = text(block.get("type"), f"{at}.type")
        if kind == "text":
            texts.append(text(block.get("text"), f"{at}.text", optional=True) or "")
        elif kind == "thinking":
            reasoning.append(text(block.get("thinking"), f"{at}.thinking", optional=True) or "")
        elif kind == "tool_use":
            name = text(block.get("name"), f"{at}.name")
            tool_input = block.get("input")
            arguments = orjson.dumps(tool_input if tool_input is not None else {}).decode()
            call_id = text(block.get("id"), f"{at}.id")
            calls.append(
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": flat.get(name, flat_name(name)), "arguments": arguments},
                }
            )
        elif kind in DROPPED_BLOCKS:
            continue
        else:
            raise RequestError(f"Content block type {kind!r} cannot be sent to this upstream.", param=f"{at}.type")
    joined = "\n\n".join(t for t in texts if t)
    message: dict = {"role": "assistant", "content": joined or (None if calls else "")}
    if calls:
        message["tool_calls"] = calls
    if any(reasoning):
        message["reasoning_content"] = "\n\n".join(r for r in reasoning if r)
    return message


# --- tools, tool_choice, reasoning -------------------------------------------------------------------


def _tools(tools: object, names: dict[str, str]) -> list:
    flat = {name: flat for flat, name in names.items()}
    out = []
    for i, tool in enumerate(array(tools, "tools")):
        tool = obj(tool, f"tools[{i}]")
        kind = tool.get("type")
        if kind not in (None, "custom"):
            # Anthropic's server tools (web_search_20250305, ...): for packs to drop or map, as built-in
            # Responses tools are (every shipped Chat pack keeps function tools only).
            out.append(tool)
            continue
        name = text(tool.get("name"), f"tools[{i}].name")
        if not name:
            raise RequestError("Every tool needs a 'name'.", param=f"tools[{i}].name")
        function: dict = {"name": flat[name]}
        if tool.get("description"):
            function["description"] = text(tool["description"], f"tools[{i}].description")
        schema = tool.get("input_schema")
        function["parameters"] = obj(schema, f"tools[{i}].input_schema") if schema is not None else {"type": "object"}
        if tool.get("strict") is not None:
            function["strict"] = tool["strict"]
        out.append({"type": "function", "function": function})
    return out


def _tool_choice(choice: dict, names: dict[str, str], out: dict) -> None:
    kind = choice.get("type")
    if kind == "auto":
        out["tool_choice"] = "auto"
    elif kind == "any":
        out["tool_choice"] = "required"
    elif kind == "none":
        out["tool_choice"] = "none"
    elif kind == "tool":
        name = text(choice.get("name"), "tool_choice.name")
        flat = {n: f for f, n in names.items()}.get(name, flat_name(name))
        out["tool_choice"] = {"type": "function", "function": {"name": flat}}
    else:
        raise RequestError(f"Unsupported tool_choice type {kind!r}.", param="tool_choice.type")
    if choice.get("disable_parallel_tool_use") is True and kind != "none":
        out["parallel_tool_calls"] = False


def _reasoning(body: dict, out: dict) -> None:
    """`thinking` and `output_config` -> `reasoning_effort` and `response_format`.

    `output_config.effort` (Claude Code sends it with `thinking: {type: adaptive}` for non-Claude models)
    is the effort itself. Else `thinking.type` decides: `disabled` -> `none` (every shipped pack turns
    thinking off for it), `enabled` -> an effort from `budget_tokens` (`_BUDGETS`), `adaptive` -> nothing
    (the provider's default). No `thinking` at all sends nothing either: the provider's default.
    """
    thinking = obj(body.get("thinking"), "thinking", optional=True)
    config = obj(body.get("output_config"), "output_config", optional=True)
    effort = text(config.get("effort"), "output_config.effort", optional=True)
    kind = thinking.get("type")
    if kind == "disabled":
        effort = "none"
    elif effort is None and kind == "enabled":
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int) or isinstance(budget, bool):
            raise RequestError("'thinking.budget_tokens' must be an integer.", param="thinking.budget_tokens")
        effort = next((level for limit, level in _BUDGETS if budget < limit), "high")
    elif kind not in (None, "enabled", "adaptive"):
        raise RequestError(f"Unsupported thinking type {kind!r}.", param="thinking.type")
    if effort is not None:
        out["reasoning_effort"] = effort
    fmt = obj(config.get("format"), "output_config.format", optional=True)
    if fmt:
        if fmt.get("type") != "json_schema":
            raise RequestError(f"Unsupported output format {fmt.get('type')!r}.", param="output_config.format.type")
        schema = obj(fmt.get("schema"), "output_config.format.schema")
        out["response_format"] = {"type": "json_schema", "json_schema": {"name": "output", "schema": schema}}
    for key in config:
        if key not in ("effort", "format"):
            raise RequestError(f"'output_config.{key}' cannot be sent to this upstream.", param=f"output_config.{key}")
