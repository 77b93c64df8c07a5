"""The asyncio server's write path: a direct send() while the transport's
buffer is empty, the transport's own buffering once it is not.

On asyncio's selector loop a plain TCP connection's flush calls send() on the
socket itself; what that leaves goes to ``transport.write()``. These tests
make a reader fall behind, so the server's writes go from direct to partial
to buffered and back, and check that every line still arrives once and in
order; and that the shortcut is taken only where it is safe.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from libbatchat import Chat, Message, Nick
from libbatchat._events import Event
from libbatchat.adapters import aio
from tests.adapters_harness import ADAPTERS, Running, fast, start

LOOPS = [a for a in ADAPTERS if getattr(a, "values", (a,))[0] != "threaded"]
TEXT = "x" * 2000  # a line long enough to fill socket buffers in a few hundred


@pytest.fixture(params=LOOPS)
def running(request: pytest.FixtureRequest) -> Iterator[Running]:
    limits = fast(
        send_queue_hard=8 << 20, send_queue_soft=4 << 20, send_queue_soft_seconds=60
    )
    server = start(request.param, limits)
    yield server
    server.cleanup()


def _protocols(running: Running) -> list[Any]:
    server = running.server
    assert isinstance(server, aio.Server) and running.loop is not None

    async def take() -> list[Any]:
        return list(server.protocols.values())

    found: list[Any] = running.loop.run(take())
    return found


def _queued_for(running: Running, nick: str) -> int:
    server = running.server
    assert isinstance(server, aio.Server) and running.loop is not None

    async def take() -> int:
        stats = server.stats()
        return sum(s.queued for s in stats.core.sessions if s.name == nick)

    queued: int = running.loop.run(take())
    return queued


def _numbers(events: list[Event]) -> list[int]:
    """The numbers of the messages, each checked whole to its last byte."""
    numbers = []
    for event in events:
        if isinstance(event, Message):
            number, _, rest = event.text.partition(" ")
            assert rest in (TEXT, "short"), f"message {number} arrived damaged"
            numbers.append(int(number))
    return numbers


def test_a_reader_that_falls_behind_gets_every_line_once_in_order(
    running: Running,
) -> None:
    slow = running.raw(rcvbuf=4096)
    slow.send(Nick(nick="slow"))
    slow.wait_for(lambda e: getattr(e, "code", None) == 218)
    sender = running.connect()
    assert sender.request(Nick(nick="sender")).code == 218
    # Until the socket takes no more and the transport holds the rest.
    sent = 0
    while _queued_for(running, "slow") == 0:
        assert sent < 3000, "the server's socket buffer never filled"
        for _ in range(20):
            text = f"{sent} {TEXT}"
            assert sender.request(Chat(target="slow", text=text)).code == 215
            sent += 1
    # More while it is buffered: these must queue behind, not jump ahead.
    for _ in range(20):
        assert sender.request(Chat(target="slow", text=f"{sent} {TEXT}")).code == 215
        sent += 1
    got: list[int] = []
    while len(got) < sent:
        event = slow.next_event()
        assert event is not None, f"connection ended after {len(got)} of {sent}"
        got.extend(_numbers([event]))
    assert got == list(range(sent))
    # Drained: the next lines go out directly again, and arrive.
    assert _queued_for(running, "slow") == 0
    for n in range(sent, sent + 5):
        assert sender.request(Chat(target="slow", text=f"{n} short")).code == 215
    tail = [slow.next_event() for _ in range(5)]
    assert _numbers([e for e in tail if e is not None]) == list(range(sent, sent + 5))


def test_the_socket_is_given_only_on_asyncios_own_loop(running: Running) -> None:
    client = running.connect()
    assert client.request(Nick(nick="someone")).code == 218
    protocols = _protocols(running)
    assert protocols
    if running.adapter == "asyncio":
        assert all(p.sock is not None for p in protocols)
    else:
        # uvloop's transports are libuv streams: their writes stay theirs.
        assert all(p.sock is None for p in protocols)
