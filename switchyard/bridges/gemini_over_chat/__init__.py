"""Gemini clients (Gemini CLI, the google-genai SDKs) in front of Chat Completions upstreams.

`request` turns a Gemini request (with the facts of its URL) into a Chat request; `stream` turns Chat
chunks into Gemini's stream chunks; `response` turns a `chat.completion` into one
`GenerateContentResponse`. Gemini clients reach Responses and Messages upstreams by composition through
Chat. docs/bridges.md lists what maps to what, what is dropped and why, and what is refused.
"""

from switchyard.bridges import Bridge
from switchyard.bridges.gemini_over_chat.request import to_chat
from switchyard.bridges.gemini_over_chat.stream import GeminiStream, to_response

BRIDGE = Bridge("gemini", "chat", to_chat, GeminiStream, to_response)
