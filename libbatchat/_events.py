"""Events: what crosses the wire, as data.

One class per command verb, one per push, plus ``Reply``, ``Greeting`` and
``ConnectionClosed``. Every event is a frozen, slotted, keyword-only
dataclass that validates itself against the protocol table when built, so an
invalid event cannot exist: building one raises ``LocalProtocolError``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import ClassVar, TypeVar

from . import _names
from ._errors import LocalProtocolError
from ._table import (
    CODES,
    PROTOCOL_VERSION,
    PUSHES,
    VERBS,
    Arg,
    Code,
    Kind,
    Verb,
    allowed_codes,
)


def _validate(
    event: Event, args: tuple[Arg, ...], values: Mapping[str, object] | None = None
) -> None:
    """Check ``event``'s fields by their kinds (normalizing them); ``values``
    gives them instead, for an event made without its constructor."""
    for arg in args:
        value = getattr(event, arg.name) if values is None else values[arg.name]
        if value is not None or not arg.optional:
            try:
                value = _names.check(arg.kind, value)
            except ValueError as exc:
                raise LocalProtocolError(
                    f"{type(event).__name__}.{arg.name}: {exc}"
                ) from None
        object.__setattr__(event, arg.name, value)


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Base class of every event."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Command(Event):
    """A line a client sends; ``VERB`` names its row in the protocol table."""

    VERB: ClassVar[str]
    # VERBS[VERB] and allowed_codes() of it, set below for each command
    # class: read for every line.
    SPEC: ClassVar[Verb]
    ALLOWED: ClassVar[frozenset[int]]

    def __post_init__(self) -> None:
        _validate(self, self.spec().args)

    @classmethod
    def spec(cls) -> Verb:
        return VERBS[cls.VERB]


@dataclass(frozen=True, slots=True, kw_only=True)
class Push(Event):
    """A line the server sends on its own; ``WORD`` is its first word."""

    WORD: ClassVar[str]

    def __post_init__(self) -> None:
        _validate(self, PUSHES[self.WORD].args)


C = TypeVar("C", bound=Command)

# Read for every reply built (an Enum member off its class costs a Python call).
_TEXT = Kind.TEXT
# Text its check keeps as it is (tests/test_parse_plain.py holds PLAIN to
# that): one match spares a reply the check's calls.
_PLAIN_TEXT = re.compile(_names.PLAIN[_TEXT])
# The greeting (100) is not a reply.
_REPLY_CODES = frozenset(CODES) - {100}


def parsed(cls: type[C], values: Mapping[str, object]) -> C:
    """A ``cls`` of ``values`` (one per argument), as the parser builds it.

    The same checks as ``cls(**values)``, without the dataclass's keyword
    __init__ and the extra calls around it: a server builds one per line.
    Who's default (``room`` '*' when only ``after`` is given) needs no
    applying: on the wire ``after`` cannot come without ``room``.
    """
    event = object.__new__(cls)
    _validate(event, cls.SPEC.args, values)
    return event


# -- commands -----------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Register(Command):
    VERB: ClassVar[str] = "NOVO"
    user: str
    password: str = field(repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Login(Command):
    VERB: ClassVar[str] = "ENTRAR"
    user: str
    password: str = field(repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Nick(Command):
    VERB: ClassVar[str] = "APELIDO"
    nick: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Who(Command):
    """``room`` None or '*': everyone online; ``after``: page on from there."""

    VERB: ClassVar[str] = "LISTA"
    room: str | None = None
    after: str | None = None

    def __post_init__(self) -> None:
        if self.after is not None and self.room is None:
            # On the wire a later argument needs the one before it.
            object.__setattr__(self, "room", "*")
        Command.__post_init__(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class Chat(Command):
    VERB: ClassVar[str] = "CHAT"
    target: str
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Rooms(Command):
    VERB: ClassVar[str] = "SALAS"
    after: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Join(Command):
    VERB: ClassVar[str] = "JUNTAR"
    room: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Part(Command):
    VERB: ClassVar[str] = "DEIXAR"
    room: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Ping(Command):
    VERB: ClassVar[str] = "PING"
    token: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Quit(Command):
    VERB: ClassVar[str] = "SAIR"


@dataclass(frozen=True, slots=True, kw_only=True)
class Help(Command):
    VERB: ClassVar[str] = "AJUDA"
    command: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Pong(Command):
    VERB: ClassVar[str] = "PONG"
    token: str


# -- pushes -------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Message(Push):
    """A message for you. ``address`` is '@' (direct), a '#room' or '*'."""

    WORD: ClassVar[str] = "FROM"
    sender: str
    address: str
    time: datetime
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Joined(Push):
    WORD: ClassVar[str] = "JOINED"
    room: str
    user: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Left(Push):
    WORD: ClassVar[str] = "LEFT"
    room: str
    user: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Online(Push):
    WORD: ClassVar[str] = "ONLINE"
    user: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Offline(Push):
    WORD: ClassVar[str] = "OFFLINE"
    user: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerPing(Push):
    """The server checks the client is there; answer with ``Pong``."""

    WORD: ClassVar[str] = "PING"
    token: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Closing(Push):
    """The server is about to close the connection; ``reason`` is a word."""

    WORD: ClassVar[str] = "CLOSING"
    reason: str
    text: str


# -- replies and the rest -----------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply(Event):
    """The one answer to a command: ``TAG-NNN text``; the code carries meaning.

    ``command`` is the command it answers; a client ``Connection`` fills it
    in. It does not take part in equality.
    """

    code: int
    text: str = ""
    command: Command | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.code not in _REPLY_CODES:
            raise LocalProtocolError(f"Reply.code: unknown reply code {self.code!r}")
        if self.text and _PLAIN_TEXT.fullmatch(self.text) is None:
            try:
                _names.check(_TEXT, self.text)
            except ValueError as exc:
                raise LocalProtocolError(f"Reply.text: {exc}") from None

    @property
    def info(self) -> Code:
        return CODES[self.code]

    @property
    def tag(self) -> str:
        return CODES[self.code].tag

    @property
    def ok(self) -> bool:
        return not CODES[self.code].is_error

    def _items(self, code: int) -> list[str]:
        if self.code != code:
            return []
        return [w for w in self.text.split() if not w.startswith("+")]

    @property
    def names(self) -> tuple[str, ...]:
        """The names in a user-list reply (LISTA-220)."""
        return tuple(self._items(220))

    @property
    def rooms(self) -> tuple[tuple[str, int], ...]:
        """The (room, members) pairs in a room-list reply (SALAS-221)."""
        pairs = (item.rpartition("=") for item in self._items(221))
        return tuple((room, int(n)) for room, _, n in pairs)

    @property
    def more(self) -> int:
        """How many items a list reply left out (its ``+N``; spec 5.4)."""
        if self.code not in (220, 221):
            return 0
        last = self.text.rpartition(" ")[2]
        return int(last[1:]) if last[:1] == "+" and last[1:].isdigit() else 0


_WHOLE = (
    "version",
    "max_line",
    "burst",
    "max_unterminated",
    "lines_before_login",
    "login_attempts",
    "rooms_per_session",
    "max_rooms",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Greeting(Event):
    """The server's first line: protocol version and the limits it enforces."""

    version: int = PROTOCOL_VERSION
    max_line: int
    burst: int
    rate: float
    ping: float
    ping_timeout: float
    login_timeout: float
    # Advertised since issue 7; the spec's defaults when a server omits them.
    max_unterminated: int = 8192
    lines_before_login: int = 100
    login_attempts: int = 3
    login_window: float = 60.0
    rooms_per_session: int = 50
    max_rooms: int = 5000

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise LocalProtocolError(f"Greeting.{f.name}: must be a number")
            if not (math.isfinite(value) and value > 0):
                raise LocalProtocolError(f"Greeting.{f.name}: must be positive")
        for name in _WHOLE:
            if not isinstance(getattr(self, name), int):
                raise LocalProtocolError(f"Greeting.{name}: must be a whole number")


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionClosed(Event):
    """The peer closed the connection (``receive_data(b"")``)."""


COMMAND_TYPES: dict[str, type[Command]] = {
    cls.VERB: cls
    for cls in (
        Register,
        Login,
        Nick,
        Who,
        Chat,
        Rooms,
        Join,
        Part,
        Ping,
        Quit,
        Help,
        Pong,
    )
}
for _verb, _cls in COMMAND_TYPES.items():
    _cls.SPEC = VERBS[_verb]
    _cls.ALLOWED = allowed_codes(_cls.SPEC)

PUSH_TYPES: dict[str, type[Push]] = {
    cls.WORD: cls
    for cls in (Message, Joined, Left, Online, Offline, ServerPing, Closing)
}
