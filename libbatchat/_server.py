"""The server core: sessions, presence, rooms and limits, without any I/O.

Adapters feed it bytes and time and carry out the ``Output`` it returns. Slow
work (password hashing, account storage) comes back as a ``Job`` that the
adapter runs in a worker thread before calling ``finish``; meanwhile later
lines of that session wait, so replies stay in order.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import time
from collections.abc import Callable, Iterable, KeysView, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import repeat
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from ._accounts import AccountStore, MemoryStore, dummy_record, hash_password
from ._accounts import verify_password as _verify
from ._codec import PATIENCE, Codec, deliver
from ._config import Limits
from ._connection import NEED_DATA, Connection, Role
from ._dialects import CANONICAL, codec_class
from ._errors import RemoteProtocolError
from ._events import (
    Chat,
    Closing,
    Command,
    ConnectionClosed,
    Event,
    Greeting,
    Help,
    Join,
    Joined,
    Left,
    Login,
    Message,
    Nick,
    Offline,
    Online,
    Part,
    Ping,
    Push,
    Quit,
    Register,
    Reply,
    Rooms,
    ServerPing,
    Who,
)
from ._fifo import Fifo
from ._grammar import line, unknown
from ._limits import (
    ConnectionCounter,
    KeyedWindows,
    SendQueueGuard,
    SlidingWindow,
    TokenBucket,
    address_key,
)
from ._lists import budget, page
from ._names import WallFormatter, fold
from ._presence import Contacts
from ._skeleton import skeleton
from ._stats import CoreStats, RoomStats, SessionStats
from ._table import CODES, help_text, lookup

if TYPE_CHECKING:
    from ._cluster import Cluster

log = logging.getLogger("libbatchat.server")

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


def _resembles(name: str, other: str, same: str, alike: str) -> str:
    """ERRO-703/705 text: ``same`` if ``name`` is ``other``, else ``alike``
    (which names ``other``, so the user sees what it was mistaken for)."""
    return same if fold(name) == fold(other) else f"{name} looks like {alike}"


_LOG_IN_FIRST = "log in with ENTRAR, NOVO or APELIDO; HELP explains them"

# Built once: every CHAT that reaches someone gets this very reply.
_DELIVERED = Reply(code=SENT, text="delivered")

# What waits in a session's backlog: a command, or the error reply a bad
# line earned.
_Item = Command | Reply

# Shared by every session that has none of its own: most sessions of a big
# server are in no room and have no verbs to use before logging in, and an
# empty dict or frozenset each would cost 64 and 216 bytes per connection.
_NO_ROOMS: Mapping[str, None] = MappingProxyType({})
_NO_VERBS: frozenset[str] = frozenset()


class Session:
    """One connection. Adapters use ``id``, ``peer``, ``name``, ``connection``,
    ``dialect`` and ``segmented`` (write each message on its own)."""

    # Slots: a server may hold tens of thousands of these.
    __slots__ = (
        "_account",
        "_attempt",
        "_backlog",
        "_backlog_bytes",
        "_bucket",
        "_claim",
        "_connected_at",
        "_failed_logins",
        "_job",
        "_job_command",
        "_key",
        "_last_rx",
        "_lines",
        "_moved",
        "_name",
        "_paused",
        "_pinged",
        "_pings",
        "_rooms",
        "_scheduled",
        "_send_queue",
        "_skeleton",
        "_waiting_since",
        "connection",
        "dialect",
        "id",
        "keepalive",
        "name",
        "open",
        "open_verbs",
        "peer",
        "segmented",
    )

    def __init__(
        self, id: int, peer: str, limits: Limits, now: float, dialect: str = CANONICAL
    ) -> None:
        self.id = id
        self.peer = peer
        self.name: str | None = None
        self.dialect = dialect
        codec = codec_class(dialect)
        self.connection: Connection | Codec = (
            Connection(
                Role.SERVER,
                max_line=limits.max_line,
                max_unterminated=limits.max_unterminated,
            )
            if codec is None
            else codec(
                max_line=limits.max_line, max_unterminated=limits.max_unterminated
            )
        )
        # Dialects without PING/PONG are never pinged nor closed for silence.
        self.keepalive = codec is None or codec.keepalive
        self.segmented = codec is not None and codec.segmented
        # Verbs its dialect may use before logging in (Chat Socket lists rooms).
        self.open_verbs = _NO_VERBS if codec is None else codec.open_verbs
        self.open = True
        self._key = ""
        self._name = ""
        self._skeleton = ""
        self._account = False
        # JOINED lines for the rooms a takeover moved here, sent after PASS-214.
        self._moved: Sequence[Joined] = ()
        # A dict of its own once it joins a room (see _join and _leave).
        self._rooms: Mapping[str, None] = _NO_ROOMS
        # Lines read but not yet carried out; None while there are none.
        self._backlog: Fifo[tuple[_Item, int]] | None = None
        self._backlog_bytes = 0
        self._job: Job | None = None
        self._job_command: Command | None = None
        self._claim: str | None = None
        # When this session's pending ENTRAR started counting as an attempt.
        self._attempt: float | None = None
        self._bucket = TokenBucket(limits.burst, limits.rate, now)
        # Made on the first ENTRAR, and dropped once it holds no failure.
        self._failed_logins: SlidingWindow | None = None
        # Only while its unsent bytes are over the soft limit (send_queue()).
        self._send_queue: SendQueueGuard | None = None
        self._connected_at = now
        self._last_rx = now
        self._pinged = False
        self._pings = 0
        self._lines = 0
        self._paused = False
        self._scheduled: float | None = None
        self._waiting_since: float | None = None  # a dialect's ``waiting``

    def __repr__(self) -> str:
        return f"<Session {self.id} {self.peer} {self.name or '-'}>"

    def __lt__(self, other: Session) -> bool:
        # Breaks ties between equal deadlines in the core's timer heap, so an
        # entry is (when, session): no sequence number per entry.
        return self.id < other.id


@dataclass(frozen=True)
class Job:
    """Blocking work for a worker thread; ``run`` never raises."""

    session: Session
    run: Callable[[], object]


@dataclass(init=False, slots=True)
class Output:
    """What the adapter must do, in order, after a call into the core."""

    sends: list[tuple[Session, bytes]]
    closes: list[Session]
    jobs: list[Job]
    pause: list[Session]
    resume: list[Session]

    # Made for every call into the core: plain assignments cost a third of
    # what the dataclass's default factories do.
    def __init__(
        self,
        sends: list[tuple[Session, bytes]] | None = None,
        closes: list[Session] | None = None,
        jobs: list[Job] | None = None,
        pause: list[Session] | None = None,
        resume: list[Session] | None = None,
    ) -> None:
        self.sends = [] if sends is None else sends
        self.closes = [] if closes is None else closes
        self.jobs = [] if jobs is None else jobs
        self.pause = [] if pause is None else pause
        self.resume = [] if resume is None else resume


@dataclass(frozen=True, slots=True)
class _Failure:
    error: BaseException


def _guarded(work: Callable[[], object]) -> Callable[[], object]:
    def run() -> object:
        try:
            return work()
        except Exception as exc:
            # The adapter's worker must never see an exception: it comes back
            # as a result, and finish() turns it into ERRO-710.
            return _Failure(exc)

    return run


@dataclass
class _Room:
    display: str
    members: dict[Session, None] = field(default_factory=dict)


_Handler = Callable[[Session, Any, float, Output], Reply | None]


class ServerCore:
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
        self._rooms: dict[str, _Room] = {}
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
        self._handlers: dict[type[Command], _Handler] = {
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
        # Several nodes as one chat (libbatchat._cluster); None: this node
        # alone, and every hook below is one skipped test.
        self.cluster = cluster
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
        held = conn.buffered + len(data)
        conn.receive_data(data)
        self._drain(session, out)
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

    # -- input ----------------------------------------------------------------

    def _drain(self, session: Session, out: Output) -> None:
        # Parse every complete line now, so framing errors (8 KiB without a
        # line end) are caught at once even while flood control holds lines.
        conn = session.connection
        while True:
            before = conn.buffered
            try:
                event = conn.next_event()
            except RemoteProtocolError as exc:
                if exc.fatal:
                    self._close(session, exc.reason or "line-too-long", str(exc), out)
                    return
                item: _Item = exc.reply_hint or Reply(code=SERVER_ERROR)
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
            size = max(0, before - conn.buffered)
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

    def _process(self, session: Session, item: _Item, now: float, out: Output) -> None:
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
            reply = Reply(code=NOT_LOGGED_IN, text=_LOG_IN_FIRST)
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

    # -- commands -------------------------------------------------------------

    def _start_job(
        self,
        session: Session,
        command: Command,
        work: Callable[[], object],
        out: Output,
    ) -> None:
        job = Job(session, _guarded(work))
        session._job = job
        session._job_command = command
        out.jobs.append(job)

    def _register(
        self, session: Session, cmd: Register, now: float, out: Output
    ) -> Reply | None:
        other = self._in_use(cmd.user)
        if other is None:
            other = self._elsewhere(cmd.user)
        if other is not None:
            text = _resembles(cmd.user, other, f"{cmd.user} is taken", other)
            return Reply(code=NAME_TAKEN, text=text)
        self._claim(session, cmd.user)
        lim, store, user, password = self.limits, self.accounts, cmd.user, cmd.password

        def work() -> object:
            # Look first, so a look-alike costs no hash; create() checks again
            # atomically, against a racing server on the same store.
            found = store.similar(user)
            if found is not None:
                return found
            record = hash_password(
                password, n=lim.scrypt_n, r=lim.scrypt_r, p=lim.scrypt_p
            )
            if store.create(user, record):
                return True
            return store.similar(user) or user

        if self.cluster is None:
            self._start_job(session, cmd, work, out)
        else:
            self._cluster_register(session, cmd, work)
        return None

    def _registered(self, session: Session, cmd: Register, result: object) -> Reply:
        if result is True:
            log.info("account %s registered from %s", cmd.user, session.peer)
            return Reply(code=REGISTERED, text="account created")
        if isinstance(result, str):
            text = _resembles(
                cmd.user, result, f"{cmd.user} is taken", f"the account {result}"
            )
            return Reply(code=NAME_TAKEN, text=text)
        return self._failed(session, cmd, result)

    def _login(
        self, session: Session, cmd: Login, now: float, out: Output
    ) -> Reply | None:
        if not self._attempt_start(session, now):
            log.warning("login throttled for session %d (%s)", session.id, session.peer)
            return Reply(code=TOO_MANY_ATTEMPTS, text="too many failed logins")
        store, user, password, dummy = (
            self.accounts,
            cmd.user,
            cmd.password,
            self._dummy,
        )

        def work() -> object:
            found = store.get(user)
            if found is None:
                # Same cost as a real check: timing must not tell whether the
                # account exists.
                _verify(password, dummy)
                return None
            return found[0] if _verify(password, found[1]) else None

        self._start_job(session, cmd, work, out)
        return None

    def _attempt_start(self, session: Session, now: float) -> bool:
        """Count an ENTRAR as a failed attempt from the moment it starts.

        Counting only finished checks let 200 parallel guesses all through
        while the first were still hashing (issue 7, row 4).
        """
        key = address_key(session.peer)
        window = session._failed_logins
        if not (
            (window is None or window.allowed(now))
            and self._ip_failures.allowed(key, now)
        ):
            return False
        if window is None:
            lim = self.limits
            window = SlidingWindow(lim.login_attempts, lim.login_window)
            session._failed_logins = window
        window.record(now)
        self._ip_failures.record(key, now)
        session._attempt = now
        return True

    def _attempt_done(self, session: Session, cmd: Login, result: object) -> None:
        # A failed check stays counted, even when the session is gone, so
        # hanging up after each guess does not dodge the per-address limit.
        # Anything else (success, a store failure) is given back.
        stamp, session._attempt = session._attempt, None
        assert stamp is not None
        if result is None:
            log.warning("failed login for %s from %s", cmd.user, session.peer)
            return
        window = session._failed_logins
        assert window is not None  # _attempt_start() made it
        window.forget(stamp)
        if not window:
            session._failed_logins = None
        self._ip_failures.forget(address_key(session.peer), stamp)

    def _logged_in(
        self, session: Session, cmd: Login, result: object, out: Output
    ) -> Reply | None:
        if result is None:
            return Reply(code=BAD_CREDENTIALS, text="invalid user or password")
        if not isinstance(result, str):
            return self._failed(session, cmd, result)
        holder = self._looks.get(skeleton(result))
        if holder is not None:
            # Classroom dialects know no takeover: their sessions keep 705.
            dialect = isinstance(session.connection, Codec) or isinstance(
                holder.connection, Codec
            )
            if dialect or not (holder._account and holder._key == fold(result)):
                text = _resembles(
                    result,
                    holder._name,
                    f"{result} is already online",
                    f"{holder._name}, who is online",
                )
                return Reply(code=NAME_ONLINE, text=text)
            # The name is this node's already: no cluster claim is needed,
            # and to the other nodes the account never left.
            self._take_over(session, holder, out)
        elif self.cluster is not None:
            remote = self._elsewhere(result)
            if remote is not None:
                if (
                    fold(remote) == fold(result)
                    and not isinstance(session.connection, Codec)
                    and self.cluster.linked
                ):
                    # Takeover across nodes (docs/cluster.md): the holder's
                    # node closes it, then this one claims the name.
                    self.cluster.take_over(session, cmd, result)
                    return None
                text = _resembles(
                    result,
                    remote,
                    f"{result} is already online",
                    f"{remote}, who is online",
                )
                return Reply(code=NAME_ONLINE, text=text)
            self._cluster_enter(session, cmd, result, "account")
            return None
        else:
            self._enter(session, result, "account", out)
        return Reply(code=LOGGED_IN, text=result)

    def _nick(
        self, session: Session, cmd: Nick, now: float, out: Output
    ) -> Reply | None:
        other = self._in_use(cmd.nick)
        if other is None:
            other = self._elsewhere(cmd.nick)
        if other is not None:
            text = _resembles(cmd.nick, other, f"{cmd.nick} is in use", other)
            return Reply(code=NAME_ONLINE, text=text)
        self._claim(session, cmd.nick)
        store, nick = self.accounts, cmd.nick
        self._start_job(session, cmd, lambda: store.similar(nick), out)
        return None

    def _nicked(
        self, session: Session, cmd: Nick, result: object, out: Output
    ) -> Reply | None:
        if isinstance(result, str):
            text = _resembles(
                cmd.nick, result, f"an account owns {cmd.nick}", f"the account {result}"
            )
            return Reply(code=NAME_TAKEN, text=text)
        if result is not None:
            return self._failed(session, cmd, result)
        other = self._in_use(cmd.nick)
        if other is not None:
            # An account that looks alike logged in while the store was asked.
            text = _resembles(cmd.nick, other, f"{cmd.nick} is in use", other)
            return Reply(code=NAME_ONLINE, text=text)
        if self.cluster is not None:
            self._cluster_enter(session, cmd, cmd.nick, "guest")
            return None
        self._enter(session, cmd.nick, "guest", out)
        return Reply(code=NICK_OK, text=cmd.nick)

    # -- names that look alike (spec 3.5) and takeover (spec 5.2) -------------

    def _in_use(self, name: str) -> str | None:
        """The name online or being claimed that ``name`` looks like."""
        key = skeleton(name)
        holder = self._looks.get(key)
        return holder._name if holder is not None else self._claims.get(key)

    def _claim(self, session: Session, name: str) -> None:
        key = skeleton(name)
        self._claims[key] = name
        session._claim = key

    def _take_over(self, session: Session, old: Session, out: Output) -> None:
        """Move ``old``'s name and rooms to ``session`` and close ``old``.

        Nobody else is told: to them the account never left (no OFFLINE,
        ONLINE, LEFT or JOINED); the new session is sent JOINED for itself in
        each room it now holds, after its PASS-214.
        """
        session.name, session._name = old.name, old._name
        session._key, session._skeleton = old._key, old._skeleton
        session._account = True
        session._rooms, old._rooms = old._rooms, _NO_ROOMS
        moved = []
        for key in session._rooms:
            room = self._rooms[key]
            del room.members[old]
            room.members[session] = None
            moved.append(Joined(room=room.display, user=old._name))
        session._moved = moved
        self._online[session._key] = session
        self._looks[session._skeleton] = session
        old.name = None  # so ending it tells no one
        log.info(
            "%s taken over by session %d from %s",
            session._name,
            session.id,
            session.peer,
        )
        self._close(old, "taken-over", f"logged in again from {session.peer}", out)

    def _failed(self, session: Session, cmd: Command, result: object) -> Reply:
        error = result.error if isinstance(result, _Failure) else result
        log.error("session %d: %s failed: %r", session.id, cmd.VERB, error)
        return Reply(code=SERVER_ERROR, text="the server failed; try again")

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
            recipients = [s for s in room.members if s is not session]
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
        return _DELIVERED

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
            room = self._rooms[key] = _Room(display)
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

    # -- cluster (only with ServerCore(cluster=...)) -----------------------------

    def _cluster_enter(
        self, session: Session, cmd: Login | Nick, name: str, kind: str
    ) -> None:
        """Claim ``name`` across the cluster; enter, or ERRO-705, when answered."""
        cluster = self.cluster
        assert cluster is not None
        ok = LOGGED_IN if isinstance(cmd, Login) else NICK_OK
        busy = f"{name} is already online" if ok == LOGGED_IN else f"{name} is in use"

        def then(result: object, out: Output) -> Reply:
            if result is not True:
                if result is False:
                    return Reply(code=NAME_ONLINE, text=busy)
                return self._failed(session, cmd, result)
            holder = self._looks.get(skeleton(name))
            if holder is not None:
                # Another session of ours won it (or a look-alike) meanwhile.
                # The very name stays ours either way; a different one is
                # given back.
                if holder._key != fold(name):
                    cluster.release(fold(name))
                text = _resembles(name, holder._name, busy, holder._name)
                return Reply(code=NAME_ONLINE, text=text)
            self._enter(session, name, kind, out)
            return Reply(code=ok, text=name)

        session._job_command = cmd
        cluster.claim(session, fold(name), then)

    def _cluster_register(
        self, session: Session, cmd: Register, work: Callable[[], object]
    ) -> None:
        """Hold the name across the cluster while the account is created, so no
        guest on another node takes it meanwhile (released in finish())."""
        cluster = self.cluster
        assert cluster is not None
        key = session._claim
        assert key is not None

        def then(result: object, out: Output) -> Reply | None:
            if result is True:
                self._start_job(session, cmd, work, out)
                return None
            del self._claims[key]
            session._claim = None
            if result is False:
                return Reply(code=NAME_TAKEN, text=f"{cmd.user} is taken")
            return self._failed(session, cmd, result)

        session._job_command = cmd
        # Across nodes a name is claimed by its folded key; look-alikes are
        # caught by each node's own view (docs/cluster.md).
        cluster.claim(session, fold(cmd.user), then)

    def _elsewhere(self, name: str) -> str | None:
        """The user online on another node that ``name`` is or looks like."""
        return None if self.cluster is None else self.cluster.looks_like(name)

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
            session._rooms = _NO_ROOMS
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
        self._send(session, reply, out)
        conn = session.connection
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
        # Compare by the very sum _deadline() schedules: ``now - last >= t``
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

    def _deadline(self, session: Session, now: float) -> float:
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
        return when

    def _schedule(self, session: Session, now: float) -> None:
        # Only an earlier deadline is pushed; a later one is found when the
        # early entry pops, which keeps the heap at about one entry per session.
        when = self._deadline(session, now)
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
