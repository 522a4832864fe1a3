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
- Nothing is dropped without a word: every input item type is translated, dropped by a rule listed in
  `DROPPED_ITEMS` (with its reason, also in docs/bridges.md), or refused with a 400 naming it.
- Tools are declared in three places: `tools`, `additional_tools` input items (tools made available
  mid-conversation) and `tool_search_output` items (tools a client-run tool search loaded). Chat has
  one `tools` list, so all three are merged into it, in order, each name once; the reverse map the
  stream side uses reads the same three places. A client-executed `tool_search` tool becomes a Chat
  function `tool_search`, so the model can ask for tools and the client can run the search.
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

# Items dropped on purpose, with why: each is context only OpenAI's own server can use, or a record of
# something a Chat upstream never did. docs/bridges.md lists them too. Any other unknown type is a 400.
DROPPED_ITEMS = {
    "item_reference": "a reference to an item stored on OpenAI's server; this server stores nothing",
    "compaction": "OpenAI's encrypted summary of earlier turns; only OpenAI can read it",
    "compaction_summary": "OpenAI's encrypted summary of earlier turns; only OpenAI can read it",
    "compaction_trigger": "a marker asking OpenAI's server to compact; no content",
    "web_search_call": "a record of a search OpenAI's server ran; its results are in the following messages",
    "image_generation_call": "a record of an image OpenAI's server made; a Chat upstream cannot receive it back",
    "local_shell_call": "legacy Codex history of the retired local_shell tool; dropped with its output",
    "local_shell_call_output": "legacy Codex history of the retired local_shell tool; dropped with its call",
}
# The name a client-executed tool search is offered under, and called back by.
TOOL_SEARCH = "tool_search"


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
    tools = _tools(body)
    if tools or body.get("tools") is not None:
        out["tools"] = tools
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
    for namespace, tool, _ in _declared(client_body):
        if _is_client_tool_search(tool):
            entry, flat = (None, TOOL_SEARCH, TOOL_SEARCH), TOOL_SEARCH
        elif tool.get("type") in ("function", "custom") and isinstance(tool.get("name"), str):
            flat = flat_name(namespace, tool["name"])
            entry = (namespace, tool["name"], tool["type"])
        else:
            continue
        if names.setdefault(flat, entry) != entry:
            raise RequestError(f"Two tools map to the same upstream function name '{flat}'.", param="tools")
    return names


def _declared(body: dict) -> list[tuple[str | None, dict, str]]:
    """`(namespace or None, tool, param)` for every tool the client declared, wherever it declared it.

    `tools`, then the tools of `additional_tools` and `tool_search_output` input items in the order
    they come; the tools of a namespace in its place. An identical declaration met twice (a tool
    search may load a tool again) counts once.
    """
    lists = [(body.get("tools"), "tools")]
    items = body.get("input")
    if isinstance(items, list):
        for i, item in enumerate(items):
            if isinstance(item, dict) and item.get("type") in ("additional_tools", "tool_search_output"):
                lists.append((item.get("tools"), f"input[{i}].tools"))
    declared: list[tuple[str | None, dict, str]] = []
    # Declarations met so far, by (namespace, name): an identical one can only be among those of its own
    # name, so each is compared with a few dicts, not with every tool before it (Codex declares dozens).
    seen: dict[tuple, list[dict]] = {}
    for tools, param in lists:
        for i, tool in enumerate(array(tools, param, optional=True)):
            tool = obj(tool, f"{param}[{i}]")
            if tool.get("type") == "namespace":
                namespace = text(tool.get("name"), f"{param}[{i}].name")
                inner = array(tool.get("tools"), f"{param}[{i}].tools", optional=True)
                found = [
                    (namespace, obj(t, f"{param}[{i}].tools[{j}]"), f"{param}[{i}].tools[{j}]")
                    for j, t in enumerate(inner)
                ]
            else:
                found = [(None, tool, f"{param}[{i}]")]
            for entry in found:
                name = entry[1].get("name")
                same = seen.setdefault((entry[0], name if isinstance(name, str) else None), [])
                if entry[1] not in same:
                    same.append(entry[1])
                    declared.append(entry)
    return declared


def _is_client_tool_search(tool: dict) -> bool:
    return tool.get("type") == "tool_search" and tool.get("execution") == "client"


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
        elif kind == "tool_search_call":
            arguments = item.get("arguments")
            call = {
                "id": text(item.get("call_id"), f"{where}.call_id", optional=True),
                "type": "function",
                "function": {"name": TOOL_SEARCH, "arguments": orjson.dumps(arguments or {}).decode()},
            }
            _assistant_for_call(messages)["tool_calls"].append(call)
        elif kind == "tool_search_output":
            # Its tools joined `tools` (see `_declared`); the model is told which ones it now has.
            loaded = [name for _, tool, _ in _declared({"tools": item.get("tools")}) if (name := tool.get("name"))]
            content = "Loaded tools: " + ", ".join(loaded) if loaded else "No tools were found."
            messages.append({"role": "tool", "tool_call_id": item.get("call_id"), "content": content})
        elif kind == "additional_tools":
            pass  # its tools joined `tools` (see `_declared`): Chat declares tools once, for the whole request
        elif kind not in DROPPED_ITEMS:
            raise RequestError(f"Input item type {kind!r} cannot be sent to this upstream.", param=f"{where}.type")
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


def _tools(body: dict) -> list:
    out = []
    for namespace, tool, where in _declared(body):
        if tool.get("type") in ("function", "custom"):
            out.append(_function_tool(namespace, tool, where))
        elif _is_client_tool_search(tool):
            function = {"name": TOOL_SEARCH, "description": tool.get("description") or "Search for more tools."}
            function["parameters"] = tool.get("parameters") or {"type": "object", "properties": {}}
            out.append({"type": "function", "function": function})
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
