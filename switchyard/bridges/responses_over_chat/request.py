"""Responses request -> Chat Completions request: the request half of the Responses-over-Chat bridge.

`to_chat(body)` rewrites what a Responses client (Codex CLI, the openai SDK's `client.responses`) sends
into the body a Chat-Completions-only upstream understands. It is provider-neutral on purpose: it makes
the most faithful Chat request it can and passes through every field it does not know, because the
YAML packs that run next decide what a given provider accepts (they drop `store`, map `developer` to
`system`, strip built-in tools, ...). A field dropped here could never be recovered by a pack.

Design choices:

- History items become messages in order. Consecutive `function_call` items (and a directly preceding
  assistant text message) become ONE assistant message, because strict providers require every
  assistant `tool_calls` message to be answered by tool messages right after it.
- Namespaced and custom tools have no Chat equivalent, so they become plain function tools whose names
  are *flattened*: `namespace__name` (or the plain name) as it is when it is a valid Chat name
  (`^[a-zA-Z0-9_-]{1,64}$`); otherwise, whatever made it invalid (its length or a character such as
  `.` or `/`), its invalid characters become `_`, it is cut to 55 characters and an 8-character hash
  of the original is appended, so two names never collide. The flattening is a pure function of the
  client's own request, so the stream side rebuilds the reverse map with `tool_names(client_body)`
  instead of keeping state between the two halves.
- A custom (free-text) tool becomes a function with one string parameter `input`; its calls carry
  `{"input": "..."}` as arguments.
- Reasoning round-trip: Codex resends a reasoning item as `summary` + `content` (`reasoning_text`
  parts are serialised; see codex-rs `protocol/src/models.rs`, `ResponseItem::Reasoning`) +
  `encrypted_content`. The stream side writes the upstream's reasoning text into both `content` and
  `summary`; here `content` is read first and `summary` only when there is no content, so the text
  goes back once, as `reasoning_content` on the next assistant message. `encrypted_content` is
  OpenAI's opaque blob, meaningless to other providers, so it is ignored.
- Every client value the translation looks into is checked for its JSON type first (`shape`): a body
  of the wrong shape is a 400 naming the parameter, never an error inside the translation.
"""

from __future__ import annotations

import hashlib
import re

import orjson

from switchyard.bridges.shape import array, obj, text
from switchyard.errors import RequestError

# Chat providers validate function names against OpenAI's pattern; anything else is a 400 upstream.
_NAME_OK = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_NAME_BAD_CHARS = re.compile(r"[^a-zA-Z0-9_-]")

# Fields this module translates or consumes; everything else is passed through for packs to judge.
_CONSUMED = {"input", "instructions", "tools", "tool_choice", "text", "max_output_tokens", "reasoning"}

# Items Chat has no equivalent for: they are context only the Responses server itself could use.
_DROPPED_ITEMS = {"item_reference", "web_search_call", "compaction", "compaction_summary", "local_shell_call"}


def to_chat(body: dict) -> dict:
    """Translate a Responses request body into a Chat Completions request body."""
    if not isinstance(body, dict):
        raise RequestError("The request body must be a JSON object.")
    for stateful in ("previous_response_id", "conversation"):
        if body.get(stateful) is not None:
            raise RequestError(
                f"'{stateful}' is not supported: this server keeps no conversation state; send the full history "
                "in 'input'.",
                param=stateful,
            )

    out = {key: value for key, value in body.items() if key not in _CONSUMED}
    tool_names(body)  # refuses a tool list whose flattened names collide, before anything is sent
    out["messages"] = _messages(body)
    if body.get("tools") is not None:
        out["tools"] = _tools(body["tools"])
    if "tool_choice" in body:
        out["tool_choice"] = _tool_choice(body["tool_choice"])
    _text(obj(body.get("text"), "text", optional=True), out)
    if body.get("max_output_tokens") is not None:
        out["max_tokens"] = body["max_output_tokens"]
    reasoning = obj(body.get("reasoning"), "reasoning", optional=True)
    if reasoning.get("effort") is not None:
        out["reasoning_effort"] = reasoning["effort"]
    stream_options = obj(body.get("stream_options"), "stream_options", optional=True)
    if body.get("stream"):
        # Usage only arrives in streams that ask for it, and response.completed must report it.
        out["stream_options"] = {**stream_options, "include_usage": True}
    else:
        # Chat refuses stream_options on a non-streaming request.
        out.pop("stream_options", None)
    return out


def flat_name(namespace: str | None, name: str) -> str:
    """The Chat function name for a (namespace, name) pair: deterministic, and a valid Chat name."""
    raw = f"{namespace}__{name}" if namespace else name
    if _NAME_OK.match(raw):
        return raw
    # Sanitising or truncating could make two tools collide, so the digest of the original keeps them apart.
    digest = hashlib.sha256(raw.encode()).hexdigest()[:8]
    return f"{_NAME_BAD_CHARS.sub('_', raw)[:55]}_{digest}"


def tool_names(client_body: dict) -> dict[str, tuple[str | None, str, str]]:
    """`flat name -> (namespace or None, name, kind)` for the client's function and custom tools.

    `kind` is `"function"` or `"custom"`. The stream side uses it to turn a Chat tool call back into the
    `function_call` (with `namespace`) or `custom_tool_call` item the client declared.
    """
    names: dict[str, tuple[str | None, str, str]] = {}
    for namespace, tool, _ in _declared(client_body.get("tools")):
        if tool.get("type") not in ("function", "custom") or not isinstance(tool.get("name"), str):
            continue
        flat = flat_name(namespace, tool["name"])
        entry = (namespace, tool["name"], tool["type"])
        if names.setdefault(flat, entry) != entry:
            raise RequestError(f"Two tools map to the same upstream function name '{flat}'.", param="tools")
    return names


def _declared(tools) -> list[tuple[str | None, dict, str]]:
    """`(namespace or None, tool, param)` for every tool, the tools of namespaces in their place."""
    declared = []
    for i, tool in enumerate(array(tools, "tools", optional=True)):
        tool = obj(tool, f"tools[{i}]")
        if tool.get("type") == "namespace":
            namespace = text(tool.get("name"), f"tools[{i}].name")
            for j, inner in enumerate(array(tool.get("tools"), f"tools[{i}].tools", optional=True)):
                declared.append((namespace, obj(inner, f"tools[{i}].tools[{j}]"), f"tools[{i}].tools[{j}]"))
        else:
            declared.append((None, tool, f"tools[{i}]"))
    return declared


# --- messages ----------------------------------------------------------------------------------------


def _messages(body: dict) -> list[dict]:
    messages: list[dict] = []
    if text(body.get("instructions"), "instructions", optional=True):
        messages.append({"role": "system", "content": body["instructions"]})
    items = body.get("input")
    if items is None:
        items = []
    elif isinstance(items, str):
        items = [{"role": "user", "content": items}]
    elif not isinstance(items, list):
        raise RequestError("'input' must be a string or an array of input items.", param="input")

    # Reasoning precedes the output it led to; it waits here for the next assistant message.
    pending_reasoning: list[str] = []
    for i, item in enumerate(items):
        where = f"input[{i}]"
        item = obj(item, where)
        kind = text(item.get("type", "message"), f"{where}.type", optional=True)
        if kind == "message":
            message = _message(item, where)
            if message["role"] == "assistant" and pending_reasoning:
                message["reasoning_content"] = "\n\n".join(pending_reasoning)
                pending_reasoning = []
            messages.append(message)
        elif kind in ("function_call", "custom_tool_call"):
            assistant = _assistant_for_call(messages)
            assistant["tool_calls"].append(_tool_call(item, where))
            if pending_reasoning:
                previous = assistant.get("reasoning_content")
                assistant["reasoning_content"] = "\n\n".join(
                    [previous, *pending_reasoning] if previous else pending_reasoning
                )
                pending_reasoning = []
        elif kind in ("function_call_output", "custom_tool_call_output"):
            call_id = text(item.get("call_id"), f"{where}.call_id", optional=True)
            messages.append({"role": "tool", "tool_call_id": call_id, "content": _output_text(item, where)})
        elif kind == "reasoning":
            reasoning = _reasoning_text(item, where)
            if reasoning:
                pending_reasoning.append(reasoning)
        # Anything else (_DROPPED_ITEMS and types this bridge does not know) is context Chat cannot express.
    if not messages:
        raise RequestError("The request has no input to send.", param="input")
    return messages


def _message(item: dict, where: str) -> dict:
    role = item.get("role")
    if role not in ("user", "assistant", "system", "developer"):
        raise RequestError(f"Unsupported message role {role!r}.", param=f"{where}.role")
    content = item.get("content")
    if isinstance(content, str):
        return {"role": role, "content": content}
    if not isinstance(content, list):
        raise RequestError("Message content must be a string or an array of content parts.", param=f"{where}.content")
    parts = [_part(part, f"{where}.content[{j}]") for j, part in enumerate(content)]
    if all(part["type"] == "text" for part in parts):
        # Most Chat providers (and the chat templates of local servers) handle a plain string best.
        return {"role": role, "content": "\n".join(part["text"] for part in parts)}
    return {"role": role, "content": parts}


def _part(part: dict, where: str) -> dict:
    kind = obj(part, where).get("type")
    if kind in ("input_text", "output_text", "text"):
        return {"type": "text", "text": text(part.get("text"), f"{where}.text", optional=True) or ""}
    if kind == "refusal":
        return {"type": "text", "text": text(part.get("refusal"), f"{where}.refusal", optional=True) or ""}
    if kind == "input_image":
        if not text(part.get("image_url"), f"{where}.image_url", optional=True):
            raise RequestError("Images must be sent by URL or data URL; file ids need server state.", param=where)
        image = {"url": part["image_url"]}
        if part.get("detail"):
            image["detail"] = part["detail"]
        return {"type": "image_url", "image_url": image}
    if kind == "input_file":
        file = {key: part[key] for key in ("file_data", "file_id", "filename") if part.get(key) is not None}
        return {"type": "file", "file": file}
    # Silently dropping content (audio, say) would give the model a different question than the user asked.
    raise RequestError(f"Content part type {kind!r} cannot be sent to this upstream.", param=where)


def _assistant_for_call(messages: list[dict]) -> dict:
    """The assistant message a tool call belongs to: the previous one if it is the same turn, else a new one."""
    last = messages[-1] if messages else None
    if last is not None and last["role"] == "assistant" and isinstance(last.get("content"), str | None):
        last.setdefault("tool_calls", [])
        return last
    message = {"role": "assistant", "content": None, "tool_calls": []}
    messages.append(message)
    return message


def _tool_call(item: dict, where: str) -> dict:
    name = item.get("name")
    if not isinstance(name, str) or not name:
        raise RequestError("A tool call item needs a 'name'.", param=f"{where}.name")
    if item["type"] == "custom_tool_call":
        arguments = orjson.dumps({"input": item.get("input") or ""}).decode()
    else:
        arguments = item.get("arguments")
        if not isinstance(arguments, str):
            arguments = orjson.dumps(arguments if arguments is not None else {}).decode()
    namespace = text(item.get("namespace"), f"{where}.namespace", optional=True)
    return {
        "id": text(item.get("call_id"), f"{where}.call_id", optional=True),
        "type": "function",
        "function": {"name": flat_name(namespace, name), "arguments": arguments},
    }


def _output_text(item: dict, where: str) -> str:
    output = item.get("output")
    if isinstance(output, str):
        return output
    if isinstance(output, list):
        # Tool messages take text; images in tool output have no place in most Chat providers.
        return "\n".join(
            text(part.get("text"), f"{where}.output[{k}].text", optional=True) or ""
            for k, part in enumerate(output)
            if isinstance(part, dict) and "text" in part
        )
    return "" if output is None else orjson.dumps(output).decode()


def _reasoning_text(item: dict, where: str) -> str:
    for key, part_type in (("content", "reasoning_text"), ("summary", "summary_text")):
        parts = array(item.get(key), f"{where}.{key}", optional=True)
        texts = [
            text(part.get("text"), f"{where}.{key}[{k}].text", optional=True) or ""
            for k, part in enumerate(parts)
            if isinstance(part, dict) and part.get("type") in (part_type, "text")
        ]
        if any(texts):
            return "\n".join(texts)
    return ""


# --- tools, tool_choice, text ------------------------------------------------------------------------


def _tools(tools: list) -> list:
    out = []
    for namespace, tool, where in _declared(tools):
        if tool.get("type") in ("function", "custom"):
            out.append(_function_tool(namespace, tool, where))
        elif namespace is None:
            # Built-in tools (web_search, local_shell, ...): packs drop them or map them to provider features.
            out.append(tool)
        else:
            raise RequestError("A namespace holds function and custom tools only.", param=f"{where}.type")
    return out


def _function_tool(namespace: str | None, tool: dict, where: str) -> dict:
    if not isinstance(tool.get("name"), str) or not tool["name"]:
        raise RequestError("Every function and custom tool needs a 'name'.", param=f"{where}.name")
    function: dict = {"name": flat_name(namespace, tool["name"])}
    if tool.get("description"):
        function["description"] = tool["description"]
    if tool.get("type") == "custom":
        function["parameters"] = _custom_parameters(tool.get("format"))
    else:
        if tool.get("parameters") is not None:
            function["parameters"] = tool["parameters"]
        if tool.get("strict") is not None:
            function["strict"] = tool["strict"]
    return {"type": "function", "function": function}


def _custom_parameters(fmt: dict | None) -> dict:
    description = "The free-text input of the tool."
    if isinstance(fmt, dict) and fmt.get("type") == "grammar" and fmt.get("definition"):
        # The grammar is how the client tells the model what the text must look like; keep it visible.
        description += f" It must match this {fmt.get('syntax', '')} grammar:\n{fmt['definition']}"
    return {
        "type": "object",
        "properties": {"input": {"type": "string", "description": description}},
        "required": ["input"],
        "additionalProperties": False,
    }


def _tool_choice(choice: object, where: str = "tool_choice") -> object:
    if not isinstance(choice, dict):
        return choice
    kind = choice.get("type")
    if kind in ("function", "custom"):
        namespace = text(choice.get("namespace"), f"{where}.namespace", optional=True)
        name = text(choice.get("name"), f"{where}.name", optional=True)
        return {"type": "function", "function": {"name": flat_name(namespace, name or "")}}
    if kind == "allowed_tools":
        listed = array(choice.get("tools"), f"{where}.tools", optional=True)
        tools = [_tool_choice(obj(tool, f"{where}.tools[{i}]"), f"{where}.tools[{i}]") for i, tool in enumerate(listed)]
        return {"type": "allowed_tools", "allowed_tools": {"mode": choice.get("mode", "auto"), "tools": tools}}
    return choice  # built-in tool choices: for packs to map or drop


def _text(options: dict, out: dict) -> None:
    fmt = obj(options.get("format"), "text.format", optional=True)
    if fmt.get("type") == "json_schema":
        schema = {key: fmt[key] for key in ("name", "schema", "strict", "description") if key in fmt}
        out["response_format"] = {"type": "json_schema", "json_schema": schema}
    elif fmt:
        out["response_format"] = fmt
    if options.get("verbosity") is not None:
        out["verbosity"] = options["verbosity"]
