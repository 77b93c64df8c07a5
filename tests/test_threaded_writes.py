"""The threaded server's write path: lines queued per core call as plain
list appends, handed over per connection by the one flusher, joined into one
send, sent at once without blocking; what a full socket does not take goes to
the connection's writer thread.

The unit tests drive a server's ``apply``/``_flush`` by hand on connections
whose threads are not started, with a socket stand-in that takes a set number
of bytes per call (or none), so partial sends, stalls and batches happen
exactly where the test says. The others use a real server and a reader that
falls behind.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from libbatchat import Closing
from libbatchat._session import Output, Session
from libbatchat.adapters import threaded
from libbatchat.adapters._threaded_conn import Conn
from tests.adapters_harness import RawClient, Running, SyncClient, fast, start
from tests.writes_harness import fill, five_more, numbers, read_all


class Taking(socket.socket):
    """A socket that takes at most ``take`` bytes per ``send()`` (EAGAIN
    when 0) and remembers what it took."""

    def __init__(self) -> None:
        super().__init__(socket.AF_INET, socket.SOCK_STREAM)
        self.take = 1 << 20
        self.taken = bytearray()
        self.calls: list[bytes] = []

    def send(self, data: object, flags: int = 0, /) -> int:
        assert isinstance(data, bytes)
        self.calls.append(data)
        if self.take == 0:
            raise BlockingIOError("full")
        part = data[: self.take]
        self.taken += part
        return len(part)

    def sendall(self, data: object, flags: int = 0, /) -> None:
        assert isinstance(data, bytes)
        self.taken += data


@pytest.fixture
def server() -> Iterator[threaded.Server]:
    srv = threaded.Server(port=0)
    yield srv
    for conn in srv._conns.values():
        conn.sock.close()
    srv.core.accounts.close()
    srv._executor.shutdown()


def _conn(
    server: threaded.Server, segmented: bool = False
) -> tuple[Session, Conn, Taking]:
    sock = Taking()
    session, _ = server.core.connect("127.0.0.1:1")
    conn = Conn(server, sock, "test")
    conn.session = session
    conn.segmented = segmented
    server._conns[session] = conn
    return session, conn, sock


def _emit(server: threaded.Server, *sends: tuple[Session, bytes]) -> None:
    with server.lock:
        server.apply(Output(sends=list(sends)))


def _lines(prefix: str, n: int) -> list[bytes]:
    return [f"{prefix} {i}\r\n".encode() for i in range(n)]


def test_lines_of_several_core_calls_go_out_in_one_send(
    server: threaded.Server,
) -> None:
    a, _, sock_a = _conn(server)
    b, _, sock_b = _conn(server)
    lines = _lines("m", 5)
    for line in lines:
        _emit(server, (a, line), (b, line))
    server._flush()
    assert sock_a.calls == [b"".join(lines)]
    assert sock_b.calls == [b"".join(lines)]


def test_partial_sends_keep_the_order_across_batches(server: threaded.Server) -> None:
    session, conn, sock = _conn(server)
    first, second = _lines("a", 3), _lines("b", 4)
    sock.take = 5  # every send partial: the rest waits in outbound, stalled
    for line in first:
        _emit(server, (session, line))
    server._flush()
    assert conn.stalled and sock.taken == b"".join(first)[:5]
    # Queued behind the stalled rest (the writer's job), never ahead of it.
    sock.take = 1 << 20
    for line in second:
        _emit(server, (session, line))
    server._flush()
    assert len(sock.calls) == 1
    assert b"".join(conn.outbound) == b"".join(first)[5:] + b"".join(second)
    assert conn.queued == len(b"".join(conn.outbound))
    # The writer sends what is queued, in order, then (closing) ends.
    conn.close(grace=5.0)
    conn.writer.start()
    assert conn.written.wait(10), "the writer never finished"
    conn.writer.join(10)
    assert bytes(sock.taken) == b"".join(first + second)
    assert conn.queued == 0 and not conn.outbound


def test_a_full_socket_leaves_everything_queued(server: threaded.Server) -> None:
    session, conn, sock = _conn(server)
    sock.take = 0  # EAGAIN
    lines = _lines("z", 3)
    for line in lines:
        _emit(server, (session, line))
    server._flush()
    assert conn.stalled
    assert b"".join(conn.outbound) == b"".join(lines)
    assert conn.queued == len(b"".join(lines))


def test_a_segmented_dialect_gets_a_send_per_line(server: threaded.Server) -> None:
    session, _, sock = _conn(server, segmented=True)
    lines = _lines("s", 4)
    for line in lines:
        _emit(server, (session, line))
    server._flush()
    assert sock.calls == lines


def test_lines_queued_with_the_close_go_out_before_it(server: threaded.Server) -> None:
    session, conn, sock = _conn(server)
    lines = _lines("last", 3)
    with server.lock:
        # Sends and the close in one output, before any flush.
        server.apply(
            Output(sends=[(session, line) for line in lines], closes=[session])
        )
    assert conn.closing and conn.pending is None
    assert b"".join(conn.outbound) == b"".join(lines)
    server._flush()  # nothing for the flusher: the writer's job
    assert sock.calls == []
    assert b"".join(conn.outbound) == b"".join(lines)


def test_an_abort_drops_what_is_pending(server: threaded.Server) -> None:
    session, conn, sock = _conn(server)
    _emit(server, (session, b"gone\r\n"))
    conn.abort()
    _emit(server, (session, b"after\r\n"))
    server._flush()
    assert sock.calls == [] and conn.queued == 0 and not conn.outbound


# -- a real server and a reader that falls behind ------------------------------


@pytest.fixture
def running() -> Iterator[Running]:
    limits = fast(
        send_queue_hard=8 << 20, send_queue_soft=4 << 20, send_queue_soft_seconds=60
    )
    server = start("threaded", limits)
    yield server
    server.cleanup()


def _conn_of(running: Running, nick: str) -> Conn:
    server = running.server
    assert isinstance(server, threaded.Server)
    with server.lock:
        found = [c for s, c in server._conns.items() if s.name == nick]
    assert len(found) == 1
    return found[0]


def _fill(running: Running) -> tuple[RawClient, SyncClient, int]:
    """A reader named slow whose socket is full, and how many were sent."""
    return fill(running, lambda: bool(_conn_of(running, "slow").outbound))


def test_a_reader_that_falls_behind_gets_every_line_once_in_order(
    running: Running,
) -> None:
    slow, sender, sent = _fill(running)
    read_all(slow, sent)
    # Caught up: the next lines go out directly again, and arrive.
    five_more(slow, sender, sent)
    conn = _conn_of(running, "slow")
    assert not conn.stalled


def test_a_close_while_lines_are_queued_sends_them_all_first(running: Running) -> None:
    slow, _, sent = _fill(running)
    # close() waits for the writers while this reader drains (in a thread).
    closer = threading.Thread(target=running.server.close)
    closer.start()
    events = slow.read_to_eof()
    closer.join(30)
    assert not closer.is_alive()
    assert numbers(events) == list(range(sent))
    assert isinstance(events[-1], Closing) and events[-1].reason == "shutdown"
