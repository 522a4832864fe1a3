"""The `chat.completion.chunk`s a bridge writes for a Chat client: one envelope, the role first, usage last.

Every bridge that answers a Chat client from another protocol's stream (`chat_over_responses`,
`chat_over_messages`, `chat_over_gemini`) writes the same frame around what it translates: one id,
creation time and model for the whole stream, a first chunk carrying only the role, `usage: null` on
every chunk when the client asked for usage (as OpenAI does) and the usage in a last chunk of its own.
That frame is the Chat protocol's, so it lives here once; a bridge's stream class extends
`ChunkWriter` and writes only what its upstream's events mean.
"""

from __future__ import annotations

from collections.abc import Callable


def chat_id(ids: Callable[[str], str]) -> str:
    """A `chatcmpl-...` id: Chat ids use a dash where the id factory (like Responses ids) uses an underscore."""
    return "chatcmpl-" + ids("chatcmpl").split("_", 1)[-1]


class ChunkWriter:
    """The frame of a Chat stream written by a bridge (extended by each bridge's stream translator)."""

    def __init__(self, client_body: dict, ids: Callable[[str], str], created: int):
        self._id = chat_id(ids)
        self._created = created
        self._model = client_body.get("model")
        options = client_body.get("stream_options")
        asked = isinstance(options, dict) and bool(options.get("include_usage"))
        # A client that did not ask for a stream is served one body folded from these chunks (`force_stream`),
        # and a `chat.completion` always carries `usage` (protocols.md B.4): it needs the usage chunk too.
        self._include_usage = asked or client_body.get("stream") is not True
        self._started = False

    def _envelope(self) -> dict:
        return {"id": self._id, "object": "chat.completion.chunk", "created": self._created, "model": self._model}

    def _chunk(self, delta: dict, finish: str | None = None) -> dict:
        chunk = {
            **self._envelope(),
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if self._include_usage:
            chunk["usage"] = None  # as OpenAI does: every chunk but the last has `usage: null`
        return chunk

    def _start(self) -> list[dict]:
        """The role chunk, once, before anything else."""
        if self._started:
            return []
        self._started = True
        return [self._chunk({"role": "assistant", "content": ""})]

    def _closing(self, finish: str, usage: dict | None) -> list[dict]:
        """The last chunks: the finish reason, then the usage when the client asked for it (and there is some)."""
        chunks = self._start()
        chunks.append(self._chunk({}, finish))
        if self._include_usage and usage is not None:
            chunks.append({**self._envelope(), "choices": [], "usage": usage})
        return chunks
