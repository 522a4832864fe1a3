"""Responses clients (Codex CLI) in front of Chat Completions upstreams (Qwen, DeepSeek, Kimi, GLM, ...).

`request` turns a Responses request into the most faithful Chat request it can; `stream` turns Chat
chunks into the full Responses event sequence Codex and the openai SDK need; `response` turns a
`chat.completion` into a Response. docs/bridges.md lists what maps to what and what is refused.
"""

from switchyard.bridges import Bridge
from switchyard.bridges.responses_over_chat.request import to_chat
from switchyard.bridges.responses_over_chat.stream import ResponsesStream, to_response

BRIDGE = Bridge("responses", "chat", to_chat, ResponsesStream, to_response)
