"""The reply codes the server core answers with, by name, and shared texts."""

from __future__ import annotations

from ._events import Reply
from ._names import fold
from ._table import CODES

_CODE = {c.name: c.code for c in CODES.values()}
REGISTERED = _CODE["REGISTERED"]
LOGGED_IN = _CODE["LOGGED_IN"]
SENT = _CODE["SENT"]
NOT_SENT = _CODE["NOT_SENT"]
BYE = _CODE["BYE"]
NICK_OK = _CODE["NICK_OK"]
USERS = _CODE["USERS"]
ROOMS = _CODE["ROOMS"]
JOINED = _CODE["JOINED"]
PARTED = _CODE["PARTED"]
PONG = _CODE["PONG"]
NOT_LOGGED_IN = _CODE["NOT_LOGGED_IN"]
ALREADY_LOGGED_IN = _CODE["ALREADY_LOGGED_IN"]
NAME_TAKEN = _CODE["NAME_TAKEN"]
BAD_CREDENTIALS = _CODE["BAD_CREDENTIALS"]
NAME_ONLINE = _CODE["NAME_ONLINE"]
NOT_MEMBER = _CODE["NOT_MEMBER"]
TOO_MANY_ATTEMPTS = _CODE["TOO_MANY_ATTEMPTS"]
SERVER_ERROR = _CODE["SERVER_ERROR"]
HELP = _CODE["HELP"]
UNKNOWN_COMMAND = _CODE["UNKNOWN_COMMAND"]
TOO_MANY_ROOMS = _CODE["TOO_MANY_ROOMS"]


def resembles(name: str, other: str, same: str, alike: str) -> str:
    """ERRO-703/705 text: ``same`` if ``name`` is ``other``, else ``alike``
    (which names ``other``, so the user sees what it was mistaken for)."""
    return same if fold(name) == fold(other) else f"{name} looks like {alike}"


LOG_IN_FIRST = "log in with ENTRAR, NOVO or APELIDO; HELP explains them"

# Built once: every CHAT that reaches someone gets this very reply.
DELIVERED = Reply(code=SENT, text="delivered")
