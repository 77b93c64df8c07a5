"""ServerCore: flood control, read pausing, send queues, connections per
address."""

from __future__ import annotations

from dataclasses import replace

import pytest

from libbatchat import (
    Closing,
    Nick,
    Offline,
    Ping,
    Quit,
)
from tests.server_harness import FAST, Net

# -- flood control -------------------------------------------------------------


def test_flood_is_delayed_not_dropped() -> None:
    limits = replace(FAST, burst=3, rate=2.0)
    net = Net(limits)
    c = net.connect()
    c.take()
    c.send(*(Ping(token=str(i)) for i in range(8)))
    assert [r.text for r in c.replies()] == ["0", "1", "2"]
    start = net.clock.now
    assert net.core.next_deadline() == pytest.approx(start + 0.5)
    net.advance(0.4)
    assert c.take() == []
    net.advance(0.1)
    assert [r.text for r in c.replies()] == ["3"]
    # Two quiet seconds refill the bucket only up to its burst.
    net.advance(2.0)
    assert [r.text for r in c.replies()] == ["4", "5", "6"]
    net.advance(0.5)
    assert [r.text for r in c.replies()] == ["7"]
    assert not c.closed


def test_flood_of_one_client_does_not_slow_another() -> None:
    limits = replace(FAST, burst=2, rate=1.0)
    net = Net(limits)
    a, b = net.connect(), net.connect()
    a.take()
    b.take()
    a.send(*(Ping() for _ in range(10)))
    assert b.ask(Ping(token="b")).text == "b"


def test_reading_pauses_while_the_backlog_is_large() -> None:
    limits = replace(
        FAST, burst=1, rate=0.01, recv_queue=50, max_unterminated=50, max_line=32
    )
    net = Net(limits)
    c = net.connect()
    c.ask(Nick(nick="g"))
    c.take()
    c.send(*(Ping(token=f"t{i:02}") for i in range(10)))  # 9 bytes a line
    assert c.paused
    assert len(c.replies()) == 0
    # Paused 200 s: that silence is the server's doing, so no ping timeout.
    for _ in range(4):
        net.advance(50.0)
    assert c.paused
    assert not c.closed
    assert len(c.replies()) == 2
    net.advance(100.0)
    net.advance(100.0)
    assert c.paused
    net.advance(100.0)
    assert not c.paused  # five lines (45 bytes) left
    assert len(c.replies()) == 3
    net.advance(140.0)
    assert not c.closed
    net.advance(20.0)
    assert c.closed  # silent for real now
    assert isinstance(c.take()[-1], Closing)


# -- send queue ----------------------------------------------------------------


def test_send_queue_hard_limit() -> None:
    limits = replace(FAST, send_queue_hard=1000, send_queue_soft=100)
    net = Net(limits)
    a, b = net.user("ana"), net.user("bruno")
    net.apply(net.core.send_queue(b.session, 999))
    assert not b.closed
    net.apply(net.core.send_queue(b.session, 1000))
    assert b.closed
    assert isinstance(b.take()[-1], Closing)
    assert a.pushes() == [Offline(user="bruno")]
    # Reports about a closed session are ignored.
    assert net.core.send_queue(b.session, 10**9).sends == []


def test_send_queue_soft_limit_held() -> None:
    limits = replace(
        FAST, send_queue_hard=1000, send_queue_soft=100, send_queue_soft_seconds=10.0
    )
    net = Net(limits)
    b = net.user("bruno")
    net.apply(net.core.send_queue(b.session, 500))
    assert net.core.next_deadline() == net.clock.now + 10.0
    net.advance(5.0)
    net.apply(net.core.send_queue(b.session, 50))  # drained: timer resets
    net.apply(net.core.send_queue(b.session, 500))
    net.advance(9.0)
    assert not b.closed
    net.advance(1.0)
    closing = b.take()[-1]
    assert isinstance(closing, Closing)
    assert closing.reason == "send-queue"


def test_send_queue_soft_limit_checked_on_report() -> None:
    limits = replace(FAST, send_queue_soft=100, send_queue_soft_seconds=1.0)
    net = Net(limits)
    b = net.user("bruno")
    net.apply(net.core.send_queue(b.session, 500))
    net.clock.advance(2.0)
    net.apply(net.core.send_queue(b.session, 500))
    assert b.closed


# -- connections per address ---------------------------------------------------


def test_max_per_ip() -> None:
    limits = replace(FAST, max_per_ip=2)
    net = Net(limits)
    a = net.connect("10.1.1.1:1")
    net.connect("10.1.1.1:2")
    refused = net.connect("10.1.1.1:3")
    (closing,) = refused.take()
    assert isinstance(closing, Closing)
    assert closing.reason == "too-many-connections"
    assert refused.closed
    assert refused.session not in net.core.sessions
    assert not net.connect("10.1.1.2:1").closed
    assert all(not net.connect("127.0.0.1:9").closed for _ in range(4))
    a.send(Quit())
    assert not net.connect("10.1.1.1:4").closed
