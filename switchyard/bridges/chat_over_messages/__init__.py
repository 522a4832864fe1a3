"""Chat Completions clients (the openai SDK, and Responses clients composed through Chat) in front of
Anthropic Messages upstreams.

`request` turns a Chat request into a Messages request; `stream` turns Messages events into
`chat.completion.chunk`s; `response` turns a `message` into a `chat.completion`. docs/claude-code.md
lists what maps to what and what is refused.
"""

from switchyard.bridges import Bridge
from switchyard.bridges.chat_over_messages.request import to_messages
from switchyard.bridges.chat_over_messages.stream import ChatStream, to_completion

BRIDGE = Bridge("chat", "messages", to_messages, ChatStream, to_completion)
