"""The streaming response of the proxy: Starlette's, told when its client has gone.

Starlette notices a client that hangs up (its `listen_for_disconnect` gets `http.disconnect`) and
cancels the task that streams. With a fast upstream that cancellation may never land: the streaming
task is always woken by upstream data before anyio's cancellation is delivered (anyio skips a task
whose awaited future is already done, and retries on the next loop turn, where the same happens),
and uvicorn's `send` to a gone client returns at once. The stream would then read the whole
upstream for nobody (found by tests/server/test_client_faults.py: 256 MiB read after the client
was gone). So the response also calls `gone()`, which the stream checks after every write.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.responses import StreamingResponse
from starlette.types import Receive


class ClientStream(StreamingResponse):
    def __init__(self, content, gone: Callable[[], None], **kwargs) -> None:
        super().__init__(content, **kwargs)
        self._gone = gone

    async def listen_for_disconnect(self, receive: Receive) -> None:
        await super().listen_for_disconnect(receive)
        self._gone()
