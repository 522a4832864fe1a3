"""Chat Completions clients (the openai SDK, LangChain, ...) in front of Responses-only upstreams.

`request` turns a Chat request into a Responses request; `stream` turns Responses events into
`chat.completion.chunk`s; `response` turns a Response into a `chat.completion`. docs/bridges.md
lists what maps to what and what is refused.
"""

from switchyard.bridges import Bridge
from switchyard.bridges.chat_over_responses.request import to_responses
from switchyard.bridges.chat_over_responses.stream import ChatStream, to_completion

BRIDGE = Bridge("chat", "responses", to_responses, ChatStream, to_completion)
