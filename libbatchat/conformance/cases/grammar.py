"""Sections 3 and 6: line grammar and replies."""

from __future__ import annotations

from libbatchat.conformance._engine import Trial, case
from libbatchat.conformance._model import (
    Action,
    Cap,
    Guest,
    Join,
    Message,
    Outcome,
    Ping,
    Register,
    Send,
    Who,
)
from libbatchat.conformance._session import CaseFailed

_ALIASES = [
    ("register", "REGISTER {u} pw word", Outcome.REGISTERED),
    ("nick", "nick {u}", Outcome.NICK_OK),
    ("who", "Who", Outcome.USERS),
    ("rooms", "ROOMS", Outcome.ROOMS),
    ("join", "join {r}", Outcome.JOINED),
    ("msg", "MSG {r} {x}", Outcome.NOT_SENT),
    ("part", "PART {r}", Outcome.PARTED),
    ("lista", "lista", Outcome.USERS),
    ("ping", "pInG t", Outcome.PONG),
    ("quit", "quit", Outcome.BYE),
]


@case(
    "grammar/verbs-and-aliases",
    "3.1",
    "verbs are case-insensitive and English aliases work",
    needs=[Cap.GRAMMAR],
)
def aliases(t: Trial) -> None:
    s = t.connect()
    room, other = t.room(), t.room()
    fill = {"r": room, "x": t.text()}
    for what, template, outcome in _ALIASES:
        line = template.format(u=t.name(), **fill)
        if what == "msg":
            # A member's message to an empty room is delivered (to no one);
            # send it to a room we are not in, for a stable answer.
            line = line.replace(room, other)
        s.send_raw(line.encode() + b"\n", replies=1, what=what)
        s.reply(outcome, what=line)
    s.expect_closed(None)


@case(
    "grammar/rest-of-line",
    "3.2",
    "the last argument is the rest of the line, spaces included",
    needs=[Cap.GRAMMAR, Cap.DM],
)
def rest_of_line(t: Trial) -> None:
    a, b = t.users(2)
    text = f" {t.prefix}  spaced  out "
    a.send_raw(f"CHAT {b.name} {text}\n".encode(), replies=1, what="CHAT with spaces")
    a.reply(Outcome.SENT)
    b.expect(Message(sender=a.name, address="@", text=text), "the text verbatim")
    text2 = t.text("gap")
    a.send_raw(
        f"CHAT   {b.name} {text2}\n".encode(), replies=1, what="CHAT, runs of spaces"
    )
    a.reply(Outcome.SENT)
    b.expect(Message(sender=a.name, address="@", text=text2), "runs of spaces skipped")
    b.quiet()


@case(
    "grammar/unknown-verb",
    "3.3",
    "an unknown verb is answered ERRO-999 and has no effect",
    needs=[Cap.GRAMMAR],
)
def unknown_verb(t: Trial) -> None:
    a, b = t.users(2)
    a.send_raw(f"SHOUT {b.name} {t.text()}\n".encode(), replies=1)
    a.reply(Outcome.UNKNOWN_COMMAND)
    b.quiet()


@case(
    "grammar/bad-arguments",
    "3.3",
    "missing, extra or invalid arguments are answered ERRO-702",
    needs=[Cap.GRAMMAR],
)
def bad_arguments(t: Trial) -> None:
    s = t.user()
    lines = [
        "JUNTAR",
        f"JUNTAR {t.prefix}noHash",
        "SALAS extra",
        "PING two words",
        f"DEIXAR {t.room()} extra",
        "CHAT",
        f"CHAT {s.name}",
        f"LISTA {t.prefix}noHash",
        "SAIR now",
    ]
    for line in lines:
        s.send_raw(line.encode() + b"\n", replies=1)
        reply = s.reply(Outcome.INVALID_ARGS, what=line)
        del reply
    s.do(Ping(token="ok"), Outcome.PONG)


@case(
    "grammar/argument-kinds",
    "3.4",
    "names, rooms, passwords and texts are validated as section 3.4 says",
    needs=[Cap.GRAMMAR, Cap.GUEST, Cap.DM],
)
def argument_kinds(t: Trial) -> None:
    s = t.connect()
    bad = [
        b"APELIDO " + b"n" * 33,
        b"APELIDO a b",
        b"APELIDO a!b",
        b"APELIDO \xcc\x81abc",  # a combining mark may not come first
        b"NOVO " + t.name().encode() + b" pass\x07word",
    ]
    for line in bad:
        s.send_raw(line + b"\n", replies=1)
        s.reply(Outcome.INVALID_ARGS, what=repr(line))
    # Letters of any script, digits, _-. and a combining mark after the first.
    nick = t.name("Çé_-.") + "e\u0301"
    reply = s.do(Guest(nick=nick), Outcome.NICK_OK)
    if reply.text not in (nick, "".join(nick[:-2]) + "\u00e9"):
        raise CaseFailed(f"PASS-218 should name {nick!r}: {reply.text!r}")
    s.name = reply.text
    s.send_raw(f"CHAT {s.name} a\x01b\n".encode(), replies=1, what="text with \\x01")
    s.reply(Outcome.INVALID_ARGS)
    tab = f"{t.prefix}\tTAB"
    s.do(Send(target=s.name, text=tab), Outcome.SENT)
    s.expect(Message(sender=s.name, address="@", text=tab), "a TAB is allowed in text")
    s.send_raw(f"CHAT {s.name} a\x85b\n".encode(), replies=1, what="text with U+0085")
    s.reply(Outcome.INVALID_ARGS)


@case(
    "grammar/case-insensitive-names",
    "3.5",
    "names and rooms compare case-insensitively and display as typed",
    needs=[Cap.GUEST, Cap.DM, Cap.ROOMS, Cap.WHO_ROOM, Cap.ERROR_CODES],
)
def case_insensitive(t: Trial) -> None:
    shown = t.name("MiXeD")
    a = t.guest("a", name=shown)
    b = t.user("b")
    a.settle()
    dup = t.connect("dup")
    dup.do(Guest(nick=shown.lower()), Outcome.NAME_ONLINE, what="same name, other case")
    text = t.text()
    b.do(Send(target=shown.upper(), text=text), Outcome.SENT)
    a.expect(Message(sender=b.name, address="@", text=text))
    room = "#" + t.name("RoOm")
    if a.do(Join(room=room), Outcome.JOINED).text != room:
        raise CaseFailed(f"PASS-222 should show {room!r}")
    joined = b.do(Join(room=room.lower()), Outcome.JOINED).text
    if joined != room:
        raise CaseFailed(
            f"joining {room.lower()!r} should show the creator's {room!r}: {joined!r}"
        )
    members = a.do(Who(room=room.upper()), Outcome.USERS).users
    if shown not in members:
        raise CaseFailed(
            f"LISTA {room.upper()} should show {shown!r} as typed: {members}"
        )


@case(
    "replies/shape",
    "3.6",
    "replies are TAG-NNN with the tag fixed by the number, pushes are not",
    needs=[Cap.GRAMMAR],
)
def reply_shape(t: Trial) -> None:
    # The dialect's decoder rejects a reply whose tag does not match its
    # number, and a line that is neither reply nor push; this case draws
    # replies with and without text.
    s = t.connect()
    reply = s.do(Ping(), Outcome.PONG)
    if reply.text:
        raise CaseFailed(
            f"PING without token should answer an empty PONG-224: {reply.text!r}"
        )
    s.do(Who(), Outcome.NOT_LOGGED_IN)
    s.send_raw(b"FOO\n", replies=1)
    s.reply(Outcome.UNKNOWN_COMMAND)


@case(
    "replies/error-codes",
    "6.1",
    "each error reply carries its number and tag",
    needs=[Cap.GRAMMAR, Cap.ERROR_CODES, Cap.ACCOUNTS, Cap.GUEST],
)
def error_codes(t: Trial) -> None:
    owner, online = t.name(), t.name()
    t.connect("reg").do(Register(user=owner, password="pw"), Outcome.REGISTERED)
    a = t.guest("a", name=online)
    s = t.connect()
    steps = [
        ("LISTA", "ERRO-700"),
        ("JUNTAR", "ERRO-702"),
        (f"APELIDO {owner}", "ERRO-703"),
        (f"ENTRAR {t.name()} nope", "ERRO-704"),
        (f"APELIDO {online}", "ERRO-705"),
        (f"APELIDO {t.name()}", "PASS-218"),
        (f"APELIDO {t.name()}", "ERRO-701"),
        (f"DEIXAR {t.room()}", "ERRO-706"),
        ("NOPE", "ERRO-999"),
    ]
    for line, code in steps:
        s.send_raw(line.encode() + b"\n", replies=1, what=line)
        reply = s.reply(what=line)
        if reply.code != code or reply.outcome is None:
            raise CaseFailed(
                f"{line!r}: expected {code}, got {reply.code} {reply.text!r}"
            )
    a.settle()


@case(
    "replies/line-level-order",
    "6.2",
    "line-level errors take their place in the reply order",
    needs=[Cap.GRAMMAR, Cap.LINE_ERRORS],
)
def line_level_order(t: Trial) -> None:
    s = t.connect()
    long = b"PING " + b"x" * max(1, int(t.limit("max-line")))
    data = (
        b"PING a\nNOPE\nPING b\n"
        + long
        + b"\nPING c\nPING \xff\nPING d\nJUNTAR\nPING e\n"
    )
    s.send_raw(data, replies=9, what="errors between PINGs")
    want = [
        (Outcome.PONG, "a"),
        (Outcome.UNKNOWN_COMMAND, None),
        (Outcome.PONG, "b"),
        (Outcome.LINE_TOO_LONG, None),
        (Outcome.PONG, "c"),
        (Outcome.BAD_ENCODING, None),
        (Outcome.PONG, "d"),
        (Outcome.INVALID_ARGS, None),
        (Outcome.PONG, "e"),
    ]
    for outcome, text in want:
        reply = s.reply(outcome)
        if text is not None and reply.text != text:
            raise CaseFailed(
                f"replies out of order: PONG-224 {reply.text!r}, expected {text!r}"
            )


@case(
    "replies/forms",
    "6.3",
    "replies whose text has a form follow it",
    needs=[Cap.ROOMS, Cap.PING, Cap.WHO, Cap.ROOM_LIST],
)
def forms(t: Trial) -> None:
    s = t.user()
    room = t.room()
    checks: list[tuple[Action, Outcome, str]] = [
        (Ping(token=f"{t.prefix}tok"), Outcome.PONG, f"{t.prefix}tok"),
        (Join(room=room), Outcome.JOINED, room),
    ]
    for action, outcome, text in checks:
        reply = s.do(action, outcome)
        if reply.text != text:
            raise CaseFailed(f"{reply.code} text should be {text!r}: {reply.text!r}")
    users = s.do(Who(room=room), Outcome.USERS).users
    if users != (s.name,):
        raise CaseFailed(f"LISTA {room} should be exactly {s.name!r}: {users}")
