"""The canonical dialect: BatChat protocol 2 as docs/protocol.md writes it.

Written from the spec alone, deliberately not on top of libbatchat's parser:
a bug shared by the library and the suite would otherwise hide itself.
"""

from __future__ import annotations

import re
import unicodedata
from typing import ClassVar

from libbatchat.conformance._model import (
    Action,
    Cap,
    Closing,
    Event,
    Greeting,
    Guest,
    Help,
    Join,
    Joined,
    Leave,
    Left,
    ListRooms,
    Login,
    Malformed,
    Message,
    Offline,
    Online,
    Outcome,
    Ping,
    Pong,
    Quit,
    Register,
    Reply,
    Send,
    ServerPing,
    Unknown,
    Unsupported,
    Who,
)

from . import Dialect

# Section 6.1: the tag is fixed by the number.
CODES: dict[int, tuple[str, Outcome | None]] = {
    100: ("OLA", None),
    213: ("PASS", Outcome.REGISTERED),
    214: ("PASS", Outcome.LOGGED_IN),
    215: ("CHAT", Outcome.SENT),
    216: ("CHAT", Outcome.NOT_SENT),
    217: ("PASS", Outcome.BYE),
    218: ("PASS", Outcome.NICK_OK),
    220: ("LISTA", Outcome.USERS),
    221: ("SALAS", Outcome.ROOMS),
    222: ("PASS", Outcome.JOINED),
    223: ("PASS", Outcome.PARTED),
    224: ("PONG", Outcome.PONG),
    700: ("ERRO", Outcome.NOT_LOGGED_IN),
    701: ("ERRO", Outcome.ALREADY_LOGGED_IN),
    702: ("ERRO", Outcome.INVALID_ARGS),
    703: ("ERRO", Outcome.NAME_TAKEN),
    704: ("ERRO", Outcome.BAD_CREDENTIALS),
    705: ("ERRO", Outcome.NAME_ONLINE),
    706: ("ERRO", Outcome.NOT_MEMBER),
    707: ("ERRO", Outcome.LINE_TOO_LONG),
    708: ("ERRO", Outcome.BAD_ENCODING),
    709: ("ERRO", Outcome.TOO_MANY_ATTEMPTS),
    710: ("ERRO", Outcome.SERVER_ERROR),
    711: ("ERRO", Outcome.TOO_MANY_ROOMS),
    225: ("AJUDA", Outcome.HELP),
    999: ("ERRO", Outcome.UNKNOWN_COMMAND),
}

# Section 4.1: every key a greeting must carry.
GREETING_KEYS = ("max-line", "burst", "rate", "ping", "ping-timeout", "login-timeout")

_REPLY = re.compile(r"([A-Z]+)-([0-9]{3})(?: (.*))?", re.DOTALL)
_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z")
_REASON = re.compile(r"[a-z][a-z\-]*")
_MORE = re.compile(r"\+[1-9][0-9]*")
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?")


def _is_name(word: str) -> bool:
    """Section 3.4's name: letters, digits, ``_-.``, marks after the first."""
    if not 1 <= len(word) <= 32:
        return False
    for i, ch in enumerate(word):
        if ch.isalnum() or ch in "_-.":
            continue
        if i and unicodedata.category(ch).startswith("M"):
            continue
        return False
    return True


def _is_room(word: str) -> bool:
    return word.startswith("#") and _is_name(word[1:])


class CanonicalDialect(Dialect):
    name: ClassVar[str] = "canonical"
    description: ClassVar[str] = "BatChat protocol 2 (docs/protocol.md)"
    capabilities: ClassVar[frozenset[Cap]] = frozenset(Cap)

    def encode(self, action: Action) -> bytes:
        match action:
            case Register(user=u, password=p):
                line = f"NOVO {u} {p}"
            case Login(user=u, password=p):
                line = f"ENTRAR {u} {p}"
            case Guest(nick=n):
                line = f"APELIDO {n}"
            case Who(room=None, after=None):
                line = "LISTA"
            case Who(room=r, after=None):
                line = f"LISTA {r}"
            case Who(room=r, after=a):
                line = f"LISTA {r or '*'} {a}"
            case Send(target=t, text=x):
                line = f"CHAT {t} {x}"
            case ListRooms(after=None):
                line = "SALAS"
            case ListRooms(after=a):
                line = f"SALAS {a}"
            case Help(command=None):
                line = "AJUDA"
            case Help(command=c):
                line = f"AJUDA {c}"
            case Join(room=r):
                line = f"JUNTAR {r}"
            case Leave(room=r):
                line = f"DEIXAR {r}"
            case Ping(token=None):
                line = "PING"
            case Ping(token=t):
                line = f"PING {t}"
            case Pong(token=t):
                line = f"PONG {t}"
            case Quit():
                line = "SAIR"
            case _:
                raise Unsupported(repr(action))
        return line.encode() + b"\n"

    def decode(self, line: bytes) -> Event:
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            return Malformed(repr(line), "not valid UTF-8")
        if "\n" in text or "\r" in text:
            return Malformed(text, "line break inside a line")
        reply = _REPLY.fullmatch(text)
        if reply:
            return _reply(text, reply.group(1), int(reply.group(2)), reply.group(3))
        word, _, rest = text.partition(" ")
        decoder = _PUSHES.get(word)
        if decoder is None:
            # A word shaped like a verb is some push we do not know; anything
            # else is not a line of this protocol at all.
            if re.fullmatch(r"[A-Z]+", word):
                return Unknown(text)
            return Malformed(text, "neither a reply (TAG-NNN) nor a push")
        event = decoder(rest)
        return event if event is not None else Malformed(text, f"bad {word} push")


def _reply(line: str, tag: str, code: int, text: str | None) -> Event:
    known = CODES.get(code)
    if known is None:
        return Reply(outcome=None, text=text or "", code=f"{tag}-{code}")
    want_tag, outcome = known
    if tag != want_tag:
        return Malformed(line, f"code {code} must have tag {want_tag}, not {tag}")
    if code == 100:
        words = (text or "").split(" ")
        limits = {}
        for word in words[1:]:
            key, eq, value = word.partition("=")
            if eq:
                limits[key] = value
        return Greeting(version=words[0], limits=limits)
    body = text or ""
    if outcome in (Outcome.USERS, Outcome.ROOMS):
        return _list(line, body, f"{tag}-{code}", outcome)
    return Reply(outcome=outcome, text=body, code=f"{tag}-{code}")


def _list(line: str, body: str, code: str, outcome: Outcome) -> Event:
    """LISTA-220 / SALAS-221: items, then ``+N`` if N were left out (5.4)."""
    items = body.split(" ") if body else []
    more = 0
    if items and _MORE.fullmatch(items[-1]):
        more = int(items.pop()[1:])
    if outcome is Outcome.USERS:
        names = tuple(items)
        if not all(_is_name(n) for n in names):
            return Malformed(line, "LISTA-220 must hold names separated by one space")
        return Reply(outcome=outcome, text=body, code=code, users=names, more=more)
    rooms: list[tuple[str, int]] = []
    for item in items:
        room, eq, count = item.rpartition("=")
        if not (eq and _is_room(room) and count.isdigit()):
            return Malformed(line, f"SALAS-221 item {item!r} is not #room=members")
        rooms.append((room, int(count)))
    return Reply(outcome=outcome, text=body, code=code, rooms=tuple(rooms), more=more)


def _from(rest: str) -> Event | None:
    parts = rest.split(" ", 3)
    if len(parts) != 4:
        return None
    sender, address, time, text = parts
    if not _is_name(sender) or not _TIME.fullmatch(time) or not text:
        return None
    if address not in ("@", "*") and not _is_room(address):
        return None
    return Message(sender=sender, address=address, text=text, time=time)


def _room_user(rest: str) -> tuple[str, str] | None:
    parts = rest.split(" ")
    if len(parts) != 2 or not _is_room(parts[0]) or not _is_name(parts[1]):
        return None
    return parts[0], parts[1]


def _joined(rest: str) -> Event | None:
    pair = _room_user(rest)
    return Joined(room=pair[0], user=pair[1]) if pair else None


def _left(rest: str) -> Event | None:
    pair = _room_user(rest)
    return Left(room=pair[0], user=pair[1]) if pair else None


def _online(rest: str) -> Event | None:
    return Online(user=rest) if _is_name(rest) else None


def _offline(rest: str) -> Event | None:
    return Offline(user=rest) if _is_name(rest) else None


def _ping(rest: str) -> Event | None:
    ok = 0 < len(rest) <= 64 and " " not in rest
    return ServerPing(token=rest) if ok else None


def _closing(rest: str) -> Event | None:
    reason, _, text = rest.partition(" ")
    return Closing(reason=reason, text=text) if _REASON.fullmatch(reason) else None


_PUSHES = {
    "FROM": _from,
    "JOINED": _joined,
    "LEFT": _left,
    "ONLINE": _online,
    "OFFLINE": _offline,
    "PING": _ping,
    "CLOSING": _closing,
}


def is_number(value: str) -> bool:
    return bool(_NUMBER.fullmatch(value))


DIALECT = CanonicalDialect
