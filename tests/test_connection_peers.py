"""Connections whose peer breaks the rules: bad lines to a server, a broken
server to a client (protocol.md 2, 8)."""

from __future__ import annotations

import pytest

from libbatchat import (
    NEED_DATA,
    Closing,
    Connection,
    Greeting,
    Join,
    LocalProtocolError,
    Ping,
    ProtocolError,
    RemoteProtocolError,
    Reply,
    Role,
    State,
    Who,
)
from libbatchat._connection import CLIENT_MAX_LINE
from tests.connection_harness import Pair, bad_line

# -- the server's peer breaking the rules ------------------------------------


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"HELLO\n", 999),
        (b"CHAT ana\n", 702),
        (b"PONG\n", 702),
        (b"CHAT ana \xff\xfe\n", 708),
        (b"JUNTAR #" + b"a" * 70 + b"\n", 707),
    ],
)
def test_bad_lines_take_a_slot_and_hint_their_reply(data: bytes, code: int) -> None:
    pair = Pair(max_line=64)
    exc = bad_line(pair.server, data)
    assert isinstance(exc, ProtocolError)
    assert not exc.fatal
    assert exc.reply_hint is not None
    assert exc.reply_hint.code == code
    assert pair.server.awaiting == 1
    assert pair.server.pending == ()
    with pytest.raises(LocalProtocolError, match="cannot answer a bad line"):
        pair.server.send(Reply(code=213))
    pair.server.send(exc.reply_hint)
    assert pair.server.awaiting == 0
    # The connection goes on.
    assert pair.c2s(Ping()) == [Ping()]


def test_an_overlong_line_is_discarded_up_to_its_lf() -> None:
    pair = Pair(max_line=16, max_unterminated=64)
    pair.server.receive_data(b"CHAT ana " + b"x" * 30)
    assert pair.server.next_event() is NEED_DATA
    assert pair.server.buffered == 39
    pair.server.receive_data(b"yyy\r\nPING\n")
    with pytest.raises(RemoteProtocolError) as exc:
        pair.server.next_event()
    assert exc.value.reply_hint == Reply(code=707, text="line too long")
    assert pair.server.next_event() == Ping()


def test_unterminated_input_is_fatal_for_good() -> None:
    pair = Pair(max_line=16, max_unterminated=32)
    pair.server.receive_data(b"PING\n" + b"x" * 40)
    assert pair.server.next_event() == Ping()
    with pytest.raises(RemoteProtocolError) as first:
        pair.server.next_event()
    assert first.value.fatal
    assert first.value.reason == "line-too-long"
    with pytest.raises(RemoteProtocolError) as again:
        pair.server.next_event()
    assert again.value is first.value
    # The server can still say why it closes.
    pair.server.send(Reply(code=224))
    assert pair.server.send(Closing(reason="line-too-long", text="bye")).startswith(
        b"CLOSING"
    )
    assert pair.server.state is State.CLOSED


def test_server_limits_are_validated() -> None:
    with pytest.raises(ValueError, match="max_line"):
        Connection(Role.SERVER, max_line=100, max_unterminated=50)


# -- the client's peer breaking the rules -------------------------------------


def fatal(conn: Connection, data: bytes, match: str) -> None:
    exc = bad_line(conn, data)
    assert exc.fatal
    assert exc.reply_hint is None
    assert match in str(exc)
    with pytest.raises(RemoteProtocolError) as again:
        conn.next_event()
    assert again.value is exc


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"ONLINE ana\n", "not a greeting"),
        (b"PASS-214 ana\n", "not a greeting"),
        (b"\xff\n", "not UTF-8"),
        (b"OLA-100 batchat/2\n", "lacks max-line"),
    ],
)
def test_client_needs_a_greeting_first(data: bytes, match: str) -> None:
    fatal(Connection(Role.CLIENT), data, match)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (
            b"OLA-100 batchat/2 max-line=1 burst=1 rate=1 ping=1 ping-timeout=1 "
            b"login-timeout=1\n",
            "second greeting",
        ),
        (b"PASS-217\n", "to no command"),
        (b"ONLINE\n", "bad server line"),
        (b"SALAS-221\n", "to no command"),
    ],
)
def test_client_rejects_a_broken_server(data: bytes, match: str) -> None:
    pair = Pair()
    fatal(pair.client, data, match)


def test_client_rejects_a_reply_its_command_cannot_get() -> None:
    pair = Pair()
    pair.c2s(Join(room="#a"))
    fatal(pair.client, b"PASS-214 ana\n", "cannot answer JUNTAR")


def test_client_accepts_line_codes_for_any_command() -> None:
    pair = Pair()
    pair.c2s(Join(room="#a"))
    assert pair.s2c(Reply(code=710, text="oops")) == [Reply(code=710, text="oops")]


def test_client_caps_server_lines_at_one_mebibyte() -> None:
    client = Connection(Role.CLIENT)
    long_list = b"LISTA-220 " + b"a " * 400_000
    client.receive_data(
        b"OLA-100 batchat/2 max-line=4096 burst=10 rate=5 ping=90 "
        b"ping-timeout=150 login-timeout=30\n"
    )
    assert isinstance(client.next_event(), Greeting)
    client.send(Who())
    client.receive_data(long_list + b"\n")
    event = client.next_event()
    assert isinstance(event, Reply)
    assert len(event.names) == 400_000
    fatal(client, b"x" * CLIENT_MAX_LINE, "without a line end")
