"""Anthropic Messages clients (Claude Code, the anthropic SDKs) in front of Chat Completions upstreams.

`request` turns a Messages request into a Chat request; `stream` turns Chat chunks into the full
Messages event sequence; `response` turns a `chat.completion` into a `message`. docs/claude-code.md
lists what maps to what, what is dropped and why, and what is refused.
"""

from switchyard.bridges import Bridge
from switchyard.bridges.messages_over_chat.request import to_chat
from switchyard.bridges.messages_over_chat.stream import MessagesStream, to_message

BRIDGE = Bridge("messages", "chat", to_chat, MessagesStream, to_message)
