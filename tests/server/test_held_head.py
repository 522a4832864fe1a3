"""switchyard/server/held_head.py: a response's head waits for its body, and never longer than a turn of the loop."""

from __future__ import annotations

import asyncio

import pytest

from switchyard.server.held_head import HeldHead


class Transport:
    """What a response cycle may call on a transport, recording each call that reaches the socket."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.calls.append(("write", data))

    def writelines(self, lines) -> None:
        self.calls.append(("writelines", b"".join(lines)))

    def close(self) -> None:
        self.closing = True
        self.calls.append(("close",))

    def is_closing(self) -> bool:
        return self.closing


@pytest.fixture(name="held")
async def held_fixture():
    transport = Transport()
    return HeldHead(transport, asyncio.get_running_loop()), transport


async def test_a_whole_answer_leaves_in_one_call(held) -> None:
    head, transport = held
    head.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    assert transport.calls == []
    head.write(b"{}")
    assert transport.calls == [("writelines", b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")]
    await asyncio.sleep(0)  # the end of the turn has nothing left to send
    assert len(transport.calls) == 1


async def test_a_head_with_no_body_yet_leaves_at_the_end_of_the_turn_and_later_writes_pass(held) -> None:
    head, transport = held
    head.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
    await asyncio.sleep(0)
    assert transport.calls == [("write", b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")]
    head.write(b"5\r\nhello\r\n")
    head.write(b"0\r\n\r\n")
    assert [c[1] for c in transport.calls[1:]] == [b"5\r\nhello\r\n", b"0\r\n\r\n"]


async def test_closing_sends_the_held_head_first(held) -> None:
    head, transport = held
    head.write(b"HTTP/1.1 500 Internal Server Error\r\nconnection: close\r\n\r\n")
    head.close()
    assert transport.calls == [
        ("write", b"HTTP/1.1 500 Internal Server Error\r\nconnection: close\r\n\r\n"),
        ("close",),
    ]
    await asyncio.sleep(0)
    assert len(transport.calls) == 2 and head.is_closing()


async def test_a_head_held_for_a_connection_the_peer_closed_is_dropped(held) -> None:
    head, transport = held
    head.write(b"HTTP/1.1 200 OK\r\n\r\n")
    transport.closing = True
    await asyncio.sleep(0)
    assert transport.calls == []
