"""Sections 4, 5 and 8: greeting, commands and session states."""

from __future__ import annotations

from libbatchat.conformance._engine import Trial, case
from libbatchat.conformance._model import (
    Action,
    Cap,
    Guest,
    Join,
    Joined,
    Leave,
    ListRooms,
    Login,
    Outcome,
    Ping,
    Pong,
    Quit,
    Register,
    Send,
    Who,
)
from libbatchat.conformance._session import CaseFailed, CaseSkipped, Session

KEYS = (
    "max-line",
    "burst",
    "rate",
    "ping",
    "ping-timeout",
    "login-timeout",
    "max-unterminated",
    "lines-before-login",
    "login-attempts",
    "login-window",
    "rooms-per-session",
    "max-rooms",
)


@case(
    "greeting/version-and-limits",
    "4.1",
    "the greeting names batchat/2 and its limits",
    needs=[Cap.GREETING],
)
def greeting(t: Trial) -> None:
    s = t.connect()
    g = s.greeting
    if g is None:
        raise CaseFailed("no greeting")
    if g.version != "batchat/2":
        raise CaseFailed(f"greeting should name batchat/2, not {g.version!r}")
    for key in KEYS:
        value = g.number(key)
        if value is None or value <= 0:
            raise CaseFailed(
                f"greeting key {key}: {g.limits.get(key)!r} is not a positive number"
            )


@case(
    "greeting/all-keys",
    "4.2",
    "every limit key is present in the greeting",
    needs=[Cap.GREETING],
)
def greeting_keys(t: Trial) -> None:
    g = t.connect().greeting
    missing = [k for k in KEYS if g is None or k not in g.limits]
    if missing:
        raise CaseFailed(f"greeting lacks {', '.join(missing)}")


@case(
    "commands/one-reply-each-in-order",
    "5",
    "every command gets exactly one reply, in the order sent",
    needs=[Cap.PING, Cap.ROOMS, Cap.WHO, Cap.DM],
)
def in_order(t: Trial) -> None:
    s = t.connect()
    room = t.room()
    plan: list[tuple[Action, Outcome]] = [
        (Who(), Outcome.NOT_LOGGED_IN),
        (Ping(token="1"), Outcome.PONG),
        (Guest(nick=t.name()), Outcome.NICK_OK),
        (Join(room=room), Outcome.JOINED),
        (Send(target=t.name(), text=t.text()), Outcome.NOT_SENT),
        (Pong(token="ignored"), Outcome.PONG),  # PONG draws no reply
        (Ping(token="2"), Outcome.PONG),
        (Leave(room=room), Outcome.PARTED),
        (Ping(token="3"), Outcome.PONG),
    ]
    for action, _ in plan:
        s.send(action)
    for action, outcome in plan:
        if isinstance(action, Pong):
            continue
        s.reply(outcome, what=type(action).__name__)
    s.quiet()


@case(
    "commands/register",
    "5.1",
    "NOVO creates an account without logging in",
    needs=[Cap.ACCOUNTS, Cap.ERROR_CODES],
)
def register(t: Trial) -> None:
    s = t.connect()
    user = t.name("Reg")
    s.do(Register(user=user, password="pw one"), Outcome.REGISTERED)
    s.do(Who(), Outcome.NOT_LOGGED_IN, what="LISTA right after NOVO")
    s.do(
        Register(user=user.upper(), password="x"),
        Outcome.NAME_TAKEN,
        what="NOVO, same name",
    )
    s.do(Register(user="bad!name", password="x"), Outcome.INVALID_ARGS)
    if Cap.GUEST in t.dialect.capabilities:
        g = t.guest("g")
        s.do(
            Register(user=g.name or "", password="x"),
            Outcome.NAME_TAKEN,
            what="NOVO, a guest's name",
        )
        # Accepted logged in too.
        g.do(Register(user=t.name(), password="pw two"), Outcome.REGISTERED)


def _login_refused(s: Session, user: str, password: str, what: str) -> None:
    reply = s.do(
        Login(user=user, password=password),
        Outcome.BAD_CREDENTIALS,
        Outcome.TOO_MANY_ATTEMPTS,
        what=what,
    )
    if reply.outcome is Outcome.TOO_MANY_ATTEMPTS:
        raise CaseSkipped(
            "this address is throttled for failed logins (10.5); to run it, "
            "wait out the server's login window or restart it"
        )


@case(
    "commands/login",
    "5.2",
    "ENTRAR logs in, and refuses what section 5.2 lists",
    needs=[Cap.ACCOUNTS, Cap.ERROR_CODES],
)
def login(t: Trial) -> None:
    user = t.name("Acc")
    a = t.connect("a")
    a.do(Register(user=user, password="right pw"), Outcome.REGISTERED)
    # Each refusal on a fresh connection, clear of the per-connection window.
    _login_refused(t.connect(), user, "wrong pw", "ENTRAR, wrong password")
    _login_refused(t.connect(), t.name(), "right pw", "ENTRAR, unknown user")
    reply = a.do(Login(user=user.lower(), password="right pw"), Outcome.LOGGED_IN)
    if reply.text != user:
        raise CaseFailed(
            f"PASS-214 should show the name as registered, {user!r}: {reply.text!r}"
        )
    a.do(Login(user=user, password="right pw"), Outcome.ALREADY_LOGGED_IN)
    # A name is online once: logging in again takes the session over (5.2),
    # where the dialect has that; otherwise it is refused.
    takeover = Cap.TAKEOVER in t.dialect.capabilities
    t.connect("b").do(
        Login(user=user, password="right pw"),
        Outcome.LOGGED_IN if takeover else Outcome.NAME_ONLINE,
        what="ENTRAR while online",
    )
    if takeover:
        a.expect_closed("taken-over")


@case(
    "commands/guest",
    "5.3",
    "APELIDO starts a guest session; a name online or owned is refused",
    needs=[Cap.GUEST, Cap.ERROR_CODES],
)
def guest(t: Trial) -> None:
    nick = t.name("Gst")
    a = t.connect("a")
    if a.do(Guest(nick=nick), Outcome.NICK_OK).text != nick:
        raise CaseFailed("PASS-218 should show the nickname")
    a.do(Guest(nick=t.name()), Outcome.ALREADY_LOGGED_IN)
    b = t.connect("b")
    b.do(Guest(nick=nick), Outcome.NAME_ONLINE, what="a name already online")
    if Cap.ACCOUNTS in t.dialect.capabilities:
        owned = t.name()
        b.do(Register(user=owned, password="pw"), Outcome.REGISTERED)
        b.do(Guest(nick=owned), Outcome.NAME_TAKEN, what="an account's name")
    b.do(Guest(nick=t.name()), Outcome.NICK_OK)


@case(
    "commands/who",
    "5.4",
    "LISTA shows exactly who is online, sorted",
    needs=[Cap.WHO, Cap.ROOMS, Cap.WHO_ROOM],
)
def who(t: Trial) -> None:
    a, b, c = t.users(3)
    names = a.do(Who(), Outcome.USERS).users
    ours = [n for n in names if n.startswith(t.prefix)]
    if sorted(ours, key=str.casefold) != sorted(
        [a.name or "", b.name or "", c.name or ""], key=str.casefold
    ):
        raise CaseFailed(f"LISTA should show {a.name}, {b.name}, {c.name}: {ours}")
    if list(names) != sorted(names, key=str.casefold):
        raise CaseFailed(f"LISTA is not sorted case-insensitively: {names}")
    c.do(Quit(), Outcome.BYE)
    c.wait_closed(t.timing.timeout)
    a.settle()
    names = a.do(Who(), Outcome.USERS).users
    if c.name in names:
        raise CaseFailed(f"{c.name} quit but LISTA still shows it: {names}")
    room = t.room()
    a.do(Join(room=room), Outcome.JOINED)
    members = b.do(Who(room=room), Outcome.USERS).users
    if members != (a.name,):
        raise CaseFailed(f"LISTA {room} should be exactly {a.name}: {members}")
    empty = b.do(Who(room=t.room()), Outcome.USERS).users
    if empty:
        raise CaseFailed(
            f"LISTA of a room that does not exist should be empty: {empty}"
        )


@case(
    "commands/chat-replies",
    "5.5",
    "CHAT answers CHAT-215 delivered, CHAT-216 not",
    needs=[Cap.DM, Cap.ROOMS],
)
def chat_replies(t: Trial) -> None:
    a, b = t.users(2)
    a.do(Send(target=b.name or "", text=t.text()), Outcome.SENT)
    a.do(
        Send(target=t.name(), text=t.text()),
        Outcome.NOT_SENT,
        what="CHAT to no one online",
    )
    room = t.room()
    b.do(Join(room=room), Outcome.JOINED)
    a.do(
        Send(target=room, text=t.text()),
        Outcome.NOT_SENT,
        what="CHAT to a room one is not in",
    )
    a.do(
        Send(target=t.room(), text=t.text()),
        Outcome.NOT_SENT,
        what="CHAT to a room that does not exist",
    )
    b.settle()
    b.quiet()


def _rooms(s: Session) -> dict[str, int]:
    reply = s.do(ListRooms(), Outcome.ROOMS)
    shown = [r for r, _ in reply.rooms]
    if shown != sorted(shown, key=str.casefold):
        raise CaseFailed(f"SALAS-221 is not sorted case-insensitively: {shown}")
    return dict(reply.rooms)


@case(
    "commands/rooms",
    "5.6",
    "SALAS lists rooms with their member counts",
    needs=[Cap.ROOMS, Cap.ROOM_LIST],
)
def rooms(t: Trial) -> None:
    a, b = t.users(2)
    room = t.room()
    a.do(Join(room=room), Outcome.JOINED)
    b.do(Join(room=room), Outcome.JOINED)
    if _rooms(a).get(room) != 2:
        raise CaseFailed(f"SALAS should show {room}=2")
    b.do(Leave(room=room), Outcome.PARTED)
    if _rooms(a).get(room) != 1:
        raise CaseFailed(f"SALAS should show {room}=1")


@case(
    "commands/join",
    "5.7",
    "JUNTAR creates and joins; joining again notifies no one",
    needs=[Cap.ROOMS, Cap.ROOM_NOTICES],
)
def join(t: Trial) -> None:
    a, b = t.users(2)
    room = t.room()
    if a.do(Join(room=room), Outcome.JOINED).text != room:
        raise CaseFailed(f"PASS-222 should show {room}")
    b.do(Join(room=room), Outcome.JOINED)
    a.expect(Joined(room=room, user=b.name))
    if b.do(Join(room=room), Outcome.JOINED).text != room:
        raise CaseFailed("joining again should answer PASS-222 with the room")
    a.quiet("joining a room one is in should notify no one")
    b.quiet()


@case(
    "commands/leave",
    "5.8",
    "DEIXAR leaves; a room with no members ceases to exist",
    needs=[Cap.ROOMS, Cap.ROOM_LIST, Cap.ERROR_CODES],
)
def leave(t: Trial) -> None:
    a = t.user()
    room = t.room()
    a.do(Leave(room=room), Outcome.NOT_MEMBER, what="DEIXAR a room one is not in")
    a.do(Join(room=room), Outcome.JOINED)
    if a.do(Leave(room=room), Outcome.PARTED).text != room:
        raise CaseFailed(f"PASS-223 should show {room}")
    if room.casefold() in {r.casefold() for r in _rooms(a)}:
        raise CaseFailed(f"{room} has no members left but SALAS still lists it")
    a.do(Leave(room=room), Outcome.NOT_MEMBER, what="DEIXAR twice")


@case("commands/ping", "5.9", "PING echoes its token, in any state", needs=[Cap.PING])
def ping(t: Trial) -> None:
    s = t.connect()
    for token in ("x", t.prefix, "!#$%&'()*+,-./:;<=>?@[]^_`{|}~"):
        if s.do(Ping(token=token), Outcome.PONG).text != token:
            raise CaseFailed(f"PONG-224 should echo {token!r}")
    if s.do(Ping(), Outcome.PONG).text != "":
        raise CaseFailed("PING without a token answers PONG-224 with empty text")
    s.do(Guest(nick=t.name()), Outcome.NICK_OK)
    if s.do(Ping(token="in"), Outcome.PONG).text != "in":
        raise CaseFailed("PING after login should echo its token")


@case(
    "commands/quit",
    "5.10",
    "SAIR is answered PASS-217, then the server closes",
    needs=[Cap.PING],
)
def quit_(t: Trial) -> None:
    s = t.connect()
    s.do(Quit(), Outcome.BYE)
    s.expect_closed(None)
    u = t.user()
    u.do(Quit(), Outcome.BYE)
    u.expect_closed(None)


@case("commands/pong", "5.11", "PONG gets no reply", needs=[Cap.PING, Cap.GRAMMAR])
def pong(t: Trial) -> None:
    s = t.connect()
    s.send(Pong(token="unasked"))
    if s.do(Ping(token="next"), Outcome.PONG).text != "next":
        raise CaseFailed("PONG drew a reply")


@case(
    "states/quit-before-greeting",
    "8.1",
    "SAIR sent before the greeting: greeting, PASS-217, close",
    needs=[Cap.GREETING],
)
def quit_early(t: Trial) -> None:
    s = t.connect(greet=False)
    s.send(Quit())
    s.reply(Outcome.BYE)
    if s.greeting is None:
        raise CaseFailed("PASS-217 came without a greeting first")
    s.expect_closed(None)


@case(
    "states/per-state-commands",
    "8.2",
    "login-only commands need login; nothing is answered after SAIR",
    needs=[Cap.ROOMS, Cap.ROOM_LIST, Cap.WHO, Cap.ERROR_CODES, Cap.GRAMMAR],
)
def per_state(t: Trial) -> None:
    s = t.connect()
    for action in (
        Who(),
        ListRooms(),
        Join(room=t.room()),
        Leave(room=t.room()),
        Send(target="*", text=t.text()),
    ):
        s.do(
            action, Outcome.NOT_LOGGED_IN, what=f"{type(action).__name__} before login"
        )
    s.do(Guest(nick=t.name()), Outcome.NICK_OK)
    s.do(Guest(nick=t.name()), Outcome.ALREADY_LOGGED_IN)
    s.do(Login(user=t.name(), password="pw"), Outcome.ALREADY_LOGGED_IN)
    s.send_raw(b"SAIR\nPING after\n", replies=1, what="SAIR then PING")
    s.reply(Outcome.BYE)
    s.wait_closed(t.timing.timeout)
    if s.pushes():
        raise CaseFailed(f"lines after PASS-217: {s.pushes()}")
