"""switchyard/ids.py: ids are unique, also across the processes forked from one (`serve --workers N`)."""

from __future__ import annotations

import os

from switchyard.ids import new_id


def ids_of_a_forked_child(count: int) -> list[str]:
    """The first `count` ids a process forked now makes (read back through a pipe)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: write its ids and leave at once, running nothing of the test's
        try:
            os.write(write, " ".join(new_id("req") for _ in range(count)).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        text = pipe.read().decode()
    os.waitpid(pid, 0)
    return text.split()


def test_ids_look_like_openai_ones_and_do_not_repeat() -> None:
    ids = [new_id("resp") for _ in range(1000)]
    assert len(set(ids)) == 1000
    assert all(i.startswith("resp_") and len(i) == 29 for i in ids)


def test_two_processes_forked_from_one_make_different_ids() -> None:
    first, second = ids_of_a_forked_child(5), ids_of_a_forked_child(5)
    assert len(first) == len(second) == 5
    assert not set(first) & set(second)
    assert not set(first) & {new_id("req") for _ in range(5)}  # nor the parent's own next ones
