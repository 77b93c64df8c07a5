"""What sessions say to each other: CHAT, rooms, WHO, and the small verbs
(PING, HELP, SAIR)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from itertools import repeat

from ._codec import deliver
from ._core import CoreBase
from ._events import (
    Chat,
    Help,
    Join,
    Joined,
    Message,
    Part,
    Ping,
    Quit,
    Reply,
    Rooms,
    Who,
)
from ._grammar import line, unknown
from ._lists import budget, page
from ._names import fold
from ._replies import (
    BYE,
    DELIVERED,
    HELP,
    JOINED,
    NOT_MEMBER,
    NOT_SENT,
    PARTED,
    PONG,
    ROOMS,
    TOO_MANY_ROOMS,
    UNKNOWN_COMMAND,
    USERS,
)
from ._session import Output, Room, Session
from ._table import CODES, help_text, lookup

log = logging.getLogger("libbatchat.server")


class RoomCommands(CoreBase):
    """Messages, rooms and the lists of who and what is there."""

    def _who(self, session: Session, cmd: Who, now: float, out: Output) -> Reply:
        members: list[Session]
        room_key = None if cmd.room in (None, "*") else fold(cmd.room)
        if room_key is None:
            members = list(self._online.values())
        else:
            room = self._rooms.get(room_key)
            members = list(room.members) if room is not None else []
        pairs = [(m._key, m._name) for m in members]
        if self.cluster is not None:
            pairs += self.cluster.who(room_key)
        after = fold(cmd.after) if cmd.after is not None else None
        names = [name for key, name in sorted(pairs) if after is None or key > after]
        text = page(names, budget(self.limits.max_line, CODES[USERS].tag))
        return Reply(code=USERS, text=text)

    def _list_rooms(
        self, session: Session, cmd: Rooms, now: float, out: Output
    ) -> Reply:
        after = fold(cmd.after) if cmd.after is not None else None
        counts = {k: (r.display, len(r.members)) for k, r in self._rooms.items()}
        if self.cluster is not None:
            counts = self.cluster.rooms(counts)
        items = (
            f"{display}={members}"
            for key, (display, members) in sorted(counts.items())
            if after is None or key > after
        )
        text = page(items, budget(self.limits.max_line, CODES[ROOMS].tag))
        return Reply(code=ROOMS, text=text)

    def _chat(self, session: Session, cmd: Chat, now: float, out: Output) -> Reply:
        target = cmd.target
        recipients: list[Session]
        if target == "*":
            address = "*"
            recipients = [s for s in self._online.values() if s is not session]
        elif target.startswith("#"):
            room = self._rooms.get(fold(target))
            if room is None or session not in room.members:
                return Reply(code=NOT_SENT, text=f"you are not in {target}")
            address = room.display
            # Copied and the sender taken out in C: a room of 1,000 costs no
            # Python loop here.
            others = room.members.copy()
            del others[session]
            recipients = list(others)
        else:
            other = self._online.get(fold(target))
            address = "@"
            if other is not None:
                recipients = [other]
                if other is not session:
                    self._contacts.exchanged(session, session._key, other, other._key)
            elif self.cluster is not None and self.cluster.remote(fold(target)):
                recipients = []
                self.cluster.contact(session, fold(target))
            else:
                return Reply(code=NOT_SENT, text=f"{target} is not online")
        stamp = self._wall()
        if self._dialect_sessions:
            message = Message(
                sender=session._name,
                address=address,
                time=datetime.fromtimestamp(stamp, tz=UTC),
                text=cmd.text,
            )
            deliver(out.sends, message, recipients)
        else:
            data = line(
                Message.WORD, session._name, address, self._stamp(stamp), cmd.text
            )
            if len(recipients) == 1:
                out.sends.append((recipients[0], data))
            else:
                # zip() pairs them in C: no comprehension frame.
                out.sends.extend(zip(recipients, repeat(data)))
        self.messages_total += 1
        if self.cluster is not None and (address != "@" or not recipients):
            self.cluster.relay(target, session._name, address, stamp, cmd.text)
        return DELIVERED

    def _join(self, session: Session, cmd: Join, now: float, out: Output) -> Reply:
        key = fold(cmd.room)
        room = self._rooms.get(key)
        if key not in session._rooms:
            refused = self._room_limit(session, room is None)
            if refused is not None:
                return refused
        if room is None:
            display = cmd.room
            if self.cluster is not None:
                display = self.cluster.room_display(key, display)
            room = self._rooms[key] = Room(display)
        if session not in room.members:
            self._push(Joined, room.members, out, room=room.display, user=session._name)
            room.members[session] = None
            rooms = session._rooms
            if not isinstance(rooms, dict):
                rooms = session._rooms = {}
            rooms[key] = None
            if self.cluster is not None:
                self.cluster.joined(room.display, session)
            log.info("%s joined %s", session._name, room.display)
        return Reply(code=JOINED, text=room.display)

    def _room_limit(self, session: Session, new_room: bool) -> Reply | None:
        """ERRO-711 if joining one more (or a new) room passes a cap (10.8)."""
        lim = self.limits
        if len(session._rooms) >= lim.rooms_per_session:
            text = f"you are in {len(session._rooms)} rooms, the most allowed"
            return Reply(code=TOO_MANY_ROOMS, text=text)
        if new_room and len(self._rooms) >= lim.max_rooms:
            text = f"the server has {len(self._rooms)} rooms, the most it allows"
            return Reply(code=TOO_MANY_ROOMS, text=text)
        return None

    def _part(self, session: Session, cmd: Part, now: float, out: Output) -> Reply:
        key = fold(cmd.room)
        if key not in session._rooms:
            return Reply(code=NOT_MEMBER, text=f"you are not in {cmd.room}")
        display = self._rooms[key].display
        self._leave(session, key, out)
        return Reply(code=PARTED, text=display)

    def _ping(self, session: Session, cmd: Ping, now: float, out: Output) -> Reply:
        return Reply(code=PONG, text=cmd.token or "")

    def _help(self, session: Session, cmd: Help, now: float, out: Output) -> Reply:
        if cmd.command is None:
            return Reply(code=HELP, text=help_text())
        # "HELP /join" is what a newcomer from other chats types.
        verb = lookup(cmd.command.removeprefix("/"))
        if verb is None:
            return Reply(code=UNKNOWN_COMMAND, text=unknown(cmd.command))
        return Reply(code=HELP, text=help_text(verb))

    def _quit(self, session: Session, cmd: Quit, now: float, out: Output) -> None:
        self._reply(session, Reply(code=BYE, text="bye"), out)
        self._end(session, "quit", out)
        out.closes.append(session)
