"""Complete lines in front of a fatal framing error are answered before the
close, in order, however the bytes were split into reads (spec 2.1, 2.3)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from libbatchat import Closing, Greeting, Limits, Ping, Reply
from libbatchat._connection import Connection, Role
from libbatchat._errors import RemoteProtocolError
from libbatchat._events import Event
from libbatchat._server import ServerCore
from tests.adapters_harness import Serve, fast, serve
from tests.server_harness import FAST, Clock, Net

__all__ = ["serve"]  # the fixture, imported so pytest finds it

FLOOD = b"x" * 9000
GREETING = Greeting(
    max_line=4096, burst=10, rate=5.0, ping=90.0, ping_timeout=150.0, login_timeout=30.0
)


def answers(data: bytes, limits: Limits = FAST) -> list[Event]:
    """What a fresh client gets for ``data``, sent after its greeting."""
    net = Net(limits)
    c = net.connect()
    c.take()
    c.send_raw(data)
    assert c.closed
    return c.take()


def wire(data: bytes, split: int) -> bytes:
    """The bytes a server sends for ``data`` read ``split`` bytes at a time,
    up to its close (after the greeting)."""
    core = ServerCore(limits=FAST, clock=Clock())
    session, _ = core.connect("10.0.0.1:1000")
    sent = b""
    for i in range(0, len(data), split):
        out = core.receive(session, data[i : i + split])
        sent += b"".join(chunk for _, chunk in out.sends)
        if out.closes:
            return sent
    raise AssertionError("never closed")


def test_a_line_before_an_unterminated_run_is_answered_first() -> None:
    got = answers(b"PING a\r\n" + FLOOD)
    assert [(type(e), getattr(e, "code", None)) for e in got] == [
        (Reply, 224),
        (Closing, None),
    ]
    reply, closing = got
    assert isinstance(reply, Reply) and reply.text == "a"
    assert isinstance(closing, Closing) and closing.reason == "line-too-long"


def test_every_kind_of_line_before_the_run_is_answered_in_order() -> None:
    limits = replace(FAST, max_line=64, max_unterminated=128)
    data = b"PING a\nFOO bar\n\xff\n" + b"y" * 70 + b"\n  \nPING b\n" + b"z" * 200
    got = answers(data, limits)
    codes = [e.code for e in got if isinstance(e, Reply)]
    assert codes == [224, 999, 708, 707, 224]
    assert isinstance(got[-1], Closing) and got[-1].reason == "line-too-long"
    assert len(got) == 6


def test_one_read_and_many_reads_give_the_same() -> None:
    data = b"PING a\nPING b\n" + FLOOD
    whole = wire(data, len(data))
    assert whole.startswith(b"PONG-224 a\nPONG-224 b\nCLOSING line-too-long")
    for split in (1, 7, 8, 100, 8192):
        assert wire(data, split) == whole


def test_a_terminated_line_past_max_unterminated_after_lines() -> None:
    # It ends, but only after max_unterminated bytes: fatal all the same.
    got = answers(b"PING a\n" + FLOOD + b"\nPING b\n")
    assert len(got) == 2
    assert isinstance(got[0], Reply) and got[0].text == "a"
    assert isinstance(got[1], Closing) and got[1].reason == "line-too-long"


def test_a_terminated_overlong_line_after_lines_is_answered_707() -> None:
    net = Net(replace(FAST, max_line=64, max_unterminated=128))
    c = net.connect()
    c.take()
    c.send_raw(b"PING a\n" + b"y" * 100 + b"\nPING b\n")
    assert [(r.code, r.text) for r in c.replies()] == [
        (224, "a"),
        (707, "line too long"),
        (224, "b"),
    ]
    assert not c.closed


def test_only_what_flood_control_lets_through_is_answered() -> None:
    # As when the run comes in a later read: held lines die with the session.
    got = answers(b"PING a\nPING b\n" + FLOOD, replace(FAST, burst=1, rate=0.01))
    assert len(got) == 2
    assert isinstance(got[0], Reply) and got[0].text == "a"
    assert isinstance(got[1], Closing) and got[1].reason == "line-too-long"


def test_a_line_that_closes_the_session_is_the_last_word() -> None:
    got = answers(b"PING a\nPING b\n" + FLOOD, replace(FAST, lines_before_login=1))
    assert len(got) == 2
    assert isinstance(got[0], Reply) and got[0].text == "a"
    assert isinstance(got[1], Closing) and got[1].reason == "too-many-lines"


def test_a_client_reads_the_lines_before_an_endless_server_line() -> None:
    server, client = Connection(Role.SERVER), Connection(Role.CLIENT)
    client.receive_data(server.send(GREETING))
    assert isinstance(client.next_event(), Greeting)
    server.receive_data(client.send(Ping(token="a")))
    assert server.next_event() == Ping(token="a")
    reply = server.send(Reply(code=224, text="a"))
    # CLIENT_MAX_LINE (1 MiB) of a line that never ends, after a reply.
    client.receive_data(reply + b"x" * (1 << 20))
    got = client.next_event()
    assert isinstance(got, Reply) and got.text == "a"
    with pytest.raises(RemoteProtocolError) as exc:
        client.next_event()
    assert exc.value.fatal and exc.value.reason == "line-too-long"


def test_over_a_socket_the_line_is_answered_before_the_close(serve: Serve) -> None:
    # Exactly max_unterminated bytes after the line, so the server reads
    # everything sent before it closes (no reset can eat the answers).
    server = serve(fast(max_unterminated=8192))
    raw = server.raw()
    raw.wait_for(lambda e: isinstance(e, Greeting))
    raw.send_raw(b"PING a\r\n" + b"x" * 8192)
    events = raw.read_to_eof()
    assert raw.eof
    assert len(events) == 2
    assert events[0] == Reply(code=224, text="a")
    assert isinstance(events[1], Closing) and events[1].reason == "line-too-long"
