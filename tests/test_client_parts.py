"""The client layer's pieces on their own: settings, clock, state, words, threads."""

from __future__ import annotations

import asyncio
import random
import socket
from datetime import UTC, datetime

import pytest

from libbatchat import (
    Chat,
    Join,
    Joined,
    Left,
    Login,
    Message,
    Nick,
    Offline,
    Online,
    Part,
    Ping,
    Register,
    Reply,
    Who,
)
from libbatchat.client import (
    Account,
    Address,
    Backoff,
    ChatState,
    Guest,
    LoggedIn,
    LoopThread,
    Status,
    VirtualClock,
    describe_closing,
    explain,
    parse_address,
    split_message,
    wire_line,
)
from libbatchat.client._errors import describe_error
from tests.client_harness import Servers, async_test, client, within

# -- addresses and identities ---------------------------------------------------


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [
        ("localhost", "localhost", 50000),
        ("127.0.0.1:6000", "127.0.0.1", 6000),
        (" example.org:1 ", "example.org", 1),
        ("[::1]", "::1", 50000),
        ("[::1]:7000", "::1", 7000),
        ("::1", "::1", 50000),  # a bare IPv6 address: no port can be meant
    ],
)
def test_addresses_parse(text: str, host: str, port: int) -> None:
    assert parse_address(text) == Address(host, port)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "no host"),
        (":5000", "no host"),
        ("host:", "port must be a number"),
        ("host:x", "port must be a number"),
        ("host:0", "port must be a number"),
        ("host:65536", "port must be a number"),
        ("[::1", "missing ']'"),
        ("[::1]x", "expected ':PORT'"),
    ],
)
def test_bad_addresses_say_why(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_address(text)


def test_addresses_print_as_they_parse() -> None:
    assert str(Address("::1", 5)) == "[::1]:5"
    assert str(Address("h")) == "h:50000"


def test_identities_validate_and_hide_the_password() -> None:
    assert Account("ana", "x y").name == "ana"
    assert Guest("Zoë").name == "Zoë"
    assert "x y" not in repr(Account("ana", "x y"))
    with pytest.raises(ValueError, match="invalid user name"):
        Account("a b", "pw")
    with pytest.raises(ValueError, match="invalid password"):
        Account("ana", "")
    with pytest.raises(ValueError, match="invalid nickname"):
        Guest("#room")


def test_the_client_wants_at_least_one_valid_server() -> None:
    with pytest.raises(ValueError, match="no server"):
        client([])
    with pytest.raises(ValueError, match="port"):
        client("host:nope")
    with pytest.raises(Exception, match="room"):
        client("h", rooms=["nohash"])


# -- backoff ---------------------------------------------------------------------


def test_backoff_doubles_up_to_its_cap_with_jitter() -> None:
    rng = random.Random(1)
    backoff = Backoff(initial=1.0, factor=2.0, maximum=60.0, jitter=0.5)
    for attempt in range(12):
        cap = min(60.0, 2.0**attempt)
        for _ in range(20):
            assert cap / 2 <= backoff.delay(attempt, rng) <= cap
    assert 30.0 <= backoff.delay(10**9, rng) <= 60.0  # no float overflow
    assert Backoff(jitter=0).delay(3, rng) == 8.0
    assert Backoff(jitter=0).delay(-5, rng) == 1.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"initial": 0},
        {"initial": 10, "maximum": 5},
        {"factor": 0.5},
        {"jitter": 1.5},
        {"jitter": -0.1},
    ],
)
def test_backoff_refuses_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Backoff(**kwargs)


def test_jitter_spreads_clients_apart() -> None:
    delays = {Backoff().delay(0, random.Random(seed)) for seed in range(50)}
    assert len(delays) > 40


# -- the virtual clock ----------------------------------------------------------


@async_test
async def test_virtual_sleeps_wake_in_order_at_their_time() -> None:
    clock = VirtualClock(start=100.0)
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, delay: float) -> None:
        await clock.sleep(delay)
        woke.append((name, clock.now()))

    async def chain() -> None:
        await clock.sleep(1.0)
        woke.append(("chain-1", clock.now()))
        await clock.sleep(1.0)
        woke.append(("chain-2", clock.now()))

    tasks = [
        asyncio.ensure_future(c)
        for c in (sleeper("b", 2.5), sleeper("a", 0.5), chain(), sleeper("z", 99))
    ]
    await clock.settle()
    assert clock.sleepers == 4 and clock.next_due() == 100.5
    await clock.advance(3.0)
    assert woke == [("a", 100.5), ("chain-1", 101.0), ("chain-2", 102.0), ("b", 102.5)]
    assert clock.now() == 103.0
    tasks[3].cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert clock.sleepers == 0 and clock.next_due() is None
    await clock.sleep(0)  # no wait at all
    with pytest.raises(ValueError):
        await clock.advance(-1)


@async_test
async def test_sleeping_waits_for_a_timer_to_be_armed() -> None:
    clock = VirtualClock()
    watching = asyncio.ensure_future(clock.sleeping(within=5.0))
    await clock.settle()
    assert not watching.done()
    far = asyncio.ensure_future(clock.sleep(60))
    await clock.settle()
    assert not watching.done()
    near = asyncio.ensure_future(clock.sleep(2))
    assert await within(watching) == 2.0
    await clock.advance(2.0)
    assert near.done()
    far.cancel()
    await asyncio.gather(far, return_exceptions=True)


# -- explanations -------------------------------------------------------------


def _reply(code: int, command: object, text: str = "") -> Reply:
    return Reply(code=code, text=text, command=command)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("code", "command", "sentence"),
    [
        (
            703,
            Register(user="ana", password="p"),
            "an account named ana already exists",
        ),
        (703, Nick(nick="ana"), "the name ana belongs to an account"),
        (704, Login(user="ana", password="p"), "wrong user name or password"),
        (705, Nick(nick="ana"), "ana is already online"),
        (216, Chat(target="bob", text="x"), "not delivered: bob is not online"),
        (216, Chat(target="#r", text="x"), "not delivered: you are not in #r"),
        (216, Chat(target="*", text="x"), "not delivered"),
        (706, Part(room="#r"), "you are not in #r"),
        (700, Who(), "log in first"),
        (701, Nick(nick="a"), "you are already logged in"),
        (707, Ping(), "that line is too long for this server"),
        (709, Login(user="a", password="p"), "too many failed logins"),
        (999, Ping(), "the server does not know that command"),
        (222, Join(room="#r"), "#r"),
        (224, Ping(), "liveness answer, echoing the token"),
    ],
)
def test_replies_are_explained_as_sentences(
    code: int, command: object, sentence: str
) -> None:
    text = "#r" if code == 222 else ""
    assert explain(_reply(code, command, text)).startswith(sentence)


def test_bad_arguments_show_the_usage() -> None:
    reply = _reply(702, Ping(), "usage: JUNTAR <room>")
    assert explain(reply) == "invalid arguments (usage: JUNTAR <room>)"
    assert explain(_reply(702, Ping())) == "invalid arguments"


def test_closings_and_connection_errors_as_sentences() -> None:
    assert describe_closing("shutdown", "bye") == "the server is shutting down"
    assert "too slowly" in describe_closing("send-queue", "x")
    assert describe_closing("odd-reason", "why") == (
        "the server closed the connection (odd-reason: why)"
    )
    assert "refused" in describe_error(ConnectionRefusedError(), 10)
    assert describe_error(socket.gaierror(), 10) == "unknown host name"
    assert describe_error(TimeoutError(), 2.5) == "no answer within 2.5 s"
    assert describe_error(OSError(113, "No route to host"), 1) == "no route to host"
    assert describe_error(ConnectionError("server closing: x"), 1) == (
        "server closing: x"
    )
    assert describe_error(OSError(), 1) == "OSError"


# -- lines on the wire and long messages ------------------------------------------


def test_wire_lines_mask_passwords() -> None:
    assert wire_line(Login(user="ana", password="s3 cret")) == "ENTRAR ana ********"
    assert wire_line(Register(user="ana", password="x")) == "NOVO ana ********"
    assert wire_line(Chat(target="#r", text=" hi ")) == "CHAT #r  hi "
    assert wire_line(Reply(code=214, text="ana")) == "PASS-214 ana"


def test_long_text_splits_at_spaces_and_keeps_every_character() -> None:
    text = "ação " * 30
    pieces = split_message("#sala", text, 64)
    assert all(len(wire_line(p).encode()) + 1 <= 64 for p in pieces)
    assert " ".join(p.text for p in pieces).split() == text.split()
    nospace = "é" * 100
    pieces = split_message("bob", nospace, 40)
    assert "".join(p.text for p in pieces) == nospace
    assert all(len(wire_line(p).encode()) + 1 <= 40 for p in pieces)
    assert [p.text for p in split_message("bob", "a\n\n  \nb", 100)] == ["a", "b"]
    with pytest.raises(ValueError, match="no room"):
        split_message("bob", "x", 5)


# -- the state ------------------------------------------------------------------


def test_state_follows_replies_and_pushes() -> None:
    state = ChatState()
    assert state.me is None and not state.is_me("ana")
    state.on_reply(_reply(218, Nick(nick="Ana"), "Ana"))
    assert state.me == "Ana" and state.guest and state.is_me("ANA")
    state.on_reply(_reply(220, Who(), "Ana bob Carla"))
    assert state.online == ("Ana", "bob", "Carla")
    state.on_push(Online(user="dave"))
    state.on_push(Offline(user="BOB"))
    assert state.online == ("Ana", "Carla", "dave")
    state.on_reply(_reply(222, Join(room="#geral"), "#Geral"))
    room = state.room("#GERAL")
    assert room is not None and room.members == ("Ana",)
    state.on_reply(_reply(220, Who(room="#geral"), "Ana Carla"))
    state.on_push(Joined(room="#geral", user="dave"))
    state.on_push(Joined(room="#other", user="eve"))  # not mine: ignored
    assert room.members == ("Ana", "Carla", "dave")
    state.on_push(Left(room="#geral", user="carla"))
    state.on_push(Left(room="#other", user="eve"))
    state.on_push(Offline(user="dave"))
    assert room.members == ("Ana",) and "dave" not in room
    assert "Room('#Geral'" in repr(room)
    when = datetime(2026, 1, 1, tzinfo=UTC)
    state.on_push(Message(sender="zed", address="*", time=when, text="hi"))
    assert state.is_online("zed")
    state.on_reply(_reply(220, Who(room="#nowhere"), "x"))  # not mine
    state.on_reply(_reply(222, Join(room="#b"), "#b"))
    state.on_reply(_reply(222, Join(room="#b"), "#b"))  # joined again
    assert [r.name for r in state.rooms] == ["#b", "#Geral"]
    state.on_reply(_reply(223, Part(room="#b"), "#b"))
    state.on_reply(_reply(706, Part(room="#geral")))  # the server says I am not
    assert state.rooms == ()
    state.on_reply(_reply(704, Login(user="x", password="y")))  # refusals: no change
    snap = state.snapshot()
    assert snap.me == "Ana" and snap.rooms == () and "zed" in snap.online
    state.on_reply(_reply(214, Login(user="ana", password="p"), "ana"))
    assert not state.guest
    state.reset()
    assert state.me is None and state.online == () and state.rooms == ()


def test_joining_before_knowing_my_name_still_tracks_the_room() -> None:
    state = ChatState()
    state.on_reply(_reply(222, Join(room="#r"), "#r"))
    room = state.room("#r")
    assert room is not None and room.members == ()


# -- a loop on its own thread ------------------------------------------------------


def test_loop_thread_runs_a_client_for_a_busy_main_thread() -> None:
    with LoopThread() as thread:
        assert thread.loop.is_running()

        async def start() -> tuple[Servers, object]:
            servers = Servers()
            address = await servers.start()
            c = client(address, Guest("ana"))
            thread.forward(c)
            await c.start()
            return servers, c

        servers, c = thread.submit(start()).result(10)
        assert thread.call(lambda: c.status) is Status.LOGGED_IN  # type: ignore[attr-defined]
        snap = thread.call(c.snapshot)  # type: ignore[attr-defined]
        assert snap.me == "ana"
        seen = []
        while not any(isinstance(u, LoggedIn) for u in seen):
            seen.append(thread.queue.get(timeout=10))
        thread.submit(c.close()).result(10)  # type: ignore[attr-defined]
        thread.submit(servers.close()).result(10)
    thread.stop()  # stopping twice is harmless
    with pytest.raises(RuntimeError, match="not running"):
        _ = LoopThread().loop


def test_a_loop_thread_starts_once() -> None:
    with LoopThread() as thread, pytest.raises(RuntimeError):
        thread.start()
