"""Client and server Connections wired back to back: the happy paths
(protocol.md 2, 5, 6, 8)."""

from __future__ import annotations

import pytest

from libbatchat import (
    NEED_DATA,
    Chat,
    Closing,
    Command,
    Connection,
    ConnectionClosed,
    Join,
    LocalProtocolError,
    Login,
    Nick,
    Online,
    Ping,
    Pong,
    Quit,
    RemoteProtocolError,
    Reply,
    Role,
    ServerPing,
    State,
    Who,
)
from libbatchat._table import VERBS
from tests.connection_harness import CLOSING, GREETING, Pair, drain
from tests.samples import example

# -- the happy paths -------------------------------------------------------


def test_initial_state() -> None:
    conn = Connection(Role.SERVER)
    assert conn.role is Role.SERVER
    assert conn.state is State.GREETING
    assert conn.greeting is None
    assert conn.pending == ()
    assert conn.awaiting == 0
    assert conn.buffered == 0
    assert conn.next_event() is NEED_DATA


def test_greeting_moves_both_sides_and_is_remembered() -> None:
    pair = Pair()
    assert pair.states() == (State.ANONYMOUS, State.ANONYMOUS)
    assert pair.client.greeting == GREETING
    assert pair.server.greeting == GREETING


@pytest.mark.parametrize("verb", [v for v in VERBS if VERBS[v].has_reply])
def test_every_verb_gets_its_reply_paired_with_it(verb: str) -> None:
    pair = Pair()
    if VERBS[verb].needs_login:
        pair.c2s(Nick(nick="ana"))
        pair.s2c(Reply(code=218, text="ana"))
    command = example(verb)
    assert pair.c2s(command) == [command]
    assert pair.server.pending == pair.client.pending == (command,)
    for code in VERBS[verb].replies:
        replies = pair.s2c(Reply(code=code, text="x"))
        assert replies == [Reply(code=code, text="x")]
        assert isinstance(replies[0], Reply)
        assert replies[0].command == command
        if pair.client.state is not State.CLOSED:
            pair.c2s(command)
    assert pair.client.state is pair.server.state


def test_login_and_nick_log_in_on_both_sides() -> None:
    pair = Pair()
    pair.c2s(Login(user="ana", password="x y"))
    assert pair.states() == (State.ANONYMOUS, State.ANONYMOUS)
    pair.s2c(Reply(code=704))
    assert pair.states() == (State.ANONYMOUS, State.ANONYMOUS)
    pair.c2s(Nick(nick="ana"))
    pair.s2c(Reply(code=218, text="ana"))
    assert pair.states() == (State.LOGGED_IN, State.LOGGED_IN)


def test_pipelined_commands_are_answered_in_order() -> None:
    pair = Pair(greet=False)
    commands: list[Command] = [
        Login(user="ana", password="pw"),
        Join(room="#a"),
        Chat(target="#a", text="hi"),
        Pong(token="k"),
        Ping(token="end"),
    ]
    data = b"".join(pair.client.send(c) for c in commands)
    assert pair.client.pending == tuple(c for c in commands if c != Pong(token="k"))
    pair.server.receive_data(data)
    pair.server.receive_data(b"FOO\n")
    assert pair.server.next_event() == commands[0]
    assert pair.server.buffered == len(data) - len(b"ENTRAR ana pw\n") + 4
    assert [pair.server.next_event() for _ in range(4)] == commands[1:]
    with pytest.raises(RemoteProtocolError):
        pair.server.next_event()
    assert pair.server.awaiting == 5
    assert len(pair.server.pending) == 4
    out = pair.server.send(GREETING)
    for code, text in [(214, "ana"), (222, "#a"), (215, "ok"), (224, "end")]:
        out += pair.server.send(Reply(code=code, text=text))
    pair.client.receive_data(out)
    events = drain(pair.client)
    assert events[0] == GREETING
    assert [e.command for e in events[1:] if isinstance(e, Reply)] == [
        c for c in commands if c.spec().has_reply
    ]
    assert pair.states() == (State.LOGGED_IN, State.LOGGED_IN)


def test_pushes_may_come_between_a_command_and_its_reply() -> None:
    pair = Pair()
    pair.c2s(Ping(token="a"))
    online = Online(user="bruno")
    assert pair.s2c(online, ServerPing(token="k")) == [online, ServerPing(token="k")]
    assert pair.c2s(Pong(token="k")) == [Pong(token="k")]
    assert pair.server.pending == (Ping(token="a"),)
    assert pair.s2c(Reply(code=224, text="a")) == [Reply(code=224, text="a")]


def test_quit_closes_both_sides_and_later_lines_are_ignored() -> None:
    pair = Pair()
    pair.c2s(Nick(nick="ana"))
    assert pair.c2s(Quit()) == [Quit()]
    assert pair.states() == (State.QUITTING, State.QUITTING)
    with pytest.raises(LocalProtocolError, match="QUITTING"):
        pair.client.send(Who())
    pair.server.receive_data(b"LISTA\nGARBAGE\n\xff\n" + b"x" * 5000 + b"\n")
    assert pair.server.next_event() is NEED_DATA
    assert pair.server.buffered == 0
    # Past max_unterminated without a line end, but nobody reads it any more.
    pair.server.receive_data(b"y" * 10000)
    assert pair.server.next_event() is NEED_DATA
    assert pair.server.buffered == 0
    online = Online(user="carla")
    assert pair.s2c(Reply(code=218, text="ana"), online) == [
        Reply(code=218, text="ana"),
        online,
    ]
    assert pair.states() == (State.QUITTING, State.QUITTING)
    assert pair.s2c(Reply(code=217, text="bye")) == [Reply(code=217, text="bye")]
    assert pair.states() == (State.CLOSED, State.CLOSED)
    pair.client.receive_data(b"ONLINE x\nnonsense\n")
    assert pair.client.next_event() is NEED_DATA
    with pytest.raises(LocalProtocolError, match="closed"):
        pair.server.send(Online(user="x"))
    with pytest.raises(LocalProtocolError, match="closed"):
        pair.client.send(Quit())


def test_eof_gives_connection_closed_every_time() -> None:
    pair = Pair()
    pair.server.receive_data(b"SAIR")
    pair.server.receive_data(b"")
    pair.server.receive_data(b"")
    assert pair.server.next_event() == ConnectionClosed()
    assert pair.server.next_event() == ConnectionClosed()
    assert pair.server.state is State.CLOSED
    with pytest.raises(LocalProtocolError, match="after EOF"):
        pair.server.receive_data(b"x")
    pair.client.receive_data(b"ONLINE bob\n")
    pair.client.receive_data(b"")
    assert drain(pair.client) == [Online(user="bob"), ConnectionClosed()]
    assert pair.client.state is State.CLOSED


def test_closing_push_closes_both_sides() -> None:
    pair = Pair()
    assert pair.s2c(CLOSING) == [CLOSING]
    assert pair.states() == (State.CLOSED, State.CLOSED)
    pair.server.receive_data(b"LISTA\n")
    assert pair.server.next_event() is NEED_DATA


def test_closing_instead_of_the_greeting() -> None:
    pair = Pair(greet=False)
    refusal = Closing(reason="too-many-connections", text="go away")
    assert pair.s2c(refusal) == [refusal]
    assert pair.client.greeting is None
    assert pair.states() == (State.CLOSED, State.CLOSED)


def test_blank_lines_are_skipped_by_both_roles() -> None:
    pair = Pair()
    pair.server.receive_data(b"\n   \r\n \nPING\n")
    assert drain(pair.server) == [Ping()]
    pair.client.receive_data(b"\n  \nONLINE a\n")
    assert drain(pair.client) == [Online(user="a")]


def test_commands_may_be_sent_before_the_greeting() -> None:
    pair = Pair(greet=False)
    assert pair.c2s(Quit()) == [Quit()]
    assert pair.states() == (State.QUITTING, State.QUITTING)
    assert pair.s2c(GREETING, Reply(code=217)) == [GREETING, Reply(code=217)]
    assert pair.states() == (State.CLOSED, State.CLOSED)
