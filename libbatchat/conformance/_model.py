"""The suite's vocabulary: what a case does (actions) and sees (events).

Cases speak only these types; a dialect driver maps them to and from bytes.
Nothing here knows the canonical wire format.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

# The names the suite makes start with a run's id, "k" and four letters or
# digits, then the case's number and "x" (``_engine.run_id``, ``run``). A
# driver of an unframed dialect cuts merged reads before any such name, also
# those of other runs sharing the server.
SUITE_NAME = r"k[a-z0-9]{4}[0-9]{3}x[\w.-]*"


class Cap(enum.Enum):
    """A feature a dialect (and the server behind it) may or may not have."""

    ACCOUNTS = "accounts"  # register and log in with a password
    GUEST = "guest"  # a session under a nickname, without an account
    WHO = "who"  # list who is online
    WHO_ROOM = "who-room"  # list the members of one room
    DM = "dm"  # a message to one user
    BROADCAST = "broadcast"  # a message to everyone online
    ROOMS = "rooms"  # join, leave and talk in rooms
    ROOM_LIST = "room-list"  # list rooms with member counts
    ROOM_NOTICES = "room-notices"  # joined/left pushes to the other members
    PRESENCE = "presence"  # online/offline pushes to everyone
    PING = "ping"  # a command with a reply that echoes a token (the barrier)
    GREETING = "greeting"  # a first line advertising version and limits
    LINE_ERRORS = "line-errors"  # too long / bad UTF-8 answered, not fatal
    CRLF = "crlf"  # CR before LF is dropped
    GRAMMAR = "grammar"  # the canonical line grammar, so raw lines mean something
    ERROR_CODES = "error-codes"  # distinct errors (taken, online, credentials...)
    TIMESTAMPS = "timestamps"  # messages carry the server's time
    SERVER_PING = "server-ping"  # the server pings idle clients
    CLOSING = "closing"  # a push telling why the server closes
    LOGIN_LIMITS = "login-limits"  # login timeout, lines before login, throttling
    QUIT = "quit"  # a command that ends the session (else: close the socket)
    UNIQUE_NAMES = "unique-names"  # a name already online is refused
    HELP = "help"  # a command listing the commands
    NAME_RULES = "name-rules"  # invisible characters and look-alike names refused
    TAKEOVER = "takeover"  # logging in again takes an online session over
    PAGING = "paging"  # long lists come in pages that fit a line
    ROOM_LIMITS = "room-limits"  # rooms capped per session and in all


class Outcome(enum.Enum):
    """The meaning of a reply, whatever its spelling on the wire."""

    REGISTERED = "registered"
    LOGGED_IN = "logged-in"
    SENT = "sent"
    NOT_SENT = "not-sent"
    BYE = "bye"
    NICK_OK = "nick-ok"
    USERS = "users"
    ROOMS = "rooms"
    JOINED = "joined"
    PARTED = "parted"
    PONG = "pong"
    NOT_LOGGED_IN = "not-logged-in"
    ALREADY_LOGGED_IN = "already-logged-in"
    INVALID_ARGS = "invalid-args"
    NAME_TAKEN = "name-taken"
    BAD_CREDENTIALS = "bad-credentials"
    NAME_ONLINE = "name-online"
    NOT_MEMBER = "not-member"
    LINE_TOO_LONG = "line-too-long"
    BAD_ENCODING = "bad-encoding"
    TOO_MANY_ATTEMPTS = "too-many-attempts"
    SERVER_ERROR = "server-error"
    UNKNOWN_COMMAND = "unknown-command"
    HELP = "help"
    TOO_MANY_ROOMS = "too-many-rooms"


# --- actions: what a session asks the server to do ---------------------------


@dataclass(frozen=True, slots=True)
class Register:
    user: str
    password: str


@dataclass(frozen=True, slots=True)
class Login:
    user: str
    password: str


@dataclass(frozen=True, slots=True)
class Guest:
    nick: str


@dataclass(frozen=True, slots=True)
class Who:
    """``room`` None: everyone online; ``after``: the page after that name."""

    room: str | None = None
    after: str | None = None


@dataclass(frozen=True, slots=True)
class Send:
    """A message: ``target`` is a user name, a ``#room`` or ``*`` (everyone)."""

    target: str
    text: str


@dataclass(frozen=True, slots=True)
class ListRooms:
    after: str | None = None


@dataclass(frozen=True, slots=True)
class Help:
    command: str | None = None


@dataclass(frozen=True, slots=True)
class Join:
    room: str


@dataclass(frozen=True, slots=True)
class Leave:
    room: str


@dataclass(frozen=True, slots=True)
class Ping:
    token: str | None = None


@dataclass(frozen=True, slots=True)
class Pong:
    token: str


@dataclass(frozen=True, slots=True)
class Quit:
    pass


Action = (
    Register
    | Login
    | Guest
    | Who
    | Send
    | ListRooms
    | Help
    | Join
    | Leave
    | Ping
    | Pong
    | Quit
)


# --- events: what a session sees ---------------------------------------------


@dataclass(frozen=True, slots=True)
class Greeting:
    version: str
    limits: dict[str, str]

    def number(self, key: str) -> float | None:
        try:
            return float(self.limits[key])
        except (KeyError, ValueError):
            return None


@dataclass(frozen=True, slots=True)
class Reply:
    outcome: Outcome | None  # None: a code this dialect does not know
    text: str
    code: str  # as spelled on the wire, for messages ("PASS-214")
    users: tuple[str, ...] = ()
    rooms: tuple[tuple[str, int], ...] = ()
    more: int = 0  # a list reply's "+N": how many it left out


@dataclass(frozen=True, slots=True)
class Message:
    sender: str
    address: str  # "@" (to you), "#room" or "*"
    text: str
    time: str | None = None


@dataclass(frozen=True, slots=True)
class Joined:
    room: str
    user: str


@dataclass(frozen=True, slots=True)
class Left:
    room: str
    user: str


@dataclass(frozen=True, slots=True)
class Online:
    user: str


@dataclass(frozen=True, slots=True)
class Offline:
    user: str


@dataclass(frozen=True, slots=True)
class ServerPing:
    token: str


@dataclass(frozen=True, slots=True)
class Closing:
    reason: str
    text: str


@dataclass(frozen=True, slots=True)
class Unknown:
    """A well-formed line of a kind the dialect does not know; ignored."""

    line: str


@dataclass(frozen=True, slots=True)
class Malformed:
    """A line the dialect cannot parse: the server is broken."""

    line: str
    why: str


Push = Message | Joined | Left | Online | Offline | ServerPing | Closing | Unknown
Event = Greeting | Reply | Push | Malformed


def mentions(event: Event) -> tuple[str, ...]:
    """The names and texts an event is about, for telling ours from others'."""
    match event:
        case Message(sender=s, address=a, text=t):
            return (s, a, t)
        case Joined(room=r, user=u) | Left(room=r, user=u):
            return (r, u)
        case Online(user=u) | Offline(user=u):
            return (u,)
        case Closing() | Malformed() | Reply() | Greeting():
            return ()
        case _:
            return ()


class Unsupported(Exception):
    """The dialect cannot express this action."""
