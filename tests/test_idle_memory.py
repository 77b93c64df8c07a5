"""What an idle connection holds (issue 8: 10,000 of them at 3 KiB each).

Structure, not sizes: every per-connection object has slots and no
``__dict__``, and state an idle session never uses is absent or shared, made
when first needed and given back when done. The behaviour each lazy piece
stands for (flood control, login throttling, send-queue limits, rooms) is
tested where it lives; these tests check that the memory goes away.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from libbatchat import Join, Login, Nick, Part, Ping, Register
from libbatchat._buffer import LineBuffer
from libbatchat._connection import Connection
from libbatchat._fifo import Fifo
from libbatchat._limits import SendQueueGuard, SlidingWindow, TokenBucket
from libbatchat._session import NO_ROOMS, NO_VERBS, Session
from libbatchat.adapters import aio
from libbatchat.adapters._common import QueueMeter
from tests.server_harness import FAST, Net

PER_CONNECTION = (
    Session,
    Connection,
    LineBuffer,
    Fifo,
    TokenBucket,
    SlidingWindow,
    SendQueueGuard,
    QueueMeter,
    aio._ServerProtocol,
)


@pytest.mark.parametrize("cls", PER_CONNECTION, ids=lambda c: c.__name__)
def test_per_connection_objects_have_no_dict(cls: type) -> None:
    assert all("__dict__" not in vars(k) for k in cls.__mro__ if k is not object)
    assert "__slots__" in vars(cls)


def _idle(session: Session) -> None:
    """What a session that is logged in and has answered everything holds."""
    conn = session.connection
    assert isinstance(conn, Connection)
    assert conn._fifo is None
    assert conn._buffer._data is None
    assert session._backlog is None
    assert session._send_queue is None
    assert session._failed_logins is None
    assert not session._moved
    assert session._rooms is NO_ROOMS
    assert session.open_verbs is NO_VERBS


def test_an_idle_guest_holds_no_queue_buffer_or_window() -> None:
    net = Net()
    c = net.connect()
    assert c.ask(Nick(nick="ana")).code == 218
    assert c.ask(Ping(token="t")).code == 224
    _idle(c.session)
    # "ana" is its own folded key and skeleton: one string, not three.
    assert c.session._key is c.session.name
    assert c.session._skeleton is c.session.name


def test_a_name_unlike_its_key_keeps_its_own_key() -> None:
    net = Net()
    c = net.connect()
    assert c.ask(Nick(nick="Ana")).code == 218
    assert c.session._key == "ana"
    assert c.session._skeleton == "ana"
    assert c.session._skeleton is c.session._key


def test_rooms_are_given_back_when_the_last_is_left() -> None:
    net = Net()
    c = net.connect()
    assert c.ask(Nick(nick="ana")).code == 218
    assert c.ask(Join(room="#a")).code == 222
    assert c.ask(Join(room="#b")).code == 222
    own = c.session._rooms
    assert isinstance(own, dict) and list(own) == ["#a", "#b"]
    assert c.ask(Part(room="#a")).code == 223
    assert c.session._rooms is own
    assert c.ask(Part(room="#b")).code == 223
    _idle(c.session)
    assert c.ask(Join(room="#a")).code == 222  # and made again on demand
    assert list(c.session._rooms) == ["#a"]


def test_the_login_window_lives_only_while_it_holds_a_failure() -> None:
    net = Net()
    c = net.connect()
    assert c.ask(Register(user="ana", password="pw pw")).code == 213
    assert c.ask(Login(user="ana", password="wrong")).code == 704
    window = c.session._failed_logins
    assert window is not None and len(window) == 1
    assert c.ask(Login(user="ana", password="pw pw")).code == 214
    # The failure stays counted; the success was given back.
    assert c.session._failed_logins is window and len(window) == 1
    d = net.connect("10.0.0.2:1000")
    assert d.ask(Login(user="ana", password="pw pw")).code == 214  # takeover
    assert d.session._failed_logins is None


def test_the_send_queue_guard_lives_only_while_over_the_soft_limit() -> None:
    limits = replace(FAST, send_queue_hard=1000, send_queue_soft=100)
    net = Net(limits)
    c = net.connect()
    assert c.ask(Nick(nick="ana")).code == 218
    net.apply(net.core.send_queue(c.session, 99))
    assert c.session._send_queue is None
    net.apply(net.core.send_queue(c.session, 500))
    guard = c.session._send_queue
    assert guard is not None and guard.over_since == net.clock.now
    net.advance(1.0)
    net.apply(net.core.send_queue(c.session, 600))
    assert c.session._send_queue is guard  # still timing from the first
    net.apply(net.core.send_queue(c.session, 50))
    assert c.session._send_queue is None
    assert not c.closed


async def _adapter_idle() -> None:
    async with aio.Server(port=0, limits=FAST) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"APELIDO ana\nPING t\n")
        while not (await reader.readline()).startswith(b"PONG-224"):
            pass
        (proto,) = server.protocols.values()
        assert proto.meter is None
        assert proto._lost is None
        assert proto._abort is None
        assert proto.session is not None
        _idle(proto.session)
        writer.close()
        await proto.when_lost()
        assert proto.when_lost().done()  # asked after the loss: done at once
        await writer.wait_closed()


def test_an_idle_adapter_connection_holds_no_meter_or_future() -> None:
    asyncio.run(asyncio.wait_for(_adapter_idle(), 30))
