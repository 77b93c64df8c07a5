"""Connections refusing our own misuse (LocalProtocolError)."""

from __future__ import annotations

import pytest

from libbatchat import (
    Chat,
    Connection,
    ConnectionClosed,
    Join,
    LocalProtocolError,
    Online,
    Ping,
    Pong,
    Reply,
    Role,
)
from tests.connection_harness import CLOSING, GREETING, Pair

# -- our own misuse ---------------------------------------------------------


def test_client_cannot_send_server_events() -> None:
    client = Connection(Role.CLIENT)
    for event in (GREETING, Reply(code=214, text="a"), Online(user="a"), CLOSING):
        with pytest.raises(LocalProtocolError, match="a client cannot send"):
            client.send(event)
    with pytest.raises(LocalProtocolError, match="a client cannot send"):
        client.send(ConnectionClosed())


def test_client_respects_the_advertised_max_line() -> None:
    pair = Pair()
    pair.client.send(Chat(target="ana", text="x" * 54))  # 64 bytes with LF
    with pytest.raises(LocalProtocolError, match="max-line 64"):
        pair.client.send(Chat(target="ana", text="x" * 55))
    assert len(pair.client.pending) == 1
    # Before the greeting nothing is known, so nothing is refused.
    Connection(Role.CLIENT).send(Chat(target="ana", text="x" * 5000))


def test_server_must_greet_first_and_once() -> None:
    server = Connection(Role.SERVER)
    server.receive_data(b"PING\n")
    assert server.next_event() == Ping()
    for event in (Reply(code=224), Online(user="a")):
        with pytest.raises(LocalProtocolError, match="greeting must be sent first"):
            server.send(event)
    server.send(GREETING)
    with pytest.raises(LocalProtocolError, match="already sent"):
        server.send(GREETING)
    assert server.send(Reply(code=224)) == b"PONG-224\n"


def test_server_replies_must_match_the_fifo() -> None:
    pair = Pair()
    with pytest.raises(LocalProtocolError, match="no command is waiting"):
        pair.server.send(Reply(code=224))
    pair.c2s(Join(room="#a"), Pong(token="p"))
    assert pair.server.pending == (Join(room="#a"),)
    with pytest.raises(LocalProtocolError, match="214 cannot answer JUNTAR"):
        pair.server.send(Reply(code=214, text="ana"))
    pair.server.send(Reply(code=999))
    with pytest.raises(LocalProtocolError, match="no command is waiting"):
        pair.server.send(Reply(code=224))


def test_server_cannot_send_commands() -> None:
    pair = Pair()
    for event in (Ping(), ConnectionClosed()):
        with pytest.raises(LocalProtocolError, match="a server cannot send"):
            pair.server.send(event)


def test_pong_needs_no_reply() -> None:
    pair = Pair()
    assert pair.c2s(Pong(token="x")) == [Pong(token="x")]
    assert pair.client.pending == pair.server.pending == ()
    assert pair.server.awaiting == 0


def test_server_cannot_reply_once_closed() -> None:
    pair = Pair()
    pair.c2s(Ping())
    pair.server.send(CLOSING)
    with pytest.raises(LocalProtocolError, match="connection is closed"):
        pair.server.send(Reply(code=224))
