"""The server core: sessions, presence, rooms and limits, without any I/O.

Adapters feed it bytes and time and carry out the ``Output`` it returns. Slow
work (password hashing, account storage) comes back as a ``Job`` that the
adapter runs in a worker thread before calling ``finish``; meanwhile later
lines of that session wait, so replies stay in order.

``ServerCore`` is put together from ``_core`` (state, input, presence,
timers), ``_login`` (names and accounts) and ``_rooms`` (messages and rooms);
this module holds the entry points adapters call.
"""

from __future__ import annotations

import heapq
import logging
import time
from collections.abc import Callable, KeysView
from typing import TYPE_CHECKING

from ._accounts import AccountStore
from ._codec import Codec
from ._config import Limits
from ._connection import Connection
from ._dialects import CANONICAL
from ._events import (
    Chat,
    Closing,
    Help,
    Join,
    Login,
    Nick,
    Part,
    Ping,
    Quit,
    Register,
    Reply,
    Rooms,
    Who,
)
from ._limits import SendQueueGuard
from ._login import LoginCommands
from ._names import fold
from ._replies import NAME_ONLINE
from ._rooms import RoomCommands
from ._session import Job, Output, Session
from ._stats import CoreStats, RoomStats, SessionStats

if TYPE_CHECKING:
    from ._cluster import Cluster

# Re-exported: adapters, the cluster and tests import them from here.
__all__ = ["NAME_ONLINE", "Job", "Output", "ServerCore", "Session"]

log = logging.getLogger("libbatchat.server")


class ServerCore(LoginCommands, RoomCommands):
    """All sessions, presence and rooms of one server. Not thread-safe."""

    def __init__(
        self,
        *,
        limits: Limits | None = None,
        accounts: AccountStore | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        cluster: Cluster | None = None,
    ) -> None:
        super().__init__(
            limits=limits, accounts=accounts, clock=clock, wall=wall, cluster=cluster
        )
        self._handlers = {
            Register: self._register,
            Login: self._login,
            Nick: self._nick,
            Who: self._who,
            Chat: self._chat,
            Rooms: self._list_rooms,
            Join: self._join,
            Part: self._part,
            Ping: self._ping,
            Quit: self._quit,
            Help: self._help,
        }
        if cluster is not None:
            cluster.attach(self)

    @property
    def sessions(self) -> KeysView[Session]:
        """The live sessions, oldest first."""
        return self._sessions.keys()

    def stats(self) -> CoreStats:
        """Sessions, rooms and counters now (for a monitor; changes nothing)."""
        rooms = sorted(self._rooms.items())
        return CoreStats(
            sessions=tuple(
                SessionStats(
                    id=s.id,
                    peer=s.peer,
                    name=s.name,
                    rooms=tuple(self._rooms[k].display for k in s._rooms),
                )
                for s in self._sessions
            ),
            rooms=tuple(
                RoomStats(name=r.display, members=tuple(m._name for m in r.members))
                for _, r in rooms
            ),
            connections=self.connections_total,
            messages=self.messages_total,
        )

    # -- entry points ---------------------------------------------------------

    def connect(self, peer: str, dialect: str = CANONICAL) -> tuple[Session, Output]:
        """A new session from ``peer`` speaking ``dialect`` (docs/dialects.md)."""
        now = self._clock()
        session = Session(next(self._ids), peer, self.limits, now, dialect)
        out = Output()
        cap = self.limits.max_connections
        if cap and len(self._sessions) >= cap:
            text = "too many connections to this server; try again later"
        elif not self._per_ip.acquire(peer):
            text = "too many connections from your address"
        else:
            text = ""
        if text:
            log.warning("refused connection from %s: %s", peer, text)
            closing = Closing(reason="too-many-connections", text=text)
            self._send(session, closing, out)
            session.open = False
            out.closes.append(session)
            return session, out
        self._sessions[session] = None
        self._dialect_sessions += dialect != CANONICAL
        self.connections_total += 1
        self._send(session, self._greeting, out)
        log.info(
            "session %d connected from %s%s",
            session.id,
            peer,
            "" if dialect == CANONICAL else f" ({dialect})",
        )
        self._settle(session, now, out)
        return session, out

    def receive(self, session: Session, data: bytes) -> Output:
        out = Output()
        if not session.open:
            return out
        now = self._clock()
        conn = session.connection
        if session._backlog is None and isinstance(conn, Connection):
            # The usual read: one whole line, with nothing before it. As
            # below, but with no buffer, nor a backlog unless it must wait.
            command = conn.receive_line(data)
            if command is not None:
                session._last_rx = now
                session._pinged = False
                if session._job is None and session._bucket.take(now):
                    self._process(session, command, now, out)
                else:
                    self._hold(session, command, len(data))
                self._settle(session, now, out)
                return out
        held = conn.buffered + len(data)
        conn.receive_data(data)
        self._drain(session, now, out)
        # Only a line that ended counts (spec 7.3): bytes of an unfinished
        # line are consumed by nothing, so a client trickling one byte at a
        # time never resets the ping timers (issue 7, row 10).
        if conn.buffered < held:
            session._last_rx = now
            session._pinged = False
        if isinstance(conn, Codec):
            session._waiting_since = now if conn.waiting else None
        self._pump(session, now, out)
        self._settle(session, now, out)
        return out

    def finish(self, job: Job, result: object) -> Output:
        out = Output()
        session = job.session
        if session._job is not job:
            return out
        command = session._job_command
        session._job = session._job_command = None
        if session._claim is not None:
            del self._claims[session._claim]
            if self.cluster is not None and isinstance(command, Register):
                self.cluster.release(fold(command.user))
            session._claim = None
        now = self._clock()
        if isinstance(command, Login):
            self._attempt_done(session, command, result)
        if not session.open:
            return out
        reply: Reply | None
        if isinstance(command, Register):
            reply = self._registered(session, command, result)
        elif isinstance(command, Login):
            reply = self._logged_in(session, command, result, out)
        else:
            assert isinstance(command, Nick)
            reply = self._nicked(session, command, result, out)
        if reply is not None:
            self._reply(session, reply, out)
        for joined in session._moved:
            self._send(session, joined, out)
        session._moved = ()
        self._pump(session, now, out)
        self._settle(session, now, out)
        return out

    def disconnect(self, session: Session) -> Output:
        out = Output()
        self._end(session, "connection lost", out)
        return out

    def send_queue(self, session: Session, queued: int) -> Output:
        out = Output()
        if not session.open:
            return out
        now = self._clock()
        lim = self.limits
        guard = session._send_queue or SendQueueGuard(
            lim.send_queue_hard, lim.send_queue_soft, lim.send_queue_soft_seconds
        )
        if guard.update(queued, now):
            self._close(session, "send-queue", "you read too slowly", out)
        else:
            # Kept only while it times something: most readers keep up.
            session._send_queue = guard if guard.over_since is not None else None
            self._settle(session, now, out)
        return out

    def tick(self) -> Output:
        out = Output()
        now = self._clock()
        heap = self._heap
        while heap and heap[0][0] <= now:
            when, session = heapq.heappop(heap)
            if not session.open or when != session._scheduled:
                continue
            session._scheduled = None
            self._timers(session, now, out)
            self._settle(session, now, out)
        return out

    def next_deadline(self) -> float | None:
        now = self._clock()
        heap = self._heap
        while heap:
            when, session = heap[0]
            heapq.heappop(heap)
            if not session.open or when != session._scheduled:
                continue
            # Entries are only ever early (a later deadline does not re-push),
            # so bring this one up to date before trusting it.
            session._scheduled = None
            self._schedule(session, now)
            if session._scheduled == when:
                return when
        return None

    def earliest_deadline(self) -> float | None:
        """A cheap lower bound of ``next_deadline()``: the heap's first entry.

        It may be stale (early), never late: an adapter whose timer is armed
        no later than this needs no re-arming; one that fires early finds
        nothing due and asks ``next_deadline()``.
        """
        return self._heap[0][0] if self._heap else None

    def shutdown(self, text: str = "server shutting down") -> Output:
        out = Output()
        if self.cluster is not None:
            self.cluster.shutdown()
        closing = Closing(reason="shutdown", text=text)
        # Everyone goes at once, so no one is told about anyone else leaving.
        for session in list(self._sessions):
            self._send(session, closing, out)
            out.closes.append(session)
            session.open = False
            self._per_ip.release(session.peer)
        log.info("shutdown: closed %d sessions", len(self._sessions))
        self._sessions.clear()
        self._dialect_sessions = 0
        self._online.clear()
        self._looks.clear()
        self._rooms.clear()
        self._heap.clear()
        return out
