"""The client layer against real in-process servers: state, login, actions."""

from __future__ import annotations

import asyncio

import pytest

from libbatchat import Chat, Joined, Left, Message, Offline, Online, Reply
from libbatchat.client import (
    Account,
    Address,
    BadLine,
    Client,
    Connected,
    ConnectError,
    ConnectFailed,
    Disconnected,
    Guest,
    LagChanged,
    LoggedIn,
    LoginError,
    NotConnected,
    RoomJoined,
    RoomLeft,
    Status,
    Stopped,
    Wire,
)
from tests.client_harness import (
    HOST,
    Recorder,
    Servers,
    async_test,
    client,
    closed_port,
    vclock,
    within,
)


async def barrier(c: Client) -> None:
    """Everything the server sent ``c`` before now has been handled."""
    await within(c.ping())


@async_test
async def test_guest_login_and_presence() -> None:
    async with Servers() as servers:
        address = await servers.start()
        ana = client(address, Guest("ana"))
        seen = Recorder(ana)
        await within(ana.start())
        assert ana.status is Status.LOGGED_IN
        assert ana.me == "ana" and ana.state.guest
        assert ana.state.online == ("ana",)
        assert [type(u) for u in seen.seen[:3]] == [
            type(seen.seen[0]),
            Connected,
            LoggedIn,
        ]
        logged = seen.of(LoggedIn)[0]
        assert (logged.name, logged.guest, logged.again) == ("ana", True, False)
        arrived = ana.expect(Online)
        async with client(address, Guest("Bruno")) as bruno:
            assert (await within(arrived)).user == "Bruno"
            assert ana.state.online == ("ana", "Bruno")
            assert ana.state.is_online("BRUNO")
            assert bruno.state.online == ("ana", "Bruno")
            gone = ana.expect(Offline)
        assert (await within(gone)).user == "Bruno"
        assert ana.state.online == ("ana",)
        await ana.close()
        assert ana.status is Status.STOPPED
        assert seen.of(Stopped)[-1].reason == "closed"


@async_test
async def test_rooms_members_and_messages() -> None:
    async with Servers() as servers:
        address = await servers.start()
        async with (
            client(address, Guest("ana")) as ana,
            client(address, Guest("bruno")) as bruno,
        ):
            joined = ana.expect(RoomJoined)
            reply = await within(ana.join("#Geral"))
            assert reply.ok and reply.text == "#Geral"
            event = await within(joined)
            assert (event.room, event.members, event.rejoined) == (
                "#Geral",
                ("ana",),
                False,
            )
            pushed = ana.expect(Joined)
            await within(bruno.join("#geral"))
            assert (await within(pushed)).user == "bruno"
            room = ana.state.room("#GERAL")
            assert room is not None and room.members == ("ana", "bruno")
            assert "BRUNO" in room
            assert bruno.state.room("#geral") is not None
            assert bruno.rooms_wanted == ("#Geral",)

            heard = ana.expect(Message)
            assert (await within(bruno.say("#geral", "bom dia"))).code == 215
            message = await within(heard)
            assert (message.sender, message.address, message.text) == (
                "bruno",
                "#Geral",
                "bom dia",
            )
            heard = bruno.expect(Message)
            assert (await within(ana.msg("bruno", "oi"))).ok
            assert (await within(heard)).address == "@"

            rooms = await within(ana.rooms())
            assert rooms.rooms == (("#Geral", 2),)
            assert (await within(ana.who("#geral"))).names == ("ana", "bruno")

            left = ana.expect(Left)
            parted = bruno.expect(RoomLeft)
            assert (await within(bruno.part("#geral"))).code == 223
            assert (await within(parted)).room == "#Geral"
            assert (await within(left)).user == "bruno"
            assert room.members == ("ana",)
            assert bruno.state.rooms == () and bruno.rooms_wanted == ()
            reply = await within(bruno.part("#geral"))
            assert reply.code == 706
            reply = await within(bruno.say("#geral", "still here?"))
            assert reply.code == 216


@async_test
async def test_accounts_register_login_and_refusals(tmp_path) -> None:
    async with Servers(tmp_path) as servers:
        address = await servers.start()
        ana = client(address, Account("ana", "s3cret pass", register=True))
        await within(ana.start())
        assert ana.me == "ana" and not ana.state.guest
        assert ana.identity == Account("ana", "s3cret pass")
        assert "s3cret" not in repr(ana.identity)

        again = client(address, Account("ana", "whatever", register=True))
        with pytest.raises(LoginError) as refused:
            await within(again.start())
        assert str(refused.value) == "an account named ana already exists"
        assert again.status is Status.CONNECTED
        with pytest.raises(LoginError) as refused:
            await within(again.login(Account("ana", "wrong")))
        assert str(refused.value) == "wrong user name or password"
        with pytest.raises(LoginError) as refused:
            await within(again.login(Guest("ana")))
        assert refused.value.reply.code in (703, 705)
        assert "ana" in str(refused.value)
        # Session takeover (protocol.md 5.2.1): the right password takes the
        # online account over.
        await within(again.login(Account("ana", "s3cret pass")))
        assert again.me == "ana"
        assert (await within(again.register("carla", "pw"))).code == 213
        await again.close()
        await ana.close()


@async_test
async def test_unreachable_servers_raise_one_sentence() -> None:
    dead = Address(HOST, closed_port())
    c = client([dead, Address("no-such-host.invalid", 1)])
    seen = Recorder(c)
    with pytest.raises(ConnectError) as failed:
        await within(c.start())
    text = str(failed.value)
    assert text.startswith(f"cannot reach {dead}: connection refused")
    assert "\n" not in text
    assert len(seen.of(ConnectFailed)) == 2
    assert c.status is Status.STOPPED
    with pytest.raises(NotConnected, match="stopped"):
        await c.say("*", "hello?")


@async_test
async def test_first_reachable_server_is_used() -> None:
    async with Servers() as servers:
        address = await servers.start()
        dead = Address(HOST, closed_port())
        async with client([dead, address], Guest("ana")) as ana:
            assert ana.server == address


@async_test
async def test_raw_lines_and_the_wire_view() -> None:
    async with Servers() as servers:
        address = await servers.start()
        async with client(address) as c, client(address, Guest("bruno")) as bruno:
            assert c.status is Status.CONNECTED and c.me is None
            c.wire = True
            seen = Recorder(c)
            assert (await within(c.send_line("NOVO ana pass word"))).code == 213
            reply = await within(c.send_line("login ana pass word"))
            assert reply is not None and reply.code == 214
            assert c.me == "ana" and c.identity == Account("ana", "pass word")
            joined = c.expect(RoomJoined)
            await within(c.send_line("JUNTAR #sala"))
            assert (await within(joined)).room == "#sala"
            assert c.rooms_wanted == ("#sala",)
            heard = bruno.expect(Message)
            assert (await within(c.send_line("CHAT bruno  two spaces"))).ok
            assert (await within(heard)).text == " two spaces"
            assert await within(c.send_line("PONG tok")) is None
            await barrier(c)
            with pytest.raises(BadLine, match="does not know that command"):
                await c.send_line("FOO bar")
            with pytest.raises(BadLine, match="usage: JUNTAR\\|JOIN <#room>"):
                await c.send_line("JUNTAR geral")
            with pytest.raises(BadLine, match="empty"):
                await c.send_line("   ")
            wires = seen.of(Wire)
            lines = [(w.direction, w.line) for w in wires]
            assert ("out", "NOVO ana ********") in lines
            assert ("out", "ENTRAR ana ********") in lines
            assert ("in", "PASS-214 ana") in lines
            assert ("out", "CHAT bruno  two spaces") in lines
            assert ("out", "PONG tok") in lines
            assert all("pass word" not in line for _, line in lines)
            assert all(w.event is not None for w in wires)
            c.wire = False
            count = len(seen.of(Wire))
            await barrier(c)
            assert len(seen.of(Wire)) == count


@async_test
async def test_say_splits_lines_and_long_text() -> None:
    async with Servers() as servers:
        address = await servers.start()
        async with client(address, Guest("ana")) as ana:
            got: list[str] = []
            ana.subscribe(lambda u: got.append(u.text) if isinstance(u, Message) else 0)
            assert ana.greeting is not None
            long = "word " * 2000
            reply = await within(ana.say("ana", "first\n\nsecond\r\n" + long))
            assert reply.code == 215
            await barrier(ana)
            assert got[:2] == ["first", "second"]
            assert len(got) > 3
            assert " ".join(got[2:]).split() == long.split()
            with pytest.raises(ValueError, match="no text"):
                await ana.say("ana", "\n \n")


@async_test
async def test_lag_is_measured_now_and_then() -> None:
    async with Servers() as servers:
        address = await servers.start()
        ana = client(address, Guest("ana"), lag_interval=30.0)
        first = ana.expect(LagChanged)
        await within(ana.start())
        assert (await within(first)).lag >= 0
        assert ana.lag is not None
        second = ana.expect(LagChanged)
        await vclock(ana).advance(30.0)
        assert (await within(second)).lag == ana.lag
        assert await within(ana.ping()) >= 0
        await ana.close()


@async_test
async def test_quit_says_goodbye_and_stops() -> None:
    async with Servers() as servers:
        address = await servers.start()
        ana = client(address, Guest("ana"))
        updates = ana.updates()
        await within(ana.start())
        reply = await within(ana.quit())
        assert reply is not None and reply.code == 217
        assert ana.status is Status.STOPPED
        assert await within(ana.wait_stopped()) == "quit"
        updates_seen = [u async for u in updates]
        kinds = [type(u).__name__ for u in updates_seen]
        gone = [u for u in updates_seen if isinstance(u, Disconnected)]
        assert [u.reconnecting for u in gone] == [False]
        assert kinds[-2:] == ["Disconnected", "Stopped"]
        assert "Reconnecting" not in kinds
        with pytest.raises(NotConnected):
            await ana.who()
        late = ana.updates()
        assert [u async for u in late] == []
        assert await within(ana.quit()) is None


@async_test
async def test_quit_typed_as_a_line_stops_too() -> None:
    async with Servers() as servers:
        address = await servers.start()
        async with client(address, Guest("ana")) as ana:
            reply = await within(ana.send_line("SAIR"))
            assert reply is not None and reply.code == 217
            assert ana.status is Status.STOPPED
            with pytest.raises(NotConnected, match="ended before"):
                await ana.request(__import__("libbatchat").Quit())


@async_test
async def test_initial_rooms_are_joined_after_login() -> None:
    async with Servers() as servers:
        address = await servers.start()
        c = client(address, Guest("ana"), rooms=["#a", "#b"])
        seen = Recorder(c)
        await within(c.start())
        assert [r.name for r in c.state.rooms] == ["#a", "#b"]
        assert [(e.room, e.rejoined) for e in seen.of(RoomJoined)] == [
            ("#a", False),
            ("#b", False),
        ]
        snap = c.snapshot()
        assert snap.me == "ana" and snap.rooms == (("#a", ("ana",)), ("#b", ("ana",)))
        await c.close()


@async_test
async def test_callbacks_that_raise_do_not_stop_others() -> None:
    async with Servers() as servers:
        address = await servers.start()
        c = client(address, Guest("ana"))
        got: list[object] = []

        def broken(update: object) -> None:
            raise RuntimeError("bug in a handler")

        c.subscribe(broken)
        unsubscribe = c.subscribe(got.append)
        await within(c.start())
        assert any(isinstance(u, LoggedIn) for u in got)
        unsubscribe()
        count = len(got)
        await within(c.who())
        await barrier(c)
        assert len(got) == count
        await c.close()


@async_test
async def test_pending_request_fails_cleanly_when_the_line_drops() -> None:
    async with Servers() as servers:
        address = await servers.start()
        c = client(address, Guest("ana"), reconnect=False)
        await within(c.start())
        assert c._conn is not None
        c._conn.abort()
        stopped = await within(c.wait_stopped())
        assert stopped == "closed"
        with pytest.raises(NotConnected):
            await c.say("*", "hello")


@async_test
async def test_chat_replies_pair_with_their_commands() -> None:
    async with Servers() as servers:
        address = await servers.start()
        async with client(address, Guest("ana")) as c:
            replies = await within(
                asyncio.gather(
                    *(c.request(Chat(target="ana", text=f"{i}")) for i in range(5))
                )
            )
            assert all(isinstance(r, Reply) and r.code == 215 for r in replies)
            texts = [r.command.text for r in replies if isinstance(r.command, Chat)]
            assert texts == [str(i) for i in range(5)]
