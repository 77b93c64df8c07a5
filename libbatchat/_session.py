"""What the server core keeps per connection and per room, and hands back.

A ``Session`` is one connection; an ``Output`` is what the adapter must do
after a call into the core; a ``Job`` is blocking work for a worker thread.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from ._codec import Codec
from ._config import Limits
from ._connection import Connection, Role
from ._dialects import CANONICAL, codec_class
from ._events import Command, Joined, Reply
from ._fifo import Fifo
from ._limits import SendQueueGuard, SlidingWindow, TokenBucket

# What waits in a session's backlog: a command, or the error reply a bad
# line earned.
Item = Command | Reply

# Shared by every session that has none of its own: most sessions of a big
# server are in no room and have no verbs to use before logging in, and an
# empty dict or frozenset each would cost 64 and 216 bytes per connection.
NO_ROOMS: Mapping[str, None] = MappingProxyType({})
NO_VERBS: frozenset[str] = frozenset()


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
        self.open_verbs = NO_VERBS if codec is None else codec.open_verbs
        self.open = True
        self._key = ""
        self._name = ""
        self._skeleton = ""
        self._account = False
        # JOINED lines for the rooms a takeover moved here, sent after PASS-214.
        self._moved: Sequence[Joined] = ()
        # A dict of its own once it joins a room (see _join and _leave).
        self._rooms: Mapping[str, None] = NO_ROOMS
        # Lines read but not yet carried out; None while there are none.
        self._backlog: Fifo[tuple[Item, int]] | None = None
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
class Failure:
    error: BaseException


def guarded(work: Callable[[], object]) -> Callable[[], object]:
    def run() -> object:
        try:
            return work()
        except Exception as exc:
            # The adapter's worker must never see an exception: it comes back
            # as a result, and finish() turns it into ERRO-710.
            return Failure(exc)

    return run


@dataclass
class Room:
    display: str
    members: dict[Session, None] = field(default_factory=dict)
