"""The server core's state and the machinery every command shares.

``CoreBase`` holds the sessions, presence and rooms of one server; it parses
and paces each session's input, carries out the output helpers (reply, push,
close), presence (ONLINE, OFFLINE, LEFT) and the per-session timers. The
commands themselves live in ``_login`` and ``_rooms``; the entry points that
adapters call, in ``_server``.
"""

from __future__ import annotations

import heapq
import itertools
import logging
from collections.abc import Callable, Iterable
from itertools import repeat
from typing import TYPE_CHECKING, Any

from ._accounts import AccountStore, MemoryStore, dummy_record
from ._codec import PATIENCE, Codec, deliver
from ._config import Limits
from ._connection import NEED_DATA
from ._dialects import CANONICAL
from ._errors import RemoteProtocolError
from ._events import (
    Closing,
    Command,
    ConnectionClosed,
    Event,
    Greeting,
    Left,
    Offline,
    Online,
    Push,
    Reply,
    ServerPing,
)
from ._fifo import Fifo
from ._grammar import line
from ._limits import ConnectionCounter, KeyedWindows
from ._names import WallFormatter, fold
from ._presence import Contacts
from ._replies import (
    ALREADY_LOGGED_IN,
    LOG_IN_FIRST,
    NOT_LOGGED_IN,
    SERVER_ERROR,
)
from ._session import NO_ROOMS, Item, Output, Room, Session
from ._skeleton import skeleton

if TYPE_CHECKING:
    from ._cluster import Cluster

log = logging.getLogger("libbatchat.server")

Handler = Callable[[Session, Any, float, Output], Reply | None]


class CoreBase:
    """The state of one server, and what every command needs of it."""

    # Filled by ServerCore, which knows every command's handler.
    _handlers: dict[type[Command], Handler]

    def __init__(
        self,
        *,
        limits: Limits | None,
        accounts: AccountStore | None,
        clock: Callable[[], float],
        wall: Callable[[], float],
        cluster: Cluster | None,
    ) -> None:
        self.limits = limits if limits is not None else Limits()
        self.accounts: AccountStore = (
            accounts if accounts is not None else MemoryStore()
        )
        self._clock = clock
        self._wall = wall
        self._stamp = WallFormatter()
        lim = self.limits
        self._sessions: dict[Session, None] = {}
        # While no dialect session is connected, a push has one spelling.
        self._dialect_sessions = 0
        self._online: dict[str, Session] = {}
        self._rooms: dict[str, Room] = {}
        self._contacts: Contacts[Session] = Contacts()
        # Names being registered or taken as a guest while a Job runs: held
        # until finish(), even if the session is gone, so a guest can never
        # slip onto a name whose account is being created (and vice versa).
        self._claims: dict[str, str] = {}  # skeleton -> the name claimed
        # Online names by skeleton (spec 3.5), beside _online's exact keys.
        self._looks: dict[str, Session] = {}
        self._per_ip = ConnectionCounter(lim.max_per_ip, lim.exempt_loopback)
        self._ip_failures = KeyedWindows(lim.ip_login_attempts, lim.ip_login_window)
        self._heap: list[tuple[float, Session]] = []
        self._ids = itertools.count(1)
        self.connections_total = 0
        self.messages_total = 0
        self._dummy = dummy_record(n=lim.scrypt_n, r=lim.scrypt_r, p=lim.scrypt_p)
        self._greeting = Greeting(
            max_line=lim.max_line,
            burst=lim.burst,
            rate=lim.rate,
            ping=lim.ping_interval,
            ping_timeout=lim.ping_timeout,
            login_timeout=lim.login_timeout,
            max_unterminated=lim.max_unterminated,
            lines_before_login=lim.lines_before_login,
            login_attempts=lim.login_attempts,
            login_window=lim.login_window,
            rooms_per_session=lim.rooms_per_session,
            max_rooms=lim.max_rooms,
        )
        # Several nodes as one chat (libbatchat._cluster); None: this node
        # alone, and every hook below is one skipped test.
        self.cluster = cluster

    # -- input ----------------------------------------------------------------

    def _drain(self, session: Session, now: float, out: Output) -> None:
        # Parse every complete line now, so framing errors (8 KiB without a
        # line end) are caught at once even while flood control holds lines.
        conn = session.connection
        while True:
            before = conn.buffered
            try:
                event = conn.next_event()
            except RemoteProtocolError as exc:
                if exc.fatal:
                    # The lines that ended before the bad bytes are answered
                    # first, as they would be had the bad bytes come in a
                    # later read (spec 2.1): what flood control or a Job
                    # still holds dies with the session either way.
                    self._pump(session, now, out)
                    if session.open:
                        reason = exc.reason or "line-too-long"
                        self._close(session, reason, str(exc), out)
                    return
                item: Item = exc.reply_hint or Reply(code=SERVER_ERROR)
            else:
                if event is NEED_DATA:
                    return
                if isinstance(event, ConnectionClosed):
                    # The Connection is CLOSED now and can answer nothing, so
                    # lines still held back die with it, as on a drop.
                    self._end(session, "connection closed", out)
                    out.closes.append(session)
                    return
                assert isinstance(event, Command)
                item = event
            self._hold(session, item, max(0, before - conn.buffered))

    def _hold(self, session: Session, item: Item, size: int) -> None:
        """Queue ``item`` (``size`` bytes read) until flood control and any
        Job let it through."""
        if session._backlog is None:
            session._backlog = Fifo()
        session._backlog.append((item, size))
        session._backlog_bytes += size

    def _pump(self, session: Session, now: float, out: Output) -> None:
        backlog = session._backlog
        bucket = session._bucket
        while session.open and backlog and session._job is None:
            if not bucket.take(now):
                return
            item, size = backlog.popleft()
            session._backlog_bytes -= size
            self._process(session, item, now, out)
        if session._backlog is not None and not session._backlog:
            session._backlog = None

    def _process(self, session: Session, item: Item, now: float, out: Output) -> None:
        if session.name is None:
            session._lines += 1
            if session._lines > self.limits.lines_before_login:
                self._close(session, "too-many-lines", "log in first", out)
                return
        if isinstance(item, Reply):
            self._reply(session, item, out)
            return
        spec = item.SPEC
        if not spec.has_reply:
            return
        reply: Reply | None
        if (
            spec.needs_login
            and session.name is None
            and spec.verb not in session.open_verbs
        ):
            reply = Reply(code=NOT_LOGGED_IN, text=LOG_IN_FIRST)
        elif session.name is not None and ALREADY_LOGGED_IN in spec.replies:
            reply = Reply(code=ALREADY_LOGGED_IN, text=f"already {session.name}")
        elif self.cluster is not None and self.cluster.sync(session, item):
            return
        else:
            try:
                reply = self._handlers[type(item)](session, item, now, out)
            except Exception:
                log.exception("session %d: error handling %s", session.id, spec.verb)
                reply = Reply(code=SERVER_ERROR, text="internal error")
        if reply is not None:
            if self.cluster is not None and self.cluster.hold(session, reply):
                return
            self._reply(session, reply, out)

    # -- presence -------------------------------------------------------------

    def _enter(self, session: Session, name: str, kind: str, out: Output) -> None:
        session.name = session._name = name
        # Most names are their own key and skeleton: one string then, not
        # three equal ones per session.
        key, look = fold(name), skeleton(name)
        session._key = key = name if key == name else key
        session._skeleton = key if look == key else look
        session._account = kind == "account"
        if len(self._online) < self.limits.presence_all:
            told: Iterable[Session] = self._online.values()
        else:
            # A new session follows no one yet, so only those following the
            # name, from its earlier sessions, are told.
            told = self._contacts.followers(session._key)
        self._push(Online, told, out, user=name)
        self._online[session._key] = session
        self._looks[session._skeleton] = session
        if self.cluster is not None:
            self.cluster.entered(session)
        log.info("%s logged in (%s) from %s", name, kind, session.peer)

    def _leave(self, session: Session, key: str, out: Output) -> None:
        room = self._rooms[key]
        del room.members[session]
        rooms = session._rooms
        assert isinstance(rooms, dict)  # _join() made it
        del rooms[key]
        if not rooms:
            session._rooms = NO_ROOMS
        if room.members:
            self._push(Left, room.members, out, room=room.display, user=session._name)
        else:
            del self._rooms[key]
        if self.cluster is not None:
            self.cluster.left(room.display, session)
        log.info("%s left %s", session._name, room.display)

    def _end(self, session: Session, why: str, out: Output) -> None:
        """End a session: rooms first, then OFFLINE (spec 9.1)."""
        if not session.open:
            return
        session.open = False
        del self._sessions[session]
        self._dialect_sessions -= session.dialect != CANONICAL
        self._per_ip.release(session.peer)
        if session.name is not None:
            told = self._offline_told(session)
            for key in list(session._rooms):
                self._leave(session, key, out)
            del self._online[session._key]
            del self._looks[session._skeleton]
            self._contacts.forget(session)
            others = [other for other in told if other is not session]
            self._push(Offline, others, out, user=session._name)
            if self.cluster is not None:
                self.cluster.ended(session)
            log.info("%s logged out (%s)", session.name, why)
        log.info("session %d ended (%s)", session.id, why)

    def _offline_told(self, session: Session) -> Iterable[Session]:
        """Who gets ``session``'s OFFLINE (spec 9.1), decided before it leaves."""
        if len(self._online) <= self.limits.presence_all:
            return list(self._online.values())
        # Its room mates (told LEFT first) and those following its name,
        # each once.
        told: dict[Session, None] = {}
        for key in session._rooms:
            told.update(self._rooms[key].members)
        told.update(dict.fromkeys(self._contacts.followers(session._key)))
        return told

    def _close(self, session: Session, reason: str, text: str, out: Output) -> None:
        self._send(session, Closing(reason=reason, text=text), out)
        log.info("closing session %d: %s", session.id, reason)
        self._end(session, reason, out)
        out.closes.append(session)

    def _reply(self, session: Session, reply: Reply, out: Output) -> None:
        conn = session.connection
        data = conn.send(reply)
        if data:
            # As _send() does, without the call: once per command.
            out.sends.append((session, data))
        if isinstance(conn, Codec) and conn.hangup and session.open:
            # The dialect ends the session after this answer (a refused
            # nickname in minichat, say): as for SAIR, others are told.
            self._end(session, f"{session.dialect} hung up", out)
            out.closes.append(session)

    def _push(
        self,
        kind: type[Push],
        recipients: Iterable[Session],
        out: Output,
        **values: str,
    ) -> None:
        """Push ``kind`` with ``values`` (already valid, in table order).

        While only canonical sessions are connected, the line is written
        straight from the values, once for all recipients; a dialect session
        needs the event, to spell it its own way.
        """
        if self._dialect_sessions:
            deliver(out.sends, kind(**values), recipients)
        else:
            data = line(kind.WORD, *values.values())
            # zip() pairs them in C: no comprehension frame, per DM or room.
            out.sends.extend(zip(recipients, repeat(data)))

    def _send(self, session: Session, event: Event, out: Output) -> None:
        data = session.connection.send(event)
        if data:
            # A dialect may have nothing to say (no greeting in BatChat).
            out.sends.append((session, data))

    # -- time -----------------------------------------------------------------

    def _timers(self, session: Session, now: float, out: Output) -> None:
        lim = self.limits
        guard = session._send_queue
        if guard is not None and guard.expired(now):
            self._close(session, "send-queue", "you read too slowly", out)
            return
        if session.name is None and now >= session._connected_at + lim.login_timeout:
            self._close(session, "login-timeout", "you did not log in in time", out)
            return
        conn = session.connection
        since = session._waiting_since
        if isinstance(conn, Codec) and since is not None and now >= since + PATIENCE:
            out.sends.append((session, conn.give_up()))
            self._end(session, f"{session.dialect} gave up waiting", out)
            out.closes.append(session)
            return
        if session._paused or not session.keepalive:
            # We stopped reading it: its silence is ours, not the client's.
            # A dialect without PING cannot prove it is there: silence is fine.
            session._last_rx = now
        # Compare by the very sum _schedule() schedules: ``now - last >= t``
        # can be False when ``last + t <= now`` is True (float rounding), and
        # tick() would then re-schedule the same due entry forever.
        if now >= session._last_rx + lim.ping_timeout:
            self._close(session, "ping-timeout", "no answer to PING", out)
            return
        if not session._pinged and now >= session._last_rx + lim.ping_interval:
            session._pinged = True
            session._pings += 1
            self._send(session, ServerPing(token=str(session._pings)), out)
        self._pump(session, now, out)

    def _schedule(self, session: Session, now: float) -> None:
        # Worked out after every call into the core: the common cases are
        # plain comparisons, not min(), which is a call.
        lim = self.limits
        when = session._last_rx + (
            lim.ping_timeout if session._pinged else lim.ping_interval
        )
        if session.name is None:
            when = min(when, session._connected_at + lim.login_timeout)
        since = session._waiting_since
        if since is not None and since + PATIENCE < when:
            when = since + PATIENCE
        guard = session._send_queue
        soft = guard.deadline if guard is not None else None
        if soft is not None and soft < when:
            when = soft
        if session._backlog and session._job is None:
            when = min(when, session._bucket.due(now))
        # Only an earlier deadline is pushed; a later one is found when the
        # early entry pops, which keeps the heap at about one entry per session.
        if session._scheduled is None or when < session._scheduled:
            session._scheduled = when
            heapq.heappush(self._heap, (when, session))

    def _settle(self, session: Session, now: float, out: Output) -> None:
        """After any change to ``session``: flow control and its next timer."""
        if not session.open:
            return
        waiting = session._backlog_bytes + session.connection.buffered
        if not session._paused and waiting > self.limits.recv_queue:
            session._paused = True
            out.pause.append(session)
        elif session._paused and waiting <= self.limits.recv_queue:
            session._paused = False
            out.resume.append(session)
        self._schedule(session, now)
