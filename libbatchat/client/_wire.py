"""Lines as they cross the wire, for the wire view; long messages split."""

from __future__ import annotations

from libbatchat._events import Chat, Event, Login, Register
from libbatchat._grammar import serialize

__all__ = ["split_message", "wire_line"]

MASK = "********"


def wire_line(event: Event) -> str:
    """The line the library writes (or read) for ``event``, passwords masked."""
    if isinstance(event, Login | Register):
        return f"{event.VERB} {event.user} {MASK}"
    return serialize(event).decode("utf-8").removesuffix("\n")


def split_message(target: str, text: str, max_line: int) -> list[Chat]:
    """``text`` for ``target`` as CHAT commands that each fit in ``max_line``.

    Each line of ``text`` is one message (blank ones are skipped); a line
    too long for the server is cut at the last space that fits, else at a
    character boundary, so nothing is lost and no UTF-8 sequence is split.
    """
    room = max_line - len(serialize(Chat(target=target, text="x"))) + 1
    if room < 1:
        raise ValueError(f"the server's max-line ({max_line}) leaves no room")
    commands: list[Chat] = []
    for line in text.splitlines():
        rest = line
        while rest.strip(" "):
            piece = _fit(rest, room)
            commands.append(Chat(target=target, text=piece))
            rest = rest[len(piece) :].lstrip(" ") if len(piece) < len(rest) else ""
    return commands


def _fit(line: str, room: int) -> str:
    """The longest head of ``line`` whose UTF-8 fits in ``room`` bytes."""
    if len(line.encode("utf-8")) <= room:
        return line
    cut = len(line.encode("utf-8")[:room].decode("utf-8", errors="ignore"))
    space = line.rfind(" ", 0, cut + 1)
    return line[:space] if space > 0 else line[:cut]
