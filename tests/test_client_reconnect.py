"""Reconnecting, logging in again, rejoining; pacing; a dead peer. Virtual time."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from libbatchat import Limits, Message, Nick, Quit, Register
from libbatchat._limits import TokenBucket
from libbatchat.adapters import aio
from libbatchat.client import (
    Account,
    Address,
    Client,
    Connected,
    Connecting,
    Disconnected,
    Guest,
    LoggedIn,
    LoginFailed,
    NotConnected,
    Reconnecting,
    RoomJoined,
    Status,
    Stopped,
    Update,
    Wire,
)
from tests.client_harness import (
    HOST,
    Recorder,
    Servers,
    async_test,
    client,
    closed_port,
    started,
    vclock,
    within,
)


@async_test
async def test_server_restart_logs_in_again_and_rejoins(tmp_path) -> None:
    async with Servers(tmp_path) as servers:
        address = await servers.start()
        ana = client(address, Account("ana", "pw", register=True), rooms=["#geral"])
        bruno = client(address, Guest("bruno"), rooms=["#geral", "#b"])
        await within(ana.start())
        await within(bruno.start())
        seen = Recorder(ana)
        dropped = [c.expect(Reconnecting) for c in (ana, bruno)]
        closing = ana.expect(Disconnected)
        await servers.stop(address)
        gone = await within(closing)
        assert gone.reason == "the server is shutting down"
        assert gone.closing is not None and gone.closing.reason == "shutdown"
        assert gone.reconnecting
        waits = [await within(d) for d in dropped]
        assert all(0.5 <= w.delay <= 1.0 for w in waits)  # initial 1 s, jittered
        assert ana.status is Status.RECONNECTING
        assert ana.reconnect_in() == waits[0].delay
        with pytest.raises(NotConnected, match="reconnecting in 1 s"):
            await ana.say("#geral", "anyone?")
        assert ana.state.rooms == () and ana.rooms_wanted == ("#geral",)

        await servers.start(address.port)

        def rejoins(room: str) -> Callable[[Update], bool]:
            return lambda u: isinstance(u, RoomJoined) and u.room == room

        back = [ana.expect(rejoins("#geral")), bruno.expect(rejoins("#b"))]
        logged = ana.expect(LoggedIn)
        for c, w in zip((ana, bruno), waits, strict=True):
            await vclock(c).advance(w.delay)
        again = await within(logged)
        assert (again.name, again.again) == ("ana", True)
        rejoined = [await within(b) for b in back]
        assert all(isinstance(r, RoomJoined) and r.rejoined for r in rejoined)
        assert [r.name for r in bruno.state.rooms] == ["#b", "#geral"]
        geral = ana.state.room("#geral")
        assert geral is not None and "bruno" in geral
        assert ana.status is Status.LOGGED_IN and bruno.status is Status.LOGGED_IN
        assert ana.reconnect_in() is None

        heard = ana.expect(Message)
        assert (await within(bruno.say("#geral", "back!"))).code == 215
        assert (await within(heard)).text == "back!"
        kinds = [type(u).__name__ for u in seen.seen if not isinstance(u, Wire)]
        assert kinds.index("Disconnected") < kinds.index("Reconnecting")
        assert kinds.index("Reconnecting") < kinds.index("Connecting")
        assert kinds.index("Connected") < kinds.index("LoggedIn")
        await ana.close()
        await bruno.close()


@async_test
async def test_backoff_grows_while_the_server_is_down_and_cycles_servers() -> None:
    async with Servers() as servers:
        address = await servers.start()
        other = Address(HOST, closed_port())
        c = client([address, other], Guest("ana"))
        seen = Recorder(c)
        await within(c.start())
        first = c.expect(Reconnecting)
        await servers.stop(address)
        delays = []
        wait = await within(first)
        for _ in range(6):
            delays.append(wait.delay)
            nxt = c.expect(Reconnecting)
            await vclock(c).advance(wait.delay)
            wait = await within(nxt)
        # Doubling from 1 s, capped at 8 s, each scaled into [0.5, 1].
        for n, delay in enumerate(delays):
            cap = min(8.0, 2.0**n)
            assert cap / 2 <= delay <= cap
        tried = [e.server for e in seen.of(Connecting)]
        assert tried[1:] == [other, address, other, address, other, address]
        assert c.status is Status.RECONNECTING
        await c.close()
        assert c.status is Status.STOPPED
        assert c.reconnect_in() is None
        assert vclock(c).sleepers == 0


async def drop(c: Client) -> Reconnecting:
    """Cut ``c``'s connection (the server sees it go); its backoff wait."""
    waiting = c.expect(Reconnecting)
    assert c._conn is not None
    c._conn.abort()
    return await within(waiting)


async def take_nick(address: Address, nick: str) -> aio.Client:
    """Another session holding ``nick``, as a stale one would until noticed."""
    other = await within(aio.Client.connect(HOST, address.port))
    assert (await within(other.request(Nick(nick=nick)))).code == 218
    return other


async def comes_back_when_freed(c: Client, stale: aio.Client, wait: float) -> None:
    await within(stale.request(Quit()))
    logged = c.expect(LoggedIn)
    await vclock(c).advance(wait)
    assert (await within(logged)).again
    await stale.close()
    await c.close()


@async_test
async def test_a_final_refusal_stops_the_client() -> None:
    async with Servers() as servers:
        address = await servers.start()
        ana = await started(address, Guest("ana"))
        wait = await drop(ana)
        other = await within(aio.Client.connect(HOST, address.port))
        assert (await within(other.request(Register(user="ana", password="x")))).ok
        refused = ana.expect(LoginFailed)
        stopped = ana.expect(Stopped)
        await vclock(ana).advance(wait.delay)
        assert (await within(refused)).retry_in is None
        assert "refused" in (await within(stopped)).reason
        assert ana.status is Status.STOPPED
        await other.close()


@async_test
async def test_logging_in_again_retries_while_the_stale_nick_is_online() -> None:
    async with Servers() as servers:
        address = await servers.start()
        ana = await started(address, Guest("ana"))
        wait = await drop(ana)
        stale = await take_nick(address, "ana")
        refused = ana.expect(LoginFailed)
        await vclock(ana).advance(wait.delay)
        failed = await within(refused)
        assert failed.reply.code == 705 and failed.retry_in is not None
        assert ana.status is Status.CONNECTED
        # While it waits to retry, its new connection drops too.
        second = ana.expect(Reconnecting)
        assert ana._conn is not None
        ana._conn.abort()
        await vclock(ana).advance(failed.retry_in or 0)
        again = await within(second)
        await comes_back_when_freed(ana, stale, again.delay)


async def _silent_server() -> tuple[asyncio.Server, int, list[bytes]]:
    """Greets, then reads and never answers: a peer that went away."""
    heard: list[bytes] = []

    async def handle(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        writer.write(
            b"OLA-100 batchat/2 max-line=4096 burst=10 rate=5 ping=90 "
            b"ping-timeout=150 login-timeout=30\n"
        )
        while line := await reader.readline():
            heard.append(line)
        writer.close()

    server = await asyncio.start_server(handle, HOST, 0)
    return server, server.sockets[0].getsockname()[1], heard


@async_test
async def test_a_peer_that_stops_answering_is_dropped() -> None:
    server, port, heard = await _silent_server()
    async with server:
        c = client(Address(HOST, port), ping_timeout=20.0)
        await within(c.start())
        assert c.status is Status.CONNECTED
        dropped = c.expect(Disconnected)
        await vclock(c).advance(20.0)
        assert (await within(dropped)).reason == "the connection was lost"
        assert heard and heard[0].startswith(b"PING lag-")
        await c.close()


@async_test
async def test_a_50_line_paste_goes_out_at_the_advertised_rate() -> None:
    limits = Limits(burst=10, rate=100.0, scrypt_n=16, scrypt_r=8, scrypt_p=1)
    async with Servers(limits=limits) as servers:
        address = await servers.start()
        c = client(address, Guest("ana"))
        c.wire = True
        seen = Recorder(c)
        connected = c.expect(Connected)
        await within(c.start())
        start = c.clock.now()
        assert (await within(connected)).greeting.rate == 100.0
        paste = "\n".join(f"line {i}" for i in range(50))
        sending = asyncio.ensure_future(c.say("ana", paste))
        clock = vclock(c)
        for _ in range(200):
            # Real I/O runs until the pacing waits on the clock; then time
            # moves exactly to when its token is due.
            paced = asyncio.ensure_future(clock.sleeping(within=1.0))
            await within(asyncio.wait({sending, paced}, return_when="FIRST_COMPLETED"))
            if sending.done():
                paced.cancel()
                break
            await clock.advance(paced.result() - clock.now())
        assert sending.done()
        assert sending.result().code == 215
        out = [w for w in seen.of(Wire) if w.direction == "out"]
        replies = [
            w
            for w in seen.of(Wire)
            if w.direction == "in" and w.line.startswith("CHAT-")
        ]
        assert len(replies) == 50 and all(
            w.line.startswith("CHAT-215") for w in replies
        )
        # Every line sent would find a token in the server's own bucket.
        bucket = TokenBucket(10, 100.0, start)
        assert all(bucket.take(w.time) for w in out)
        chats = [w.time for w in out if w.line.startswith("CHAT ")]
        assert len(chats) == 50
        assert chats[-1] - chats[0] >= (50 - 10) / 100.0 - 0.05
        await c.close()


@async_test
async def test_close_during_the_backoff_wait_stops_at_once() -> None:
    async with Servers() as servers:
        address = await servers.start()
        c = client(address, Guest("ana"))
        await within(c.start())
        first = c.expect(Reconnecting)
        await servers.stop(address)
        await within(first)
        assert vclock(c).sleepers >= 1
        await within(c.close("bye"))
        assert await within(c.wait_stopped()) == "bye"
        assert vclock(c).sleepers == 0


@async_test
async def test_no_reconnect_when_told_not_to() -> None:
    async with Servers() as servers:
        address = await servers.start()
        c = client(address, Guest("ana"), reconnect=False)
        await within(c.start())
        stopped = c.expect(Stopped)
        await servers.stop(address)
        assert (await within(stopped)).reason == "closed"
