"""The Tk room chat dialect (seed 004): ``SALA``, room then name, room
messages echoed to all, ``X Entrou na sala``; no framing, no PING.

Each trial's sessions share one room, named after the trial, so a room
message is the suite's message to everyone (``*``) and the room's join and
leave notices are its presence notices. There are no DMs and no way to quit
but closing the connection.
"""

from __future__ import annotations

import re
from typing import ClassVar

from libbatchat.conformance._model import (
    Action,
    Cap,
    Event,
    Guest,
    ListRooms,
    Message,
    Offline,
    Online,
    Outcome,
    Send,
    Unknown,
    Unsupported,
)

from ._classroom import Classroom

LIST = b"#LISTAR_SALAS#"


class ChatSocketDialect(Classroom):
    name: ClassVar[str] = "chatsocket"
    description: ClassVar[str] = "the Tk room chat (seed 004), no framing"
    capabilities: ClassVar[frozenset[Cap]] = frozenset(
        {Cap.GUEST, Cap.BROADCAST, Cap.PRESENCE}
    )
    starts: ClassVar[str] = r"SALA(?=\S| |$)|\[privado\] |\[todos\] "

    @property
    def room(self) -> str:
        return f"{self.prefix}sala"

    def parts(self, action: Action) -> list[bytes]:
        if isinstance(action, Guest):
            # Two sends, as the original client makes them, read apart.
            return [self.room.encode(), self.encode(action)]
        return [self.encode(action)]

    def spell(self, action: Action) -> bytes:
        match action:
            case Guest(nick=n):
                return n.encode()
            case Send(target="*", text=x):
                return x.encode()
            case ListRooms():
                return LIST + LIST
        raise Unsupported(repr(action))

    def probe_actions(self, name: str) -> list[Action]:
        return [Guest(nick=name)]

    def read(self, text: str, head: Action | None) -> Event:
        if text == "SALA":
            return Unknown(text)
        notice = re.fullmatch(r"(\S+) Entrou na sala", text)
        if notice:
            if isinstance(head, Guest) and notice[1] == head.nick:
                return self.welcome(head, text)
            return Online(user=notice[1])
        if text.startswith("O nome '"):
            return self.reply(Outcome.NAME_ONLINE, text)
        left = re.fullmatch(r"(\S+): Saiu da sala", text)
        if left:
            return Offline(user=left[1])
        if isinstance(head, ListRooms):
            return self.reply(Outcome.ROOMS, text)  # names only, no counts
        where, _, rest = text.partition("] ")
        address = {"[privado": "@", "[todos": "*"}.get(where)
        if address is None:
            address, rest = "*", text
        sender, colon, body = rest.partition(": ")
        if colon and " " not in sender:
            if sender == self.me and isinstance(head, Send) and head.text == body:
                return self.reply(Outcome.SENT, text)
            return Message(sender=sender, address=address, text=body)
        return Unknown(text)


DIALECT = ChatSocketDialect
