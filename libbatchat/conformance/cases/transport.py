"""Sections 1, 2 and 11: transport, framing and bad input."""

from __future__ import annotations

from libbatchat.conformance._engine import Trial, case
from libbatchat.conformance._model import Cap, Guest, Message, Outcome, Ping, Send
from libbatchat.conformance._session import CaseFailed


@case(
    "transport/concurrent-connections",
    "1.1",
    "several TCP connections are served at once",
)
def concurrent(t: Trial) -> None:
    sessions = [t.connect() for _ in range(5)]
    for i, s in enumerate(reversed(sessions)):
        token = f"{t.prefix}c{i}"
        if Cap.PING not in t.dialect.capabilities:
            # Each answers, in turn, what its dialect answers on a fresh
            # connection: a server that serves one client at a time stalls.
            for action in t.dialect.probe_actions(token):
                s.do(action)
            continue
        reply = s.do(Ping(token=token), Outcome.PONG)
        if reply.text != token:
            raise CaseFailed(
                f"{s.label}: PONG-224 should echo {token!r}: {reply.text!r}"
            )


@case(
    "transport/command-before-greeting",
    "1.2",
    "a command sent before the greeting is answered after it",
    needs=[Cap.GREETING, Cap.PING],
)
def before_greeting(t: Trial) -> None:
    s = t.connect(greet=False)
    s.send(Ping(token="early"))
    # The session itself fails the case if the first line is not the greeting.
    reply = s.reply(Outcome.PONG)
    if s.greeting is None or reply.text != "early":
        raise CaseFailed(f"expected the greeting then PONG-224 early, got {reply.code}")


@case("transport/client-closes-anytime", "1.3", "a client may close at any moment")
def client_closes(t: Trial) -> None:
    t.connect(greet=False).close()
    t.connect().close(reset=True)
    s = t.connect()
    s.send(Guest(nick=t.name()))
    s.close()
    # Closing with a reply still due must not upset the server either.
    a = t.user()
    a.settle()


@case(
    "framing/split-bytes",
    "2.1",
    "a line written one byte at a time means the same",
    needs=[Cap.GRAMMAR, Cap.DM],
)
def split_bytes(t: Trial) -> None:
    a, b = t.users(2)
    text = t.text("split")
    a.send_raw(f"CHAT {b.name} {text}\n".encode(), replies=1, chunk=1, what="CHAT")
    a.reply(Outcome.SENT)
    b.expect(Message(sender=a.name, address="@", text=text))
    a.send_raw(b"PING sp\n", replies=1, chunk=1, what="PING")
    if a.reply(Outcome.PONG).text != "sp":
        raise CaseFailed("a PING written byte by byte lost its token")
    b.quiet()


@case(
    "framing/coalesced",
    "2.1",
    "several lines in one write are all handled, in order",
    needs=[Cap.GRAMMAR, Cap.DM],
)
def coalesced(t: Trial) -> None:
    a, b = t.users(2)
    texts = [t.text("co") for _ in range(3)]
    data = "PING one\n" + "".join(f"CHAT {b.name} {x}\n" for x in texts) + "PING two\n"
    a.send_raw(data.encode(), replies=5, what="5 lines in one write")
    if a.reply(Outcome.PONG).text != "one":
        raise CaseFailed("first reply should be PONG-224 one")
    for _ in texts:
        a.reply(Outcome.SENT)
    if a.reply(Outcome.PONG).text != "two":
        raise CaseFailed("last reply should be PONG-224 two")
    for x in texts:
        b.expect(Message(sender=a.name, address="@", text=x))
    b.quiet()


@case(
    "framing/crlf", "2.1", "CRLF works like LF", needs=[Cap.GRAMMAR, Cap.CRLF, Cap.DM]
)
def crlf(t: Trial) -> None:
    a, b = t.users(2)
    text = t.text("crlf")
    a.send_raw(f"PING tok\r\nCHAT {b.name} {text}\r\n".encode(), replies=2, what="CRLF")
    if a.reply(Outcome.PONG).text != "tok":
        raise CaseFailed("the CR before LF was not dropped from PING's token")
    a.reply(Outcome.SENT)
    b.expect(Message(sender=a.name, address="@", text=text), "the text without its CR")
    a.send_raw(b"PING mixed\nPING crlf\r\n", replies=2, what="LF then CRLF")
    got = [a.reply(Outcome.PONG).text, a.reply(Outcome.PONG).text]
    if got != ["mixed", "crlf"]:
        raise CaseFailed(f"LF and CRLF lines mixed: tokens {got}")
    b.quiet()


def max_line(t: Trial) -> int:
    return int(t.limit("max-line"))


@case(
    "framing/overlong-line",
    "2.2",
    "a line over max-line is answered ERRO-707 and the connection stays",
    needs=[Cap.GRAMMAR, Cap.LINE_ERRORS, Cap.DM],
)
def overlong(t: Trial) -> None:
    a, b = t.users(2)
    limit = max_line(t)
    head = f"CHAT {b.name} {t.prefix} "
    line = head + "x" * (limit - len(head))  # limit + 1 bytes with the LF
    a.send_raw(line.encode() + b"\n", replies=1, what="line of max-line + 1 bytes")
    a.reply(Outcome.LINE_TOO_LONG)
    a.do(Ping(token="after"), Outcome.PONG)
    b.quiet("the overlong line must be discarded")


@case(
    "framing/longest-line",
    "2.2",
    "a line of exactly max-line bytes is accepted whole",
    needs=[Cap.GRAMMAR, Cap.DM],
)
def longest(t: Trial) -> None:
    a, b = t.users(2)
    limit = max_line(t)
    head = f"CHAT {b.name} "
    text = t.prefix + "y" * (limit - 1 - len(head) - len(t.prefix))
    a.send_raw((head + text).encode() + b"\n", replies=1, what="line of max-line bytes")
    a.reply(Outcome.SENT)
    b.expect(Message(sender=a.name, address="@", text=text), "the whole long text")


@case(
    "framing/unterminated",
    "2.3",
    "max-unterminated bytes with no line end close with CLOSING line-too-long",
    needs=[Cap.GRAMMAR, Cap.CLOSING],
)
def unterminated(t: Trial) -> None:
    s = t.connect()
    # Exactly max-unterminated: the server has read everything when it
    # closes, so its close is a clean FIN and the CLOSING line is not lost to
    # a reset.
    size = int(t.limit_or("max-unterminated", 8192))
    s.send_raw(b"z" * size, what=f"{size} bytes without LF")
    s.expect_closed("line-too-long")


# More than loopback's socket buffers hold (a few MB), so the server decides
# to close while the client is still sending.
_FLOOD = 20_000_000


@case(
    "framing/closing-while-sending",
    "7.4",
    "CLOSING line-too-long reaches a client still sending (no reset)",
    needs=[Cap.GRAMMAR, Cap.CLOSING],
)
def closing_while_sending(t: Trial) -> None:
    s = t.connect()
    try:
        s.send_raw(b"z" * _FLOOD, what=f"{_FLOOD} bytes without LF")
    except CaseFailed as exc:
        raise CaseFailed(
            f"{exc}: the server reset the connection while the client was "
            "still sending, instead of reading and dropping the rest (7.4)"
        ) from None
    s.expect_closed("line-too-long")


@case(
    "framing/invalid-utf8",
    "2.4",
    "a line that is not UTF-8 is answered ERRO-708 and the connection stays",
    needs=[Cap.GRAMMAR, Cap.LINE_ERRORS, Cap.DM],
)
def invalid_utf8(t: Trial) -> None:
    a, b = t.users(2)
    bad = f"CHAT {b.name} {t.prefix} ".encode() + b"\xff\xfe\xc3(\n"
    a.send_raw(bad, replies=1, what="invalid UTF-8")
    a.reply(Outcome.BAD_ENCODING)
    a.send_raw(b"PING \xed\xa0\x80\n", replies=1, what="an encoded surrogate")
    a.reply(Outcome.BAD_ENCODING)
    a.do(Ping(token="ok"), Outcome.PONG)
    b.quiet("a line that is not UTF-8 must be discarded")


@case(
    "framing/blank-lines",
    "2.5",
    "empty and all-space lines get no reply",
    needs=[Cap.GRAMMAR],
)
def blank(t: Trial) -> None:
    s = t.connect()
    s.send_raw(b"\n   \n\r\n", what="blank lines")
    reply = s.do(Ping(token="after"), Outcome.PONG)
    if reply.text != "after":
        raise CaseFailed(
            f"blank lines drew a reply: first reply {reply.code} {reply.text!r}"
        )


@case(
    "bad-input/garbage-mix",
    "11",
    "each kind of bad input gets its answer, in order, and the connection stays",
    needs=[Cap.GRAMMAR, Cap.LINE_ERRORS],
)
def garbage(t: Trial) -> None:
    s = t.connect()
    limit = max_line(t)
    lines = [
        (b"NOSUCHVERB x", Outcome.UNKNOWN_COMMAND),
        (b"JUNTAR", Outcome.INVALID_ARGS),
        (b"x" * limit, Outcome.LINE_TOO_LONG),
        (b"PING \x80", Outcome.BAD_ENCODING),
        (b"APELIDO a\x01b", Outcome.INVALID_ARGS),
        (b"LISTA", Outcome.NOT_LOGGED_IN),
        (b"\x00\x00", Outcome.UNKNOWN_COMMAND),
    ]
    s.send_raw(b"".join(line + b"\n" for line, _ in lines), replies=len(lines))
    for line, outcome in lines:
        s.reply(outcome, what=repr(line[:20]))
    s.do(Ping(token="still"), Outcome.PONG)
    u = t.user()
    u.do(Send(target=u.name or "", text=t.text()), Outcome.SENT)
