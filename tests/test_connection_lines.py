"""Connection.receive_line: one whole plain line, without the buffer, taken
as receive_data takes it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from libbatchat import (
    NEED_DATA,
    Chat,
    Connection,
    ConnectionClosed,
    Pong,
    ProtocolError,
    Quit,
    RemoteProtocolError,
    Reply,
    Role,
    State,
)
from tests.connection_harness import GREETING, drain

# -- receive_line: one whole plain line, without the buffer ------------------

# Reads that sit on the edges of receive_line's conditions: plain and not
# plain, blank, CRLF, several lines or part of one, bad UTF-8, too long for
# max_line=64, a SAIR (after which the server reads nothing), EOF.
_READS = [
    b"CHAT ana oi\n",
    b"CHAT ana  two  spaces \r\n",
    b"  PING t1\n",
    b"PING\n",
    b"PONG p\n",
    b"APELIDO ana\n",
    b"APELIDO Z\xc3\xa9\n",
    b"JUNTAR geral\n",
    b"FOO bar\n",
    b"CHAT ana\n",
    b"\n",
    b"\r\n",
    b"   \n",
    b"\xff\xfe\n",
    b"PING a\nPING b\n",
    b"CHAT ana par",
    b"tial\n",
    b"\r",
    b"CHAT ana " + b"x" * 60 + b"\n",
    b"SAIR\n",
    b"",
]


def _take(conn: Connection, data: bytes, fast: bool) -> list[object]:
    """What the server makes of one read, by receive_line first or not."""
    if fast:
        before = (conn.state, conn.pending, conn.awaiting, conn.buffered)
        command = conn.receive_line(data)
        if command is not None:
            return [command, *drain(conn)]
        # Declined: nothing was done.
        assert (conn.state, conn.pending, conn.awaiting, conn.buffered) == before
    seen: list[object] = []
    try:
        conn.receive_data(data)
        while (event := conn.next_event()) is not NEED_DATA:
            seen.append(event)
            if isinstance(event, ConnectionClosed):
                break
    except ProtocolError as exc:
        reply = exc.reply_hint if isinstance(exc, RemoteProtocolError) else None
        seen.append((type(exc), str(exc), reply))
    return seen


@given(reads=st.lists(st.tuples(st.sampled_from(_READS), st.booleans()), max_size=12))
def test_receive_line_takes_a_read_as_receive_data_does(
    reads: list[tuple[bytes, bool]],
) -> None:
    fast, slow = (Connection(Role.SERVER, max_line=64) for _ in range(2))
    for conn in (fast, slow):
        conn.send(GREETING)
    for data, answer in reads:
        assert _take(fast, data, True) == _take(slow, data, False)
        if answer:
            # Paying what is owed moves the slots the next reads fill.
            for conn in (fast, slow):
                while conn.awaiting and conn.state is not State.CLOSED:
                    conn.send(Reply(code=710, text="x"))
        assert (fast.state, fast.pending, fast.awaiting, fast.buffered) == (
            slow.state,
            slow.pending,
            slow.awaiting,
            slow.buffered,
        )


def test_receive_line_takes_an_ordinary_line_and_declines_the_rest() -> None:
    server = Connection(Role.SERVER)
    server.send(GREETING)
    assert server.receive_line(b"CHAT ana oi\r\n") == Chat(target="ana", text="oi")
    assert server.pending == (Chat(target="ana", text="oi"),)
    assert server.receive_line(b"PONG p\n") == Pong(token="p")
    assert server.awaiting == 1
    for data in (b"", b"\n", b"\xff\n", b"PING\nPING\n", b"CHAT Z\xc3\xa9 x\n"):
        assert server.receive_line(data) is None
    assert server.receive_line(b"SAIR\n") == Quit()
    assert server.state is State.QUITTING
    assert server.receive_line(b"PING\n") is None
    client = Connection(Role.CLIENT)
    assert client.receive_line(b"PASS-214 ana\n") is None
    eof = Connection(Role.SERVER)
    eof.receive_data(b"")
    assert eof.receive_line(b"PING\n") is None
