"""Event loops in the tests end clean: nothing of theirs is left open.

uvloop's transports and timers are libuv handles, and libuv is not
thread-safe: a handle still open when it is freed is closed by whichever
thread frees it, and a loop closed with handles open closes them itself. The
harness's ``LoopThread`` keeps each loop on one thread for its whole life,
``aio.Server.close()`` returns only once every connection has ended (the
harness's ``Running.close`` checks it after every server test), and uvloop's
"unclosed resource" warning fails any test that leaves a handle open
(pyproject's filterwarnings). These tests hold the first and the last up.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import warnings
from collections.abc import Iterator

import pytest

from tests.adapters_harness import ADAPTERS, HOST, LoopThread

LOOPS = [a for a in ADAPTERS if a != "threaded"]


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    with socket.create_server((HOST, 0)) as sock:
        yield sock


@pytest.mark.parametrize("adapter", LOOPS)
def test_a_loop_lives_and_dies_on_its_own_thread(adapter: str) -> None:
    seen: list[threading.Thread] = []

    async def where() -> None:
        seen.append(threading.current_thread())

    loop = LoopThread(adapter)
    loop.run(where())
    loop.stop()
    assert seen == [loop.thread]
    assert not loop.thread.is_alive() and loop.loop.is_closed()


@pytest.mark.parametrize("adapter", [a for a in LOOPS if a != "asyncio"])
def test_a_transport_left_open_is_reported(
    adapter: str, listener: socket.socket
) -> None:
    """The guard itself: a uvloop connection nobody closed is named when its
    loop ends (as the error the test config turns it into)."""
    loop = LoopThread(adapter)

    async def connect() -> None:
        await asyncio.get_running_loop().create_connection(
            asyncio.Protocol, *listener.getsockname()
        )

    loop.run(connect())
    peer, _ = listener.accept()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loop.stop()
    peer.close()
    unclosed = [str(w.message) for w in caught if w.category is ResourceWarning]
    assert any(t.startswith("unclosed resource <TCPTransport") for t in unclosed)
