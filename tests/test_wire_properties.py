"""Properties of the whole wire layer, over generated events and bytes."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import commands, events, greetings, pushes

from libbatchat import (
    NEED_DATA,
    Command,
    Connection,
    ConnectionClosed,
    Event,
    Greeting,
    Ping,
    Quit,
    RemoteProtocolError,
    Reply,
    Role,
    parse_command,
    parse_server_line,
    serialize,
)

GREETING = Greeting(
    max_line=64, burst=10, rate=5, ping=90, ping_timeout=150, login_timeout=30
)
PINGS = 3

# Lines shaped to reach every corner: junk that may hold LF, CR or invalid
# UTF-8, lines near the limits, blank lines.
junk = st.binary(max_size=40).map(lambda b: b.replace(b"z", b"\n"))
near_limits = st.sampled_from(
    [b"x" * 70 + b"\n", b"PING " + b"t" * 58 + b"\n", b"x" * 200, b"\n", b"  \r\n"]
)


def wire(strategy: st.SearchStrategy[Event]) -> st.SearchStrategy[bytes]:
    return strategy.map(serialize)


client_stream = st.lists(st.one_of(wire(commands), junk, near_limits), max_size=12)
server_stream = st.lists(
    st.one_of(
        wire(pushes),
        st.sampled_from(
            [Reply(code=224, text="t"), Reply(code=999), Reply(code=707)]
        ).map(serialize),
        junk,
        near_limits,
    ),
    max_size=12,
)


def new_server() -> Connection:
    server = Connection(Role.SERVER, max_line=64, max_unterminated=128)
    server.send(GREETING)
    return server


def new_client() -> Connection:
    client = Connection(Role.CLIENT)
    for _ in range(PINGS):
        client.send(Ping(token="t"))
    return client


def record(conn: Connection, chunks: list[bytes]) -> list[Any]:
    """Feed ``chunks`` and record every event and error, comparably."""
    out: list[Any] = []
    for chunk in chunks:
        conn.receive_data(chunk)
        while True:
            try:
                event = conn.next_event()
            except RemoteProtocolError as exc:
                out.append(("error", exc.fatal, exc.reason, exc.reply_hint))
                if exc.fatal:
                    return out
                continue
            if event is NEED_DATA:
                break
            out.append((event, getattr(event, "command", None)))
            if isinstance(event, ConnectionClosed):
                return out
    return out


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


# (a) only RemoteProtocolError escapes ----------------------------------------


def serve_everything(server: Connection, data: bytes) -> None:
    server.receive_data(data)
    server.receive_data(b"")
    while True:
        try:
            event = server.next_event()
        except RemoteProtocolError as exc:
            if exc.fatal:
                return
            assert exc.reply_hint is not None
            server.send(exc.reply_hint)
            continue
        if isinstance(event, ConnectionClosed):
            return
        assert isinstance(event, Command)
        if event.spec().has_reply and server.state.name != "CLOSED":
            server.send(Reply(code=710, text="not really"))


@settings(max_examples=150)
@given(st.one_of(st.binary(max_size=300), junk, client_stream.map(b"".join)))
def test_random_bytes_to_a_server_raise_only_remote_errors(data: bytes) -> None:
    serve_everything(new_server(), data)


@settings(max_examples=150)
@given(
    st.one_of(st.just(b""), wire(greetings)),
    st.one_of(st.binary(max_size=300), server_stream.map(b"".join)),
)
def test_random_bytes_to_a_client_raise_only_remote_errors(
    head: bytes, data: bytes
) -> None:
    # record() swallows RemoteProtocolError only; anything else fails here.
    record(new_client(), [head + data, b""])


# (b) parse(serialize(e)) == e --------------------------------------------------


@settings(max_examples=300)
@given(events)
def test_every_event_survives_the_wire(event: Event) -> None:
    data = serialize(event)
    assert data.endswith(b"\n")
    assert data.count(b"\n") == 1
    assert b"\r" not in data
    line = data[:-1].decode("utf-8")
    parsed = (
        parse_command(line) if isinstance(event, Command) else parse_server_line(line)
    )
    assert parsed == event


@settings(max_examples=100)
@given(st.lists(commands, max_size=6))
def test_commands_survive_a_connection(sent: list[Command]) -> None:
    # Nothing may follow SAIR, so the list stops at the first one.
    quits = [i for i, c in enumerate(sent) if isinstance(c, Quit)]
    sent = sent[: quits[0] + 1] if quits else sent
    client = Connection(Role.CLIENT)
    server = Connection(Role.SERVER, max_line=1 << 16, max_unterminated=1 << 16)
    data = b"".join(client.send(c) for c in sent)
    if data:  # b"" would be EOF
        server.receive_data(data)
    received = []
    while (event := server.next_event()) is not NEED_DATA:
        received.append(event)
    assert received == sent
    assert server.pending == client.pending


# (c) chunking never matters -------------------------------------------------


def same_whatever_the_chunking(
    make: Callable[[], Connection], data: bytes, cuts: list[int], eof: bool
) -> None:
    # b"" means EOF, so no chunk may be empty but the deliberate last one.
    tail = [b""] if eof else []
    whole = record(make(), [data, *tail] if data else tail)
    assert record(make(), [data[i : i + 1] for i in range(len(data))] + tail) == whole
    assert record(make(), [*split(data, cuts), *tail]) == whole


@settings(max_examples=100)
@given(
    client_stream.map(b"".join),
    st.lists(st.integers(min_value=0), max_size=8),
    st.booleans(),
)
def test_server_events_do_not_depend_on_chunking(
    data: bytes, cuts: list[int], eof: bool
) -> None:
    same_whatever_the_chunking(new_server, data, cuts, eof)


@settings(max_examples=100)
@given(
    server_stream.map(b"".join),
    st.lists(st.integers(min_value=0), max_size=8),
    st.booleans(),
)
def test_client_events_do_not_depend_on_chunking(
    data: bytes, cuts: list[int], eof: bool
) -> None:
    same_whatever_the_chunking(new_client, serialize(GREETING) + data, cuts, eof)
