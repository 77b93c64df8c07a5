"""Client and server Connections wired back to back (protocol.md 2, 5, 6, 8)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from libbatchat import (
    NEED_DATA,
    Chat,
    Closing,
    Command,
    Connection,
    ConnectionClosed,
    Event,
    Greeting,
    Join,
    LocalProtocolError,
    Login,
    Nick,
    Online,
    Ping,
    Pong,
    ProtocolError,
    Quit,
    RemoteProtocolError,
    Reply,
    Role,
    ServerPing,
    State,
    Who,
)
from libbatchat._connection import CLIENT_MAX_LINE
from libbatchat._table import VERBS
from tests.samples import example

GREETING = Greeting(
    max_line=64, burst=10, rate=5, ping=90, ping_timeout=150, login_timeout=30
)
CLOSING = Closing(reason="shutdown", text="bye")


def drain(conn: Connection) -> list[Event]:
    out: list[Event] = []
    while (event := conn.next_event()) is not NEED_DATA:
        out.append(event)
        if isinstance(event, ConnectionClosed):
            break
    return out


class Pair:
    """A client and a server whose bytes go straight to each other."""

    def __init__(self, *, greet: bool = True, **server_limits: int) -> None:
        self.client = Connection(Role.CLIENT)
        self.server = Connection(Role.SERVER, **server_limits)
        if greet:
            assert self.s2c(GREETING) == [GREETING]

    def c2s(self, *events: Event) -> list[Event]:
        self.server.receive_data(b"".join(self.client.send(e) for e in events))
        return drain(self.server)

    def s2c(self, *events: Event) -> list[Event]:
        self.client.receive_data(b"".join(self.server.send(e) for e in events))
        return drain(self.client)

    def states(self) -> tuple[State, State]:
        return self.client.state, self.server.state


def bad_line(conn: Connection, data: bytes) -> RemoteProtocolError:
    conn.receive_data(data)
    with pytest.raises(RemoteProtocolError) as exc:
        conn.next_event()
    return exc.value


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
