"""What a cluster node knows of the other nodes: their users and rooms.

``View`` is the half of ``Cluster`` (libbatchat._cluster) that keeps the
other nodes' users, room memberships and room names, changes them as their
events come, and sends this node's sessions the notices a change causes
(spec 9.1), as a single server would. It neither publishes nor claims.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from ._codec import deliver
from ._events import Joined, Left, Message, Offline, Online, Push
from ._grammar import parse_server_line
from ._names import fold
from ._server import Output, ServerCore, Session
from ._skeleton import skeleton

__all__ = ["View"]

log = logging.getLogger("libbatchat.cluster")


class View:
    """The other nodes' users and rooms, as their events describe them."""

    def __init__(self) -> None:
        self._core: ServerCore | None = None
        self._users: dict[str, tuple[str, str]] = {}  # key -> (display, node)
        self._looks: dict[str, str] = {}  # skeleton -> display (spec 3.5)
        self._joined: dict[str, dict[str, None]] = {}  # user key -> room keys
        self._members: dict[str, dict[str, None]] = {}  # room key -> user keys
        self._room_names: dict[str, str] = {}  # room key -> display
        # Local sessions told a remote user LEFT since it last joined a room:
        # its OFFLINE, which follows its LEFTs, goes to them too (spec 9.1).
        self._mates: dict[str, dict[Session, None]] = {}

    @property
    def core(self) -> ServerCore:
        assert self._core is not None, "cluster not attached to a ServerCore"
        return self._core

    def looks_like(self, name: str) -> str | None:
        """The user another node reported online whose name ``name`` is or
        looks like (spec 3.5), if any."""
        return self._looks.get(skeleton(name))

    def room_display(self, key: str, display: str) -> str:
        return self._room_names.get(key, display)

    def who(self, room: str | None) -> list[tuple[str, str]]:
        """(key, display) of the other nodes' users (in ``room``)."""
        keys: Iterable[str] = (
            self._users if room is None else self._members.get(room, {})
        )
        return [(key, self._users[key][0]) for key in keys]

    def rooms(self, local: dict[str, tuple[str, int]]) -> dict[str, tuple[str, int]]:
        """Local rooms' (display, members) merged with the other nodes'."""
        merged = dict(local)
        for key, members in self._members.items():
            display, count = merged.get(key, (self._room_names[key], 0))
            merged[key] = (display, count + len(members))
        return merged

    def _local_sessions(self) -> Iterable[Session]:
        return self.core._online.values()

    def _notify(self, sessions: Iterable[Session], push: Push, out: Output) -> None:
        # Spelled in each session's dialect.
        deliver(out.sends, push, sessions)

    def _told(self, key: str) -> list[Session]:
        """Who hears of the remote user ``key`` coming or going (spec 9.1),
        decided while it is still counted: every local session while the
        cluster has at most ``presence_all`` users, else the local room mates
        told it left and the local sessions following it (DM contacts)."""
        core = self.core
        if len(core._online) + len(self._users) <= core.limits.presence_all:
            return list(core._online.values())
        told = self._mates.pop(key, {})
        told.update(dict.fromkeys(core._contacts.followers(key)))
        return list(told)

    def _claimed_by(self, node: str, name: str, out: Output) -> None:
        """``node`` won the claim of ``name`` (it publishes "on" only then).
        If the view still has the name on another node, that hold is stale:
        the bus freed it (its node is gone, and another node's heartbeat saw
        it first) or forgot it (a restart); that user leaves first."""
        key = fold(name)
        held = self._users.get(key)
        if held is not None and held[1] != node:
            self._off(held[1], key, out)
        self._on(node, name, out)

    def _on(self, node: str, name: str, out: Output) -> None:
        key = fold(name)
        if key in self._users or key in self.core._online:
            log.warning("%s reported online by node %s too: ignored", name, node)
            return
        self._users[key] = (name, node)
        self._looks[skeleton(name)] = name
        self._joined[key] = {}
        self._notify(self._told(key), Online(user=name), out)

    def _off(self, node: str, key: str, out: Output) -> bool:
        """``node``'s user ``key`` leaves the view; False if it was not there."""
        if self._users.get(key, ("", ""))[1] != node:
            return False
        for room in list(self._joined[key]):
            self._part(node, room, key, out)
        told = self._told(key)
        name, _ = self._users.pop(key)
        self._looks.pop(skeleton(name), None)
        del self._joined[key]
        self._notify(told, Offline(user=name), out)
        return True

    def _join(self, node: str, room: str, key: str, out: Output) -> None:
        if self._users.get(key, ("", ""))[1] != node:
            return
        rkey = fold(room)
        if rkey in self._joined[key]:
            return
        local = self.core._rooms.get(rkey)
        display = (
            local.display if local is not None else self._room_names.get(rkey, room)
        )
        self._room_names[rkey] = display
        self._members.setdefault(rkey, {})[key] = None
        self._mates.pop(key, None)
        self._joined[key][rkey] = None
        if local is not None:
            push = Joined(room=display, user=self._users[key][0])
            self._notify(local.members, push, out)

    def _part(self, node: str, rkey: str, key: str, out: Output) -> None:
        if self._users.get(key, ("", ""))[1] != node or rkey not in self._joined[key]:
            return
        del self._joined[key][rkey]
        members = self._members[rkey]
        del members[key]
        display = self._room_names[rkey]
        if not members:
            del self._members[rkey]
            del self._room_names[rkey]
        local = self.core._rooms.get(rkey)
        if local is not None:
            self._mates.setdefault(key, {}).update(local.members)
            push = Left(room=display, user=self._users[key][0])
            self._notify(local.members, push, out)

    def _deliver(self, kind: str, event: dict[str, Any], out: Output) -> None:
        message = parse_server_line(event["l"].rstrip("\n"))
        if not isinstance(message, Message):
            raise ValueError("not a message")
        core = self.core
        if kind == "all":
            self._notify(self._local_sessions(), message, out)
        elif kind == "room":
            room = core._rooms.get(event["r"])
            if room is not None:
                self._notify(room.members, message, out)
        else:
            target = core._online.get(event["t"])
            if target is not None:
                core._contacts.follow(target, fold(message.sender))
                self._notify([target], message, out)

    def _apply_state(
        self,
        node: str,
        users: list[str],
        rooms: dict[str, list[str]],
        out: Output,
    ) -> None:
        """Make the view of ``node`` what it reports, with the notices a
        change would have caused: leaves first, then arrivals."""
        wanted = {fold(u): u for u in users}
        memberships = {
            (fold(room), fold(user)): room
            for room, members in rooms.items()
            for user in members
        }
        mine = [k for k, (_, n) in self._users.items() if n == node]
        for key in mine:
            for rkey in list(self._joined[key]):
                if (rkey, key) not in memberships:
                    self._part(node, rkey, key, out)
            if key not in wanted:
                self._off(node, key, out)
        for key, name in wanted.items():
            if key not in self._users:
                self._on(node, name, out)
        for (_rkey, key), room in memberships.items():
            self._join(node, room, key, out)
