"""ServerCore.stats(): the read-only picture a monitor shows."""

from __future__ import annotations

from dataclasses import replace

from libbatchat import Chat, Join
from libbatchat._stats import CoreStats, RoomStats, SessionStats
from tests.server_harness import FAST, Net


def test_stats_of_an_empty_server() -> None:
    assert Net().core.stats() == CoreStats(
        sessions=(), rooms=(), connections=0, messages=0
    )


def test_stats_follow_sessions_rooms_and_messages() -> None:
    net = Net()
    a = net.user("ana")
    b = net.user("Bruno")
    anonymous = net.connect("10.0.0.9:99")
    a.ask(Join(room="#Zeta"))
    b.ask(Join(room="#zeta"))
    b.ask(Join(room="#alpha"))
    assert a.ask(Chat(target="#zeta", text="oi")).code == 215
    assert a.ask(Chat(target="nobody", text="oi")).code == 216
    stats = net.core.stats()
    assert stats.connections == 3
    assert stats.messages == 1
    assert stats.rooms == (
        RoomStats(name="#alpha", members=("Bruno",)),
        RoomStats(name="#Zeta", members=("ana", "Bruno")),
    )
    ids = [s.id for s in stats.sessions]
    assert ids == sorted(ids)
    assert stats.sessions[1] == SessionStats(
        id=b.session.id, peer=b.session.peer, name="Bruno", rooms=("#Zeta", "#alpha")
    )
    assert stats.sessions[2].name is None
    assert stats.sessions[2].peer == "10.0.0.9:99"
    anonymous.send_raw(b"SAIR\n")
    assert len(net.core.stats().sessions) == 2
    assert net.core.stats().connections == 3


def test_refused_connections_are_not_counted() -> None:
    net = Net(replace(FAST, max_per_ip=1, exempt_loopback=False))
    net.connect("10.0.0.1:1")
    net.connect("10.0.0.1:2")  # refused: too many from one address
    assert net.core.stats().connections == 1
