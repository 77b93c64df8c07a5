"""ServerCore: login and ping timeouts, shutdown, deadlines and ticks, logs."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest

from libbatchat import (
    Closing,
    Join,
    Nick,
    Offline,
    Part,
    Ping,
    Pong,
    Quit,
    ServerPing,
)
from tests.server_harness import FAST, Clock, Net

# -- timeouts ------------------------------------------------------------------


def test_login_timeout() -> None:
    net = Net()
    c = net.connect()
    c.take()
    assert net.core.next_deadline() == net.clock.now + 30.0
    net.advance(29.9)
    assert not c.closed
    net.advance(0.1)
    (closing,) = c.take()
    assert isinstance(closing, Closing)
    assert closing.reason == "login-timeout"
    assert c.closed


def test_logged_in_sessions_have_no_login_timeout() -> None:
    net = Net()
    c = net.connect()
    c.ask(Nick(nick="g"))
    net.advance(31.0)
    assert not c.closed
    assert net.core.next_deadline() == pytest.approx(net.clock.now - 31.0 + 90.0)


def test_ping_then_ping_timeout() -> None:
    net = Net()
    a = net.user("ana")
    b = net.user("bruno")
    net.advance(89.0)
    assert a.take() == []
    net.advance(1.0)
    (ping,) = a.take()
    assert isinstance(ping, ServerPing)
    net.advance(30.0)
    assert a.take() == []  # one PING per silence
    a.send(Pong(token=ping.token))
    net.advance(60.0)
    assert not a.closed
    assert b.closed
    closing = b.take()[-1]
    assert isinstance(closing, Closing)
    assert closing.reason == "ping-timeout"
    assert a.pushes()[-1] == Offline(user="bruno")


def test_too_many_lines_before_login() -> None:
    limits = replace(FAST, lines_before_login=3)
    net = Net(limits)
    c = net.connect()
    c.take()
    c.send(Ping(), Pong(token="x"))
    c.send_raw(b"BOGUS\n")
    assert c.codes() == [224, 999]
    c.send(Ping())
    (closing,) = c.take()
    assert isinstance(closing, Closing)
    assert closing.reason == "too-many-lines"


def test_lines_after_login_do_not_count() -> None:
    limits = replace(FAST, lines_before_login=2)
    net = Net(limits)
    c = net.connect()
    c.send(Nick(nick="g"), *(Ping() for _ in range(5)))
    assert len(c.replies()) == 6
    assert not c.closed


# -- shutdown ------------------------------------------------------------------


def test_shutdown() -> None:
    net = Net()
    a, b = net.user("ana"), net.user("bruno")
    a.ask(Join(room="#r"))
    b.take()
    g = net.connect()
    g.take()
    net.apply(net.core.shutdown("bye all"))
    for c in (a, b, g):
        assert c.take() == [Closing(reason="shutdown", text="bye all")]
        assert c.closed
    assert list(net.core.sessions) == []
    assert net.core.next_deadline() is None
    assert net.core.disconnect(a.session).sends == []


# -- deadlines -----------------------------------------------------------------


def test_next_deadline_follows_the_earliest_session() -> None:
    net = Net()
    a = net.connect()
    net.clock.advance(10.0)
    b = net.connect()
    assert net.core.next_deadline() == 1030.0
    a.ask(Nick(nick="a"))
    # a no longer has a login deadline; b's is next.
    assert net.core.next_deadline() == 1040.0
    b.ask(Nick(nick="b"))
    # Both logged in: a's ping (last heard at 1010) is next.
    assert net.core.next_deadline() == 1100.0
    b.send(Quit())
    a.send(Quit())
    assert net.core.next_deadline() is None


def test_earliest_deadline_is_never_later_than_the_next() -> None:
    # Adapters re-arm their timer by this cheap peek; it may be early (a
    # stale entry), never late.
    net = Net()
    a = net.connect()
    assert net.core.earliest_deadline() == net.core.next_deadline() == 1030.0
    a.ask(Nick(nick="a"))
    earliest = net.core.earliest_deadline()
    assert earliest is not None and earliest <= 1030.0
    assert net.core.next_deadline() == 1090.0
    assert net.core.earliest_deadline() == 1090.0


def test_tick_skips_stale_entries() -> None:
    limits = replace(FAST, burst=1, rate=1.0)
    net = Net(limits)
    a = net.connect()
    b = net.connect()
    a.send(Ping(), Ping())
    b.send(Quit())
    net.advance(1.0)
    assert a.codes() == [224, 224]
    net.advance(100.0)
    assert a.closed


def test_logs(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="libbatchat.server"):
        net = Net()
        a = net.user("ana", password="hunter2 secret")
        a.ask(Join(room="#r"))
        a.ask(Part(room="#r"))
        a.send(Quit())
    text = caplog.text
    for word in ("ana logged in", "joined #r", "left #r", "ana logged out"):
        assert word in text
    assert "hunter2" not in text


def test_tick_terminates_when_float_sums_round() -> None:
    # last_rx + ping_interval rounds to exactly ``now`` while
    # now - last_rx < ping_interval: tick() once looped forever on this.
    limits = replace(FAST, ping_interval=5.0, ping_timeout=9.0)
    clock = Clock(3.850265853018727)
    net = Net(limits, clock=clock)
    c = net.connect()
    c.take()
    clock.now = 3.850265853018727 + 5.0
    assert clock.now - 3.850265853018727 < 5.0
    net.tick()
    assert [type(p).__name__ for p in c.pushes()] == ["ServerPing"]
    assert net.core.next_deadline() == 3.850265853018727 + 9.0
