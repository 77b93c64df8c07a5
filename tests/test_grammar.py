"""Line grammar (protocol.md 3-4, 6-7): parse_command, parse_server_line, serialize."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from libbatchat import (
    Chat,
    Closing,
    ConnectionClosed,
    Greeting,
    Join,
    LocalProtocolError,
    Login,
    Message,
    Ping,
    Pong,
    Quit,
    Register,
    RemoteProtocolError,
    Reply,
    Rooms,
    ServerPing,
    Who,
    parse_command,
    parse_server_line,
    serialize,
)
from libbatchat._events import Event
from libbatchat._table import VERBS
from tests.samples import example

GREETING_LINE = (
    "OLA-100 batchat/2 max-line=4096 burst=10 rate=5 ping=90 ping-timeout=150 "
    "login-timeout=30"
)
GREETING = Greeting(
    max_line=4096, burst=10, rate=5, ping=90, ping_timeout=150, login_timeout=30
)
# What a server sends: every key, the later ones too (spec 4.1).
FULL_GREETING_LINE = GREETING_LINE + (
    " max-unterminated=8192 lines-before-login=100 login-attempts=3"
    " login-window=60 rooms-per-session=50 max-rooms=5000"
)


# -- commands ---------------------------------------------------------------


@pytest.mark.parametrize("verb", list(VERBS))
def test_every_verb_and_alias_parses_in_any_case(verb: str) -> None:
    command = example(verb)
    line = serialize(command).decode()[:-1]
    spellings = [verb, VERBS[verb].alias or verb]
    for spelling in spellings:
        for cased in (spelling, spelling.lower(), spelling.title()):
            assert parse_command(cased + line[len(verb) :]) == command


def test_the_last_argument_takes_the_rest_verbatim() -> None:
    assert parse_command("CHAT ana  hi there ") == Chat(target="ana", text=" hi there ")
    assert parse_command("NOVO ana s3cret pass") == Register(
        user="ana", password="s3cret pass"
    )
    assert parse_command("CHAT   ana hi") == Chat(target="ana", text="hi")
    assert parse_command("  JUNTAR #a") == Join(room="#a")
    assert parse_command("MSG * \thi") == Chat(target="*", text="\thi")


def test_optional_arguments() -> None:
    assert parse_command("LISTA") == Who()
    assert parse_command("LISTA ") == Who()
    assert parse_command("WHO #a") == Who(room="#a")
    assert parse_command("PING") == Ping()
    assert parse_command("PING tok") == Ping(token="tok")
    assert parse_command("SALAS   ") == Rooms()
    assert parse_command("sair") == Quit()


@pytest.mark.parametrize(
    ("line", "usage"),
    [
        ("CHAT", "usage: CHAT|MSG <target> <text>: missing <target>"),
        ("CHAT ana", "usage: CHAT|MSG <target> <text>: missing <text>"),
        ("CHAT ana ", "usage: CHAT|MSG <target> <text>: missing <text>"),
        (
            "CHAT a\x01 hi",
            "usage: CHAT|MSG <target> <text>: a name may not contain U+0001",
        ),
        (
            "CHAT ana a\x7fb",
            "usage: CHAT|MSG <target> <text>: "
            "the text may not contain control characters",
        ),
        ("NOVO", "usage: NOVO|REGISTER <user> <password>: missing <user>"),
        ("NOVO ana", "usage: NOVO|REGISTER <user> <password>: missing <password>"),
        (
            "NOVO a*b pw",
            "usage: NOVO|REGISTER <user> <password>: a name may not contain '*'",
        ),
        ("JUNTAR geral", "usage: JUNTAR|JOIN <#room>: a room starts with '#'"),
        ("JUNTAR  #geral", "usage: JUNTAR|JOIN <#room>: a room starts with '#'"),
        ("SALAS extra", "usage: SALAS|ROOMS [#after]: a room starts with '#'"),
        ("SAIR now", "usage: SAIR|QUIT: too many arguments"),
        ("PONG", "usage: PONG <token>: missing <token>"),
        (
            "PING a b",
            "usage: PING [token]: a token may not contain spaces or control characters",
        ),
        ("LISTA geral", "usage: LISTA|WHO [#room|*] [after]: a room starts with '#'"),
    ],
)
def test_bad_arguments_hint_702_with_the_usage(line: str, usage: str) -> None:
    with pytest.raises(RemoteProtocolError) as exc:
        parse_command(line)
    assert exc.value.reply_hint == Reply(code=702, text=usage)
    assert not exc.value.fatal


@pytest.mark.parametrize(
    ("line", "text"),
    [
        ("HELLO", "unknown command HELLO; HELP lists the commands"),
        ("FROM ana @ x y", "unknown command FROM; HELP lists the commands"),
        ("\u017fair", "unknown command \u017fair; HELP lists the commands"),
        ("SA\tIR", "unknown command; HELP lists the commands"),
        ("\tSAIR", "unknown command; HELP lists the commands"),
        ("PASS-214 x", "unknown command PASS-214; HELP lists the commands"),
        (
            "/join #a",
            "unknown command /join: commands take no '/' (JUNTAR); "
            "HELP lists the commands",
        ),
        ("/nope", "unknown command /nope; HELP lists the commands"),
        (
            "@ana hi",
            "unknown command @ana: to write to ana, CHAT ana <text>; "
            "HELP lists the commands",
        ),
        ("@ x", "unknown command @; HELP lists the commands"),
    ],
)
def test_unknown_verbs_hint_999(line: str, text: str) -> None:
    with pytest.raises(RemoteProtocolError) as exc:
        parse_command(line)
    assert exc.value.reply_hint == Reply(code=999, text=text)
    assert not exc.value.fatal


# -- server lines -----------------------------------------------------------


def test_greeting() -> None:
    assert parse_server_line(GREETING_LINE) == GREETING
    g = parse_server_line(
        "OLA-100  batchat/3 motd=hi extra login-timeout=2.5 max-line=100 burst=1 "
        "rate=0.5 ping=1e+06 ping-timeout=2E6 x= =y"
    )
    assert g == Greeting(
        version=3,
        max_line=100,
        burst=1,
        rate=0.5,
        ping=1e6,
        ping_timeout=2e6,
        login_timeout=2.5,
    )
    assert isinstance(g, Greeting)
    assert isinstance(g.rate, float)
    assert isinstance(g.max_line, int)


@pytest.mark.parametrize(
    "line",
    [
        "OLA-100",
        "OLA-100 ",
        "OLA-100 irc/2 " + GREETING_LINE[18:],
        "OLA-100 batchat/x " + GREETING_LINE[18:],
        GREETING_LINE.replace(" burst=10", ""),
        GREETING_LINE.replace("burst=10", "burst=10.5"),
        GREETING_LINE.replace("burst=10", "burst=1_0"),
        GREETING_LINE.replace("rate=5", "rate=nan"),
        GREETING_LINE.replace("rate=5", "rate=-5"),
        GREETING_LINE.replace("rate=5", "rate=0"),
        GREETING_LINE.replace("rate=5", "rate=1e999"),
        GREETING_LINE.replace("max-line=4096", "max-line=0"),
        GREETING_LINE.replace("max-line=4096", "max-line=" + "9" * 5000),
        "PASS-214 x".replace("PASS", "ERRO"),
        "PASS-700 no",
        "OLA-214 ana",
        "PASS-555 x",
        "PASS-214 a\x01b",
        "pass-214 ana",
        "PASS-0214 ana",
        "HELLO there",
        "",
        "ONLINE",
        "ONLINE a b",
        "JOINED #a",
        "CLOSING Bad-reason bye",
        "FROM ana @ yesterday hi",
        "FROM ana @ 2026-02-30T00:00:00.000Z hi",
        "FROM ana you 2026-01-01T00:00:00.000Z hi",
        "online ana",
    ],
)
def test_malformed_server_lines_are_fatal(line: str) -> None:
    with pytest.raises(RemoteProtocolError) as exc:
        parse_server_line(line)
    assert exc.value.fatal
    assert exc.value.reply_hint is None


@pytest.mark.parametrize(
    ("line", "event"),
    [
        ("PASS-214 ana", Reply(code=214, text="ana")),
        ("PASS-217", Reply(code=217)),
        ("PASS-217 ", Reply(code=217)),
        ("CHAT-216 carlos is not online", Reply(code=216, text="carlos is not online")),
        ("PONG-224  spaced ", Reply(code=224, text=" spaced ")),
        ("ERRO-999 unknown command", Reply(code=999, text="unknown command")),
        ("PING k", ServerPing(token="k")),
        (
            "CLOSING shutdown server going down",
            Closing(reason="shutdown", text="server going down"),
        ),
        (
            "FROM ana #geral 2026-11-21T14:03:07.250Z  oi ",
            Message(
                sender="ana",
                address="#geral",
                time=datetime(2026, 11, 21, 14, 3, 7, 250000, tzinfo=UTC),
                text=" oi ",
            ),
        ),
    ],
)
def test_server_lines(line: str, event: Event) -> None:
    assert parse_server_line(line) == event


# -- serialize --------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "wire"),
    [
        (GREETING, FULL_GREETING_LINE.encode() + b"\n"),
        (Login(user="ana", password="s3cret pass"), b"ENTRAR ana s3cret pass\n"),
        (Chat(target="#a", text=" hi "), b"CHAT #a  hi \n"),
        (Who(), b"LISTA\n"),
        (Who(room="#a"), b"LISTA #a\n"),
        (Ping(), b"PING\n"),
        (Pong(token="k"), b"PONG k\n"),
        (Quit(), b"SAIR\n"),
        (Reply(code=217), b"PASS-217\n"),
        (Reply(code=214, text="joão"), "PASS-214 joão\n".encode()),
        (
            Message(
                sender="ana",
                address="@",
                time=datetime(2026, 11, 21, 14, 3, 7, 250000, tzinfo=UTC),
                text="oi, tudo bem?",
            ),
            b"FROM ana @ 2026-11-21T14:03:07.250Z oi, tudo bem?\n",
        ),
        (Closing(reason="shutdown", text="bye"), b"CLOSING shutdown bye\n"),
    ],
)
def test_serialize(event: Event, wire: bytes) -> None:
    assert serialize(event) == wire


def test_greeting_keys_added_later_may_be_missing() -> None:
    # An older server's greeting: the client assumes the spec's defaults.
    assert parse_server_line(GREETING_LINE) == parse_server_line(FULL_GREETING_LINE)
    g = parse_server_line(FULL_GREETING_LINE.replace("max-rooms=5000", "max-rooms=7"))
    assert isinstance(g, Greeting) and g.max_rooms == 7
    with pytest.raises(RemoteProtocolError):
        parse_server_line(FULL_GREETING_LINE.replace("=100 ", "=1.5 "))


def test_greeting_numbers_are_short_but_exact() -> None:
    g = Greeting(
        version=2,
        max_line=10**12,
        burst=1,
        rate=0.5,
        ping=1e6,
        ping_timeout=0.1 + 0.2,
        login_timeout=7,
    )
    line = serialize(g).decode()
    assert "max-line=1000000000000 " in line
    assert "rate=0.5 ping=1e+06 ping-timeout=0.30000000000000004 " in line
    assert "login-timeout=7 " in line
    assert parse_server_line(line[:-1]) == g


def test_connection_closed_has_no_wire_form() -> None:
    with pytest.raises(LocalProtocolError, match="no wire form"):
        serialize(ConnectionClosed())
