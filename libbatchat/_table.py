"""The protocol table: every verb, reply code and push of BatChat protocol 2.

This is the single source of truth. The parser, the serializer, the events'
validation, the server's dispatch, the docs check and the Hypothesis
strategies all read it; nothing else lists verbs or codes.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

PROTOCOL_VERSION = 2
PROTOCOL_NAME = "batchat"


class Kind(enum.Enum):
    """What an argument holds; each kind has one validator in ``_names``."""

    NAME = "name"  # a user name: 1-32 letters, digits, _ - .
    ROOM = "room"  # '#' followed by a name
    TARGET = "target"  # a name, a room, or '*' (everyone)
    ADDRESS = "address"  # in a pushed message: '@' (you), a room, or '*'
    SCOPE = "scope"  # whom LISTA lists: a room, or '*' (everyone online)
    PASSWORD = "password"  # 1-256 characters, spaces allowed, no controls
    TEXT = "text"  # message text: non-empty, no control characters but TAB
    TOKEN = "token"  # 1-64 visible characters, no spaces
    REASON = "reason"  # a lowercase word with '-', e.g. 'ping-timeout'
    TIME = "time"  # UTC timestamp, ISO 8601 with milliseconds and 'Z'

    # Members are singletons, so identity hashes them, in C; Enum's own
    # __hash__ is a Python call, paid on every check of every argument.
    __hash__ = object.__hash__


@dataclass(frozen=True, slots=True)
class Arg:
    name: str
    kind: Kind
    optional: bool = False


@dataclass(frozen=True, slots=True)
class Code:
    code: int
    tag: str
    name: str
    meaning: str

    @property
    def is_error(self) -> bool:
        return self.tag == "ERRO" or self.code == 216


@dataclass(frozen=True, slots=True)
class Verb:
    """A command a client sends. The last argument takes the rest of the line."""

    verb: str
    alias: str | None
    args: tuple[Arg, ...]
    needs_login: bool
    replies: tuple[int, ...]  # the codes specific to this verb, success first
    summary: str
    help: str
    has_reply: bool = True

    @property
    def min_args(self) -> int:
        return sum(1 for a in self.args if not a.optional)

    @property
    def usage(self) -> str:
        return " ".join([self.verb, *self._arg_forms()])

    @property
    def form(self) -> str:
        """The usage with both spellings, as ERRO-702 and AJUDA-225 give it."""
        spellings = f"{self.verb}|{self.alias}" if self.alias else self.verb
        return " ".join([spellings, *self._arg_forms()])

    def _arg_forms(self) -> list[str]:
        forms = []
        for a in self.args:
            # A room is shown with its '#', so the usage says how one starts.
            name = {Kind.ROOM: f"#{a.name}", Kind.SCOPE: f"#{a.name}|*"}.get(
                a.kind, a.name
            )
            forms.append(f"[{name}]" if a.optional else f"<{name}>")
        return forms


@dataclass(frozen=True, slots=True)
class PushSpec:
    """A line the server sends on its own; never shaped like a reply."""

    word: str
    args: tuple[Arg, ...]
    summary: str


_CODES = (
    Code(100, "OLA", "GREETING", "server greeting: protocol version and limits"),
    Code(213, "PASS", "REGISTERED", "account created"),
    Code(214, "PASS", "LOGGED_IN", "logged in"),
    Code(215, "CHAT", "SENT", "message delivered"),
    Code(216, "CHAT", "NOT_SENT", "not delivered: target not online or not a member"),
    Code(217, "PASS", "BYE", "disconnected; the server closes the connection"),
    Code(218, "PASS", "NICK_OK", "guest session started under that nickname"),
    Code(220, "LISTA", "USERS", "the names online, separated by spaces"),
    Code(221, "SALAS", "ROOMS", "the rooms as #room=members, separated by spaces"),
    Code(222, "PASS", "JOINED", "joined the room"),
    Code(223, "PASS", "PARTED", "left the room"),
    Code(224, "PONG", "PONG", "liveness answer, echoing the token"),
    Code(225, "AJUDA", "HELP", "the commands, or how to use one"),
    Code(700, "ERRO", "NOT_LOGGED_IN", "this command needs a logged-in session"),
    Code(701, "ERRO", "ALREADY_LOGGED_IN", "this session is already logged in"),
    Code(702, "ERRO", "INVALID_ARGS", "invalid arguments"),
    Code(703, "ERRO", "NAME_TAKEN", "that name belongs to an account"),
    Code(704, "ERRO", "BAD_CREDENTIALS", "invalid user or password"),
    Code(705, "ERRO", "NAME_ONLINE", "that name is already online"),
    Code(706, "ERRO", "NOT_MEMBER", "not a member of that room"),
    Code(707, "ERRO", "LINE_TOO_LONG", "line too long; it was discarded"),
    Code(708, "ERRO", "BAD_ENCODING", "line is not valid UTF-8; it was discarded"),
    Code(709, "ERRO", "TOO_MANY_ATTEMPTS", "too many failed logins; try again later"),
    Code(710, "ERRO", "SERVER_ERROR", "the server failed to carry out the command"),
    Code(711, "ERRO", "TOO_MANY_ROOMS", "you, or the server, are at the room limit"),
    Code(999, "ERRO", "UNKNOWN_COMMAND", "unknown command"),
)

CODES: dict[int, Code] = {c.code: c for c in _CODES}

# Codes any line may be answered with, whatever its verb: they are about the
# line itself (framing, arguments, the server's own health), not the command.
LINE_CODES: tuple[int, ...] = (702, 707, 708, 710, 999)

GREETING_CODE = 100

_USER = Arg("user", Kind.NAME)
_PASSWORD = Arg("password", Kind.PASSWORD)
_ROOM = Arg("room", Kind.ROOM)

_VERBS = (
    Verb(
        "NOVO",
        "REGISTER",
        (_USER, _PASSWORD),
        needs_login=False,
        replies=(213, 703),
        summary="create an account",
        help="Create an account. The password is the rest of the line.",
    ),
    Verb(
        "ENTRAR",
        "LOGIN",
        (_USER, _PASSWORD),
        needs_login=False,
        replies=(214, 701, 704, 705, 709),
        summary="log in",
        help="Log in to an account. The password is the rest of the line.",
    ),
    Verb(
        "APELIDO",
        "NICK",
        (Arg("nick", Kind.NAME),),
        needs_login=False,
        replies=(218, 701, 703, 705),
        summary="start a guest session",
        help="Start a guest session under a nickname no account owns.",
    ),
    Verb(
        "LISTA",
        "WHO",
        (
            Arg("room", Kind.SCOPE, optional=True),
            Arg("after", Kind.NAME, optional=True),
        ),
        needs_login=True,
        replies=(220, 700),
        summary="who is online",
        help=(
            "List the names online (* or no room) or in a room; a long list "
            "ends +N: ask again after its last name."
        ),
    ),
    Verb(
        "CHAT",
        "MSG",
        (Arg("target", Kind.TARGET), Arg("text", Kind.TEXT)),
        needs_login=True,
        replies=(215, 216, 700),
        summary="send a message",
        help="Send text to a user (direct), a #room you are in, or * (everyone).",
    ),
    Verb(
        "SALAS",
        "ROOMS",
        (Arg("after", Kind.ROOM, optional=True),),
        needs_login=True,
        replies=(221, 700),
        summary="list rooms",
        help=(
            "List the rooms and how many members each has; a long list "
            "ends +N: ask again after its last room."
        ),
    ),
    Verb(
        "JUNTAR",
        "JOIN",
        (_ROOM,),
        needs_login=True,
        replies=(222, 700, 711),
        summary="join a room",
        help="Join a room, creating it if it does not exist.",
    ),
    Verb(
        "DEIXAR",
        "PART",
        (_ROOM,),
        needs_login=True,
        replies=(223, 700, 706),
        summary="leave a room",
        help="Leave a room you are in.",
    ),
    Verb(
        "PING",
        None,
        (Arg("token", Kind.TOKEN, optional=True),),
        needs_login=False,
        replies=(224,),
        summary="check the server answers",
        help="Ask the server to answer; it echoes the token.",
    ),
    Verb(
        "SAIR",
        "QUIT",
        (),
        needs_login=False,
        replies=(217,),
        summary="end the session",
        help="End the session; the server answers and closes the connection.",
    ),
    Verb(
        "AJUDA",
        "HELP",
        (Arg("command", Kind.TOKEN, optional=True),),
        needs_login=False,
        replies=(225,),
        summary="list the commands",
        help="List the commands, or say how to use one (HELP JOIN).",
    ),
    Verb(
        "PONG",
        None,
        (Arg("token", Kind.TOKEN),),
        needs_login=False,
        replies=(),
        summary="answer a server PING",
        help="Answer the server's PING push. It gets no reply.",
        has_reply=False,
    ),
)

VERBS: dict[str, Verb] = {v.verb: v for v in _VERBS}
# Every spelling a client may use, upper-cased, to its canonical verb.
SPELLINGS: dict[str, Verb] = {
    **{v.verb: v for v in _VERBS},
    **{v.alias: v for v in _VERBS if v.alias},
}

_PUSHES = (
    PushSpec(
        "FROM",
        (
            Arg("sender", Kind.NAME),
            Arg("address", Kind.ADDRESS),
            Arg("time", Kind.TIME),
            Arg("text", Kind.TEXT),
        ),
        "a message for you: '@' direct, '#room', or '*' everyone",
    ),
    PushSpec("JOINED", (_ROOM, _USER), "a user joined a room you are in"),
    PushSpec("LEFT", (_ROOM, _USER), "a user left a room you are in"),
    PushSpec("ONLINE", (_USER,), "a user logged in"),
    PushSpec("OFFLINE", (_USER,), "a user logged out or dropped"),
    PushSpec("PING", (Arg("token", Kind.TOKEN),), "the server checks you are there"),
    PushSpec(
        "CLOSING",
        (Arg("reason", Kind.REASON), Arg("text", Kind.TEXT)),
        "the server is closing your connection",
    ),
)

PUSHES: dict[str, PushSpec] = {p.word: p for p in _PUSHES}

# Reasons a CLOSING push may carry.
CLOSE_REASONS: dict[str, str] = {
    "shutdown": "the server is shutting down",
    "line-too-long": "8 KiB arrived without a line end",
    "too-many-lines": "too many lines before logging in",
    "login-timeout": "no login within the login timeout",
    "ping-timeout": "nothing received within the ping timeout",
    "send-queue": "the client reads too slowly; its send queue overflowed",
    "too-many-connections": "too many connections from this address, or in all",
    "taken-over": "the account logged in again on another connection",
}


def allowed_codes(verb: Verb) -> frozenset[int]:
    """Every code a reply to ``verb`` may carry."""
    return frozenset(verb.replies) | frozenset(LINE_CODES)


# The limits the greeting advertises, in order: key, meaning.
GREETING_KEYS: tuple[tuple[str, str], ...] = (
    ("max-line", "longest line accepted, in bytes, terminator included"),
    ("burst", "lines accepted at once before flood control delays them"),
    ("rate", "lines per second processed after the burst"),
    ("ping", "seconds of silence before the server sends PING"),
    ("ping-timeout", "seconds of silence before the server closes"),
    ("login-timeout", "seconds a connection may stay without logging in"),
    ("max-unterminated", "bytes without a line end that close the connection"),
    ("lines-before-login", "lines a connection may send before logging in"),
    ("login-attempts", "failed ENTRAR per connection within login-window"),
    ("login-window", "seconds over which login-attempts are counted"),
    ("rooms-per-session", "rooms one session may be in at once"),
    ("max-rooms", "rooms the server holds at once"),
)
# The keys every greeting carries since the first draft; the later ones may be
# missing from an older server's greeting, and a client then assumes the
# defaults of section 10.
GREETING_REQUIRED = frozenset(key for key, _ in GREETING_KEYS[:6])


def lookup(word: str) -> Verb | None:
    """The verb ``word`` spells, in any case; None if it is no verb."""
    # Only ASCII spellings: str.upper() maps some non-ASCII letters to ASCII
    # ones (U+017F long s -> 'S'), which would accept verbs nobody typed.
    return SPELLINGS.get(word.upper()) if word.isascii() else None


def help_text(verb: Verb | None = None) -> str:
    """AJUDA-225's text: every command, or how to use ``verb``."""
    if verb is None:
        forms = " ".join(v.form.split(" ")[0] for v in _VERBS if v.has_reply)
        return f"commands: {forms}; HELP <command> says how to use one"
    login = "needs login" if verb.needs_login else "works before login"
    return f"{verb.form}: {verb.help} ({login})"
