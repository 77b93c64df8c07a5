"""ServerCore.stats(): the read-only picture a monitor shows."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from libbatchat import Chat, Join, Nick
from libbatchat._stats import CoreStats, RoomStats, SessionStats
from libbatchat.adapters import aio
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


def test_aio_server_stops_and_starts_listening() -> None:
    async def main() -> None:
        async with asyncio.timeout(30):
            server = aio.Server("127.0.0.1", 0)
            await server.start()
            port = server.port
            async with aio.Client.connect("127.0.0.1", port) as ana:
                assert (await ana.request(Nick(nick="ana"))).ok
                stats = server.stats()
                assert stats.listening
                assert stats.address == f"127.0.0.1:{port}"
                (session,) = stats.core.sessions
                assert session.name == "ana"
                assert session.queued == 0
                server.stop_listening()
                server.stop_listening()  # twice: no harm
                assert not server.stats().listening
                try:
                    await aio.Client.connect("127.0.0.1", port)
                except ConnectionRefusedError:
                    pass
                else:
                    raise AssertionError("connected while not listening")
                # The session already open carries on.
                assert (await ana.request(Nick(nick="x"))).code == 701
                await server.start_listening()
                await server.start_listening()  # twice: no harm
                assert server.port == port
                async with aio.Client.connect("127.0.0.1", port) as bia:
                    assert (await bia.request(Nick(nick="bia"))).ok
            server.stop_listening()
            await server.close()
            assert not server.stats().listening
            await server.start_listening()  # closed for good: nothing happens
            assert not server.stats().listening

    asyncio.run(main())


def test_stop_listening_closes_the_dialect_listeners_too() -> None:
    async def refused(port: int) -> bool:
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except ConnectionRefusedError:
            return True
        writer.close()
        return False

    async def main() -> None:
        async with asyncio.timeout(30):
            server = aio.Server(
                "127.0.0.1", 0, listen=[aio.Listen("minichat", "127.0.0.1", 0)]
            )
            await server.start()
            ports = [spec.port for spec in server.listeners]
            server.stop_listening()
            assert [await refused(p) for p in ports] == [True, True]
            await server.start_listening()
            assert [spec.port for spec in server.listeners] == ports
            assert [await refused(p) for p in ports] == [False, False]
            await server.close()

    asyncio.run(main())
