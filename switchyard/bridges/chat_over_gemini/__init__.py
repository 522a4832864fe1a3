"""Chat Completions clients (the openai SDK, and Responses and Messages clients composed through Chat) in
front of Gemini API upstreams.

`request` turns a Chat request into a Gemini `GenerateContentRequest`; `stream` turns Gemini's chunks into
`chat.completion.chunk`s; `response` turns one `GenerateContentResponse` into a `chat.completion`. Thought
signatures travel in the tool call ids (`signatures.py`). docs/bridges.md lists what maps to what.
"""

from switchyard.bridges import Bridge
from switchyard.bridges.chat_over_gemini.request import to_gemini
from switchyard.bridges.chat_over_gemini.stream import ChatStream, to_completion

BRIDGE = Bridge("chat", "gemini", to_gemini, ChatStream, to_completion)
