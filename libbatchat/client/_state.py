"""The chat state a client keeps: who I am, who is online, my rooms and members.

It is fed the replies and pushes the client sees and never talks to the
network itself. Names are keyed by their folded form (protocol.md 3.5) and
shown as the server displays them.
"""

from __future__ import annotations

from dataclasses import dataclass

from libbatchat._events import (
    Join,
    Joined,
    Left,
    Login,
    Message,
    Nick,
    Offline,
    Online,
    Part,
    Push,
    Reply,
    Who,
)
from libbatchat._names import fold

__all__ = ["ChatState", "Room"]


def _sorted(names: dict[str, str]) -> tuple[str, ...]:
    return tuple(sorted(names.values(), key=fold))


class Room:
    """A room I am in, and its members as far as I know them."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._members: dict[str, str] = {}

    @property
    def members(self) -> tuple[str, ...]:
        return _sorted(self._members)

    def __contains__(self, user: str) -> bool:
        return fold(user) in self._members

    def __repr__(self) -> str:
        return f"Room({self.name!r}, members={self.members!r})"


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A copy of the state at one moment, safe to hand to another thread."""

    me: str | None
    guest: bool
    online: tuple[str, ...]
    rooms: tuple[tuple[str, tuple[str, ...]], ...]  # (room, members), sorted


class ChatState:
    """Presence and rooms, from the replies and pushes a client receives."""

    def __init__(self) -> None:
        self.me: str | None = None
        self.guest = False
        self._online: dict[str, str] = {}
        self._rooms: dict[str, Room] = {}

    # -- reading ----------------------------------------------------------------

    @property
    def online(self) -> tuple[str, ...]:
        """The names known to be online, sorted; LISTA refreshes them."""
        return _sorted(self._online)

    def is_online(self, name: str) -> bool:
        return fold(name) in self._online

    @property
    def rooms(self) -> tuple[Room, ...]:
        """The rooms I am in, sorted by name."""
        return tuple(sorted(self._rooms.values(), key=lambda r: fold(r.name)))

    def room(self, name: str) -> Room | None:
        return self._rooms.get(fold(name))

    def is_me(self, name: str) -> bool:
        return self.me is not None and fold(name) == fold(self.me)

    def snapshot(self) -> Snapshot:
        return Snapshot(
            me=self.me,
            guest=self.guest,
            online=self.online,
            rooms=tuple((r.name, r.members) for r in self.rooms),
        )

    # -- feeding ----------------------------------------------------------------

    def reset(self) -> None:
        """A new connection: nothing is known until the server says so again."""
        self.me = None
        self.guest = False
        self._online.clear()
        self._rooms.clear()

    def on_reply(self, reply: Reply) -> None:
        command = reply.command
        if not reply.ok:
            if isinstance(command, Part) and reply.code == 706:
                self._rooms.pop(fold(command.room), None)
            return
        if isinstance(command, Login | Nick):
            self.me = reply.text
            self.guest = isinstance(command, Nick)
            self._online[fold(reply.text)] = reply.text
        elif isinstance(command, Join):
            key = fold(reply.text)
            if key not in self._rooms:
                self._rooms[key] = Room(reply.text)
            if self.me is not None:
                self._rooms[key]._members[fold(self.me)] = self.me
        elif isinstance(command, Part):
            self._rooms.pop(fold(reply.text), None)
        elif isinstance(command, Who):
            names = {fold(n): n for n in reply.names}
            if command.room is None:
                self._online = names
            elif (room := self.room(command.room)) is not None:
                room._members = names

    def on_push(self, push: Push) -> None:
        if isinstance(push, Online):
            self._online[fold(push.user)] = push.user
        elif isinstance(push, Offline):
            key = fold(push.user)
            self._online.pop(key, None)
            for room in self._rooms.values():
                room._members.pop(key, None)
        elif isinstance(push, Joined | Left):
            found = self.room(push.room)
            if found is None:
                return
            if isinstance(push, Joined):
                found._members[fold(push.user)] = push.user
            else:
                found._members.pop(fold(push.user), None)
        elif isinstance(push, Message):
            # A sender is online; this keeps completion useful even where the
            # server does not send ONLINE to everyone.
            self._online.setdefault(fold(push.sender), push.sender)
