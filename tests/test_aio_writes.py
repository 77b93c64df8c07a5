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

from libbatchat import Nick
from libbatchat.adapters import aio
from tests.adapters_harness import ADAPTERS, Running, fast, start
from tests.writes_harness import fill, five_more, read_all

LOOPS = [a for a in ADAPTERS if getattr(a, "values", (a,))[0] != "threaded"]


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


def test_a_reader_that_falls_behind_gets_every_line_once_in_order(
    running: Running,
) -> None:
    slow, sender, sent = fill(running, lambda: _queued_for(running, "slow") > 0)
    read_all(slow, sent)
    # Drained: the next lines go out directly again, and arrive.
    assert _queued_for(running, "slow") == 0
    five_more(slow, sender, sent)


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
