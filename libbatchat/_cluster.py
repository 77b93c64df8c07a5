"""Several servers as one chat: what crosses nodes, without any I/O.

A ``Cluster`` given to ``ServerCore(cluster=...)`` makes its node one of many.
The node keeps its own sessions as before and a *view* of the other nodes'
users and room memberships (``View``, in libbatchat._cluster_view), built
from the events they publish. It talks to the other nodes only through
``outbox``, which the adapter carries out in order, one operation at a time:

- ``Publish(data)``: send ``data`` to every other node (a bus: Redis PUB/SUB);
- ``Claim(key)``: take the name ``key`` for this node, atomically across the
  cluster, then give the answer (True, False, or the exception) to
  ``claimed()``;
- ``Release(key)``: free the name ``key`` if this node holds it.

Data from the bus goes to ``receive()``; the bus's liveness of nodes goes to
``alive()`` (nodes missing from it are gone: their users leave); after the
bus was lost and is back, the adapter calls ``resync()``. Adapters run the
outbox in order, so a name is released before a later claim of it, and an
event is published after the claim it follows. Nothing here runs unless a
cluster is configured.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ._cluster_view import View
from ._dialects import CANONICAL
from ._errors import ProtocolError
from ._events import (
    Chat,
    Command,
    Join,
    Login,
    Message,
    Ping,
    Reply,
    Rooms,
    Who,
)
from ._grammar import line
from ._names import fold
from ._server import NAME_ONLINE, Job, Output, ServerCore, Session

log = logging.getLogger("libbatchat.cluster")


@dataclass(frozen=True, slots=True)
class Publish:
    data: bytes


@dataclass(frozen=True, slots=True, eq=False)
class Claim:
    key: str


@dataclass(frozen=True, slots=True)
class Release:
    key: str


Op = Publish | Claim | Release
# Heartbeats a takeover across nodes waits for the holder's node to answer
# before it is refused: past a dead node's expiry (ttl + heartbeat, 4 beats
# with the Redis adapter's defaults), so that case still ends in PASS-214.
TAKE_BEATS = 10
# What a claim's answer leads to: (ok or the exception) -> the reply, if any.
_Then = Callable[[object, Output], Reply | None]


class Cluster(View):
    """This node's part of a cluster: its view of the others and its outbox."""

    def __init__(self, node: str) -> None:
        if not node or any(c.isspace() for c in node):
            raise ValueError(f"bad node id {node!r}")
        super().__init__()
        self.node = node
        self.outbox: deque[Op] = deque()
        # Whether the bus is reachable: while it is not, nothing reaches the
        # other nodes, so a DM to one of their users is refused honestly.
        self.linked = True
        self._waiting: dict[Claim, tuple[Session, _Then]] = {}
        self._kept: dict[Claim, Session] = {}  # resync claims of names held
        # Replies held until our own events, published before them, come
        # back from the bus: by then the bus has handed them to every node,
        # so a client that is answered can count on the others being told.
        self._seq = 0
        self._looped = 0
        self._fences: deque[tuple[int, Session, Reply | Command]] = deque()
        self._resuming: Command | None = None
        # Logins taking over a user of another node: they wait for its OFFLINE.
        self._taking: dict[str, list[tuple[Session, Login, str]]] = {}
        # Heartbeats each takeover has waited through: the bus may have lost
        # the "take" (or the answer to it), so each one asks again.
        self._take_beats: dict[str, int] = {}
        # After a resync, the nodes whose state has not come yet: until it
        # has (or liveness is judged, a ttl later), reads of the cluster's
        # state wait, so nobody is answered from a view missing a node.
        self._awaited: set[str] = set()
        self._unsynced: list[tuple[Session, Command]] = []

    def attach(self, core: ServerCore) -> None:
        self._core = core
        self._hello()

    # -- from the adapter -------------------------------------------------------

    def claimed(self, claim: Claim, result: object) -> Output:
        """The answer to ``claim``: True (taken), False (held elsewhere), or
        the exception the bus raised."""
        out = Output()
        core = self.core
        kept = self._kept.pop(claim, None)
        if kept is not None:
            if result is False and kept.open and core._online.get(claim.key) is kept:
                # Taken while the bus was away: one of the two must go.
                core._close(
                    kept, "name-conflict", "your name is online on another server", out
                )
            return out
        waiting = self._waiting.pop(claim, None)
        if waiting is None:
            return out
        session, then = waiting
        if not session.open:
            if session._claim is not None:
                # A registration whose session went before its claim was answered.
                del core._claims[claim.key]
                session._claim = None
            if result is True:
                self.outbox.append(Release(claim.key))
            return out
        session._job = session._job_command = None
        reply = then(result, out)
        if reply is not None and not self.hold(session, reply):
            core._reply(session, reply, out)
        now = core._clock()
        core._pump(session, now, out)
        core._settle(session, now, out)
        return out

    def receive(self, data: bytes) -> Output:
        """An event another node published."""
        out = Output()
        try:
            event = json.loads(data)
            node = event["n"]
            if node == self.node:
                self._release(int(event["s"]), out)
                return out
            self._dispatch(event["k"], node, event, out)
        except (ValueError, KeyError, TypeError, AttributeError, ProtocolError) as exc:
            log.warning("ignored a bad cluster event %r: %s", data[:200], exc)
        return out

    def alive(self, nodes: Iterable[str]) -> Output:
        """The nodes the bus knows to be alive; the others' users leave."""
        out = Output()
        live = set(nodes)
        for node in sorted({n for _, n in self._users.values()} - live):
            log.warning("node %s is gone: its users leave", node)
            self._apply_state(node, [], {}, out)
        self._ask_again(out)
        # Liveness is judged a ttl after a resync at the earliest: a node
        # that has not sent its state by then is not waited for any longer.
        self._awaited.clear()
        self._resynced()
        return out

    def link(self, up: bool) -> Output:
        """The bus was lost (False) or is back (True; then ``resync()``)."""
        out = Output()
        if up != self.linked:
            log.warning("cluster bus %s", "back" if up else "unreachable")
        self.linked = up
        if not up:
            # What we published may never come back: answer what waits.
            self._awaited.clear()
            self._fences.extend((self._seq, s, c) for s, c in self._unsynced)
            self._unsynced.clear()
            self._release(self._seq, out)
            for key in list(self._taking):
                self._refuse_takers(key, out)
        return out

    def resync(self) -> None:
        """After the bus was lost: claim our names again and trade states."""
        for key, session in self.core._online.items():
            claim = Claim(key)
            self._kept[claim] = session
            self.outbox.append(claim)
        self._awaited = {n for _, n in self._users.values()}
        self._hello()

    def _hello(self) -> None:
        # Our state, and a request for everyone else's.
        self._publish(self._state())
        self._publish({"k": "hello"})

    # -- hooks of ServerCore ----------------------------------------------------

    def hold(self, session: Session, reply: Reply) -> bool:
        """Hold ``reply`` if events we published have not come back yet."""
        if not self.linked or self._looped >= self._seq:
            return False
        session._job = Job(session, lambda: None)
        self._fences.append((self._seq, session, reply))
        return True

    def sync(self, session: Session, command: Command) -> bool:
        """Hold a command that reads the cluster's state until a marker we
        publish now comes back: then every event published before it (by
        any node, to a client already answered) has been applied here."""
        if command is self._resuming:
            self._resuming = None
            return False
        if not self.linked or not self._reads(command):
            return False
        session._job = Job(session, lambda: None)
        if self._awaited:
            self._unsynced.append((session, command))
        else:
            self._publish({"k": "sync"})
            self._fences.append((self._seq, session, command))
        return True

    def _resynced(self) -> None:
        # The reads held for a resync wait, from now, only for a marker.
        if self._awaited or not self._unsynced:
            return
        self._publish({"k": "sync"})
        self._fences.extend((self._seq, s, c) for s, c in self._unsynced)
        self._unsynced.clear()

    def _reads(self, command: Command) -> bool:
        if isinstance(command, Chat):
            # Rooms and '*' are published anyway, in order; only a user on
            # another node must be looked up in a view that is up to date.
            target = command.target
            return target[0] not in "#*" and fold(target) not in self.core._online
        return isinstance(command, Who | Rooms | Join | Ping)

    def _release(self, seq: int, out: Output) -> None:
        self._looped = max(self._looped, seq)
        core = self.core
        fences = self._fences
        while fences and fences[0][0] <= self._looped:
            _, session, item = fences.popleft()
            if not session.open:
                continue
            session._job = None
            now = core._clock()
            if isinstance(item, Reply):
                core._reply(session, item, out)
            else:
                self._resuming = item
                if session.name is None:
                    session._lines -= 1  # counted when it first came
                core._process(session, item, now, out)
            core._pump(session, now, out)
            core._settle(session, now, out)

    def claim(self, session: Session, key: str, then: _Then) -> None:
        """Hold ``session``'s commands until ``key`` is claimed, then ``then``."""
        claim = Claim(key)
        # A placeholder job keeps the session's later lines waiting.
        session._job = Job(session, lambda: None)
        self._waiting[claim] = (session, then)
        self.outbox.append(claim)

    def take_over(self, session: Session, cmd: Login, name: str) -> None:
        """Ask the node holding ``name`` to close it; ``session`` logs in when
        its OFFLINE comes (or is refused if that node keeps it)."""
        session._job = Job(session, lambda: None)
        session._job_command = cmd
        key = fold(name)
        if key not in self._taking:
            self._take_beats[key] = 0
        self._taking.setdefault(key, []).append((session, cmd, name))
        self._ask_to_take(key, name, session.peer)

    def _ask_to_take(self, key: str, name: str, peer: str) -> None:
        # "h" names the node our view says holds it: only that one answers
        # a take of a name it does not hold (see _take()).
        self._publish({"k": "take", "u": name, "p": peer, "h": self._users[key][1]})

    def _ask_again(self, out: Output) -> None:
        """On a heartbeat: PUB/SUB delivers at most once, so a takeover still
        waiting asks again (a lost "take", "off" or "kept"), and one unanswered
        for ``TAKE_BEATS`` heartbeats is refused as if the name were kept."""
        for key in list(self._taking):
            takers = [t for t in self._taking[key] if t[0].open]
            if not takers:
                # Every login waiting has gone: the holder is left alone.
                del self._taking[key], self._take_beats[key]
                continue
            self._taking[key] = takers
            beats = self._take_beats[key] = self._take_beats[key] + 1
            if beats > TAKE_BEATS:
                log.warning("takeover of %s unanswered: refused", key)
                self._refuse_takers(key, out)
            else:
                session, _, name = takers[0]
                self._ask_to_take(key, name, session.peer)

    def _take(self, name: str, peer: str, asked: str | None, out: Output) -> None:
        core = self.core
        holder = core._online.get(fold(name))
        if holder is None:
            if asked == self.node:
                # Gone already, and our OFFLINE may be what the bus lost:
                # the taker hears it again (nodes whose view differs ignore it).
                self._publish({"k": "off", "u": name})
            return  # not ours: the holder's node answers
        if holder._account and holder.dialect == CANONICAL:
            text = f"logged in again from {peer}"
            core._close(holder, "taken-over", text, out)
        else:
            self._publish({"k": "kept", "u": name})

    def _resume_takers(self, key: str) -> None:
        core = self.core
        self._take_beats.pop(key, None)
        for session, cmd, name in self._taking.pop(key, ()):
            if session.open:
                session._job = None
                core._cluster_enter(session, cmd, name, "account")

    def _refuse_takers(self, key: str, out: Output) -> None:
        core = self.core
        self._take_beats.pop(key, None)
        for session, _, name in self._taking.pop(key, ()):
            if session.open:
                session._job = session._job_command = None
                reply = Reply(code=NAME_ONLINE, text=f"{name} is already online")
                core._reply(session, reply, out)
                now = core._clock()
                core._pump(session, now, out)
                core._settle(session, now, out)

    def release(self, key: str) -> None:
        self.outbox.append(Release(key))

    def contact(self, session: Session, key: str) -> None:
        """``session`` sent a direct message to ``key`` on another node; the
        recipient's node records the other half when the message arrives."""
        self.core._contacts.follow(session, key)

    def remote(self, key: str) -> bool:
        """Whether another node holds the user ``key`` and can be reached."""
        return self.linked and key in self._users

    def entered(self, session: Session) -> None:
        self._publish({"k": "on", "u": session._name})

    def ended(self, session: Session) -> None:
        self.outbox.append(Release(session._key))
        self._publish({"k": "off", "u": session._name})

    def joined(self, room: str, session: Session) -> None:
        self._publish({"k": "join", "r": room, "u": session._name})

    def left(self, room: str, session: Session) -> None:
        self._publish({"k": "part", "r": room, "u": session._name})

    def relay(
        self, target: str, sender: str, address: str, stamp: float, text: str
    ) -> None:
        """A message for users on other nodes (a DM, a room, or everyone)."""
        core = self.core
        data = line(Message.WORD, sender, address, core._stamp(stamp), text)
        text = data.decode("utf-8")
        if target == "*":
            self._publish({"k": "all", "l": text})
        elif target.startswith("#"):
            # Even when the view knows no member elsewhere: a join answered
            # on another node may not have reached this one yet, and its
            # member would miss a message sent after its reply (the view
            # lags the bus, and a room message is not held for a marker).
            self._publish({"k": "room", "r": fold(target), "l": text})
        else:
            self._publish({"k": "dm", "t": fold(target), "l": text})

    def shutdown(self) -> None:
        """This node goes: its names are freed and its users leave everywhere."""
        for key in self.core._online:
            self.outbox.append(Release(key))
        self._publish({"k": "state", "users": [], "rooms": {}})

    # -- events from other nodes --------------------------------------------------

    def _publish(self, event: dict[str, Any]) -> None:
        self._seq += 1
        event["n"] = self.node
        event["s"] = self._seq
        self.outbox.append(Publish(json.dumps(event).encode("utf-8")))

    def _state(self) -> dict[str, Any]:
        core = self.core
        rooms = {
            room.display: [m._name for m in room.members]
            for room in core._rooms.values()
        }
        users = [s._name for s in core._online.values()]
        return {"k": "state", "users": users, "rooms": rooms}

    def _dispatch(
        self, kind: str, node: str, event: dict[str, Any], out: Output
    ) -> None:
        if kind == "on":
            self._claimed_by(node, event["u"], out)
        elif kind == "off":
            self._off(node, fold(event["u"]), out)
        elif kind == "join":
            self._join(node, event["r"], fold(event["u"]), out)
        elif kind == "part":
            self._part(node, fold(event["r"]), fold(event["u"]), out)
        elif kind in ("dm", "room", "all"):
            self._deliver(kind, event, out)
        elif kind == "take":
            self._take(event["u"], event["p"], event.get("h"), out)
        elif kind == "kept":
            self._refuse_takers(fold(event["u"]), out)
        elif kind == "sync":
            pass  # another node's marker: it only matters to that node
        elif kind == "hello":
            self._publish(self._state())
        elif kind == "state":
            self._apply_state(node, event["users"], event["rooms"], out)
            self._awaited.discard(node)
            self._resynced()
        else:
            raise ValueError(f"unknown kind {kind!r}")

    def _off(self, node: str, key: str, out: Output) -> bool:
        if not super()._off(node, key, out):
            return False
        self._resume_takers(key)
        return True
