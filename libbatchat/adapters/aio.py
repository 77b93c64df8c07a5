"""The asyncio adapter: a server on protocols and transports, and a client.

The server owns one ``ServerCore``. Every callback feeds the core and applies
the ``Output`` it returns: writes, closes, reading paused or resumed, jobs run
in a thread pool. One timer, re-armed after every core call, runs
``core.tick()`` at ``core.next_deadline()``. The core is only ever called from
the event loop thread, so it needs no lock.

The client drives a client-role ``Connection``: replies resolve the futures of
``request()`` in order, pushes go to ``async for push in client``, and the
server's PING is answered with PONG without the caller seeing it.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import importlib
import logging
import socket
import ssl
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Generator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, cast

from libbatchat._accounts import AccountStore
from libbatchat._cluster import Cluster
from libbatchat._config import Limits
from libbatchat._connection import NEED_DATA, Connection, Role
from libbatchat._dialects import CANONICAL
from libbatchat._errors import RemoteProtocolError
from libbatchat._events import (
    Closing,
    Command,
    ConnectionClosed,
    Greeting,
    Pong,
    Push,
    Reply,
    ServerPing,
)
from libbatchat._server import Job, Output, ServerCore, Session
from libbatchat._stats import CoreStats

from ._common import (
    CLOSE_GRACE,
    DEFAULT_PORT,
    DEFAULT_WORKERS,
    DRAIN_GRACE,
    SHUTDOWN_GRACE,
    Listen,
    QueueMeter,
    bind_error,
    format_peer,
    log,
)
from ._system import RESOURCE_ERRNOS, Backoff, Throttled, listen, resolve
from ._tls import client_context

if TYPE_CHECKING:
    from libbatchat.client._clock import Clock

__all__ = ["Client", "Listen", "Server", "ServerStats", "run"]

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T], *, use_uvloop: bool = False) -> T:
    """``asyncio.run(main)``, on uvloop's event loop when asked and installed."""
    if use_uvloop:
        try:
            # Imported by name: uvloop is optional and ships no type stubs.
            uvloop: Any = importlib.import_module("uvloop")
        except ImportError:
            log.warning("uvloop is not installed; using the default event loop")
        else:
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                return runner.run(main)
    return asyncio.run(main)


# -- server -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ServerStats:
    """``Server.stats()``: what a monitor shows, copied at one moment."""

    core: CoreStats  # sessions (with bytes queued), rooms, counters
    listening: bool
    address: str  # host:port as bound


# What one read may take. Reads land in one buffer the server reuses (the
# loop runs one callback at a time), instead of a fresh 256 KiB bytes object
# allocated, and given back to the allocator, on every read.
_READ_SIZE = 65536


class _ServerProtocol(asyncio.BufferedProtocol):
    """One connection: bytes in to the core, the core's output out."""

    # Slots (asyncio's protocol classes have them too): one of these per
    # connection, and a server holds tens of thousands.
    __slots__ = (
        "_abort",
        "_lost",
        "closing",
        "dialect",
        "gone",
        "meter",
        "refused",
        "server",
        "session",
        "transport",
        "unsent",
    )

    def __init__(self, server: Server, dialect: str = CANONICAL) -> None:
        self.server = server
        self.dialect = dialect
        self.session: Session | None = None
        self.transport: asyncio.Transport | None = None
        # Made once its unsent bytes first reach the meter's floor: below
        # it a count is no news to the core, and most peers never get there.
        self.meter: QueueMeter | None = None
        # Lines for this peer not yet handed to the transport: the server
        # joins them into one write per loop iteration (see Server._flush).
        # None, not an empty list, while there are none: that is most of the
        # time, for most connections.
        self.unsent: list[bytes] | None = None
        self.closing = False
        self.refused = False
        self.gone = False  # connection_lost() was called
        # The future when_lost() hands out, made on demand: a future per
        # connection would cost more than this whole object.
        self._lost: asyncio.Future[None] | None = None
        # What aborts the transport once the grace of close() runs out.
        self._abort: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A cast, not an isinstance check: uvloop's transports for accepted
        # sockets are not asyncio.Transport subclasses, though they act as one.
        transport = cast(asyncio.Transport, transport)
        self.transport = transport
        # pause_writing() fires at the soft limit, which is exactly when the
        # core needs to start watching this connection.
        transport.set_write_buffer_limits(high=self.server.limits.send_queue_soft)
        peer = format_peer(transport.get_extra_info("peername"))
        session, out = self.server.core.connect(peer, self.dialect)
        self.session = session
        # Refused (CLOSING too-many-connections): closed without a drain, so
        # a flood of refusals does not hold descriptors for the grace.
        self.refused = not session.open
        self.server.protocols[session] = self
        log.debug("transport open %s (session %d)", peer, session.id)
        self.server.apply(out)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.server.read_buffer

    def buffer_updated(self, nbytes: int) -> None:
        # Once closing, input is read and dropped (see close()).
        session = self.session
        if session is not None and not self.closing:
            server = self.server
            data = server.read_buffer[:nbytes].tobytes()
            server.apply(server.core.receive(session, data))

    def eof_received(self) -> bool:
        if self.closing:
            # The drain is over: the peer has read what it wanted.
            return False
        if self.session is not None:
            self.server.apply(self.server.core.receive(self.session, b""))
        # Keep the transport: closing is the core's call (it lists the
        # session in Output.closes), as for every other way a session ends.
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.gone = True
        if self._abort is not None:
            self._abort.cancel()
            self._abort = None
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)
        self.unsent = None
        if self.session is None:
            return
        session = self.session
        self.server.protocols.pop(session, None)
        log.debug("transport closed %s (session %d)", session.peer, session.id)
        self.server.apply(self.server.core.disconnect(session))

    def when_lost(self) -> asyncio.Future[None]:
        """A future done once the transport is gone."""
        if self._lost is None:
            self._lost = asyncio.get_running_loop().create_future()
            if self.gone:
                self._lost.set_result(None)
        return self._lost

    def pause_writing(self) -> None:
        self.report_queue()

    def resume_writing(self) -> None:
        self.report_queue()

    def flush(self) -> None:
        """Hand the lines queued for this peer to the transport now."""
        unsent = self.unsent
        if not unsent or self.transport is None:
            return
        self.unsent = None
        if self.transport.is_closing():
            # Lost under us: nothing written now could reach the peer.
            return
        self.write_many(unsent)

    def write_many(self, unsent: list[bytes]) -> None:
        assert self.transport is not None
        if self.session is not None and self.session.segmented:
            # Its dialect reads a message per segment: one write each.
            for data in unsent:
                self.transport.write(data)
        else:
            self.transport.write(unsent[0] if len(unsent) == 1 else b"".join(unsent))

    def report_queue(self) -> None:
        if self.session is None or self.transport is None or self.closing:
            return
        queued = self.transport.get_write_buffer_size()
        meter = self.meter
        if meter is None:
            if queued < self.server.queue_floor:
                return
            meter = self.meter = QueueMeter(self.server.limits.send_queue_soft)
        if meter.due(queued):
            self.server.apply(self.server.core.send_queue(self.session, queued))

    def close(self) -> None:
        """Half-close once the queued output is written, drain, then close.

        Closing a socket with unread input resets it, and a reset can destroy
        the CLOSING line before the peer reads it (a client still sending a
        200 KB line would never learn why). So the write side is shut once
        the output is out, input is read and dropped until the peer's EOF,
        and the transport is aborted after ``DRAIN_GRACE`` (``close_grace``
        if output is still queued: a peer that never reads must not hold the
        socket forever).
        """
        if self.closing or self.transport is None:
            return
        # Its last lines (the reply, the CLOSING push) go out before the close.
        self.flush()
        self.closing = True
        transport = self.transport
        if transport.is_closing():
            return
        transport.resume_reading()
        if self.refused:
            transport.close()
            grace = self.server.close_grace
        elif transport.can_write_eof():
            try:
                transport.write_eof()
            except OSError:
                # The peer reset the connection and asyncio has not yet
                # called connection_lost: shutdown() fails with ENOTCONN,
                # and nothing could reach the peer anyway.
                transport.abort()
                return
            queued = transport.get_write_buffer_size()
            grace = DRAIN_GRACE if not queued else self.server.close_grace
        else:
            # TLS cannot half-close: close() sends close_notify after the
            # output, and that is as graceful as it gets.
            transport.close()
            grace = self.server.close_grace
        self._abort = asyncio.get_running_loop().call_later(grace, transport.abort)

    def lose(self) -> None:
        """The transport died under us: the session ends now, not next turn.

        asyncio reports a reset through ``connection_lost`` one loop turn
        later; meanwhile every broadcast would write to the dead transport,
        and asyncio logs a warning per write.
        """
        if self.session is not None and self.session.open:
            self.server.apply(self.server.core.disconnect(self.session))


class Server:
    """A BatChat server on asyncio transports.

    ``accounts`` (a ``MemoryStore`` when omitted) is owned by the server from
    then on: ``close()`` closes it. ``listen`` adds listeners that speak a
    classroom dialect to the same core (docs/dialects.md). ``clock`` (a
    client-layer ``Clock``, such as ``VirtualClock``) replaces the monotonic
    clock and the loop's timers for the core's deadlines, so a test can
    drive the server's timers too.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        *,
        limits: Limits | None = None,
        accounts: AccountStore | None = None,
        workers: int = DEFAULT_WORKERS,
        close_grace: float = CLOSE_GRACE,
        tls: ssl.SSLContext | None = None,
        listen: Sequence[Listen] = (),
        cluster: Cluster | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.host = host
        self.requested_port = port
        self.close_grace = close_grace
        self.tls = tls
        self.listen = tuple(listen)
        self._dialect_listeners: list[tuple[Listen, socket.socket]] = []
        self._sleeper = clock
        self._clock: Callable[[], float] = clock.now if clock else time.monotonic
        limits = resolve(limits or Limits())
        self.core = ServerCore(
            limits=limits, accounts=accounts, clock=self._clock, cluster=cluster
        )
        # Called after every apply(): a cluster bus carries the outbox then.
        self.on_applied: Callable[[], None] | None = None
        self.limits = self.core.limits
        # Below this many unsent bytes a connection needs no QueueMeter.
        self.queue_floor = QueueMeter.floor_of(self.limits.send_queue_soft)
        self.protocols: dict[Session, _ServerProtocol] = {}
        self._executor = ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="batchat-job"
        )
        self._jobs: set[asyncio.Future[object]] = set()
        self._listener: socket.socket | None = None
        self._port: int | None = None  # as bound; kept while not listening
        # The dialect listeners as bound, to reopen after stop_listening().
        self._stopped_listeners: list[Listen] = []
        self._accepting: set[asyncio.Task[object]] = set()
        self._accept_retry: asyncio.TimerHandle | None = None
        self._backoff = Backoff()
        # One line per interval, however many accepts fail.
        self._accept_log = Throttled()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | asyncio.Task[None] | None = None
        self._timer_at: float | None = None
        self._pending: collections.deque[Output] = collections.deque()
        self.read_buffer = memoryview(bytearray(_READ_SIZE))
        # Connections with lines in ``unsent``, written out by _flush() once
        # per loop iteration: a peer then gets one send() for all the lines
        # this iteration produced for it, not one per line.
        self._unflushed: list[_ServerProtocol] = []
        self._flush_handle: asyncio.Handle | None = None
        self._applying = False
        self._closed = False
        self._stopped = asyncio.Event()

    @property
    def port(self) -> int:
        """The port actually bound (useful with ``port=0``)."""
        if self._port is None:
            raise RuntimeError("server not started")
        return self._port

    @property
    def listening(self) -> bool:
        """Whether new connections are accepted now."""
        return self._listener is not None and not self._closed

    async def start(self) -> None:
        """Bind and start accepting. Raises ``OSError`` if the port is taken."""
        self._loop = asyncio.get_running_loop()
        self._bind(self.requested_port, self.listen)
        for spec in self.listeners[1:]:
            log.info("listening on %s (dialect %s)", spec, spec.dialect)

    def _bind(self, port: int, specs: Sequence[Listen]) -> None:
        listener = listen(self.host, port, self.limits)
        for spec in specs:
            try:
                sock = listen(spec.host, spec.port, self.limits)
            except OSError as exc:
                for other in (listener, *(s for _, s in self._dialect_listeners)):
                    other.close()
                self._dialect_listeners.clear()
                raise bind_error(exc, spec) from exc
            self._dialect_listeners.append((spec, sock))
        self._listener = listener
        self._port = int(listener.getsockname()[1])
        for sock, _dialect in self._sockets():
            sock.setblocking(False)
        self._start_accepting()

    def stop_listening(self) -> None:
        """Close every listening socket: new connections are refused; the
        sessions already open carry on. ``start_listening()`` reopens them."""
        loop = self._loop
        if self._listener is None or loop is None or self._closed:
            return
        self._stopped_listeners = self.listeners[1:]
        if self._accept_retry is not None:
            self._accept_retry.cancel()
            self._accept_retry = None
        for sock, _dialect in self._sockets():
            loop.remove_reader(sock.fileno())
            sock.close()
        self._listener = None
        self._dialect_listeners.clear()
        log.info("stopped listening on %s:%d", self.host, self.port)

    async def start_listening(self) -> None:
        """Accept connections again, on the same ports as before.

        Raises ``OSError`` if a port was taken in the meantime.
        """
        if self._listener is not None or self._loop is None or self._closed:
            return
        self._bind(self.port, self._stopped_listeners)
        log.info("listening again on %s:%d", self.host, self.port)

    def stats(self) -> ServerStats:
        """The core's picture plus the bytes queued per connection."""
        core = self.core.stats()
        queued = {
            session.id: proto.transport.get_write_buffer_size()
            for session, proto in self.protocols.items()
            if proto.transport is not None and not proto.transport.is_closing()
        }
        sessions = tuple(replace(s, queued=queued.get(s.id, 0)) for s in core.sessions)
        return ServerStats(
            core=replace(core, sessions=sessions),
            listening=self.listening,
            address=f"{self.host}:{self._port}"
            if self._port is not None
            else self.host,
        )

    @property
    def listeners(self) -> list[Listen]:
        """Every listener as bound (real ports), the canonical one first."""
        if self._listener is None:
            raise RuntimeError("server not started")
        return [
            Listen(CANONICAL, self.host, self.port),
            *(
                Listen(spec.dialect, spec.host, int(sock.getsockname()[1]))
                for spec, sock in self._dialect_listeners
            ),
        ]

    def _sockets(self) -> list[tuple[socket.socket, str]]:
        """Every listening socket with the dialect it speaks."""
        found = [(self._listener, CANONICAL)] if self._listener is not None else []
        return [*found, *((s, spec.dialect) for spec, s in self._dialect_listeners)]

    def _start_accepting(self) -> None:
        assert self._loop is not None
        for sock, dialect in self._sockets():
            self._loop.add_reader(sock.fileno(), self._accept, sock, dialect)

    # -- accepting ----------------------------------------------------------------

    # Our own accept loop, not loop.create_server(): asyncio's logs a record
    # with a traceback for every accept() that fails for want of descriptors
    # and, retrying each, schedules more retries than it had failures.

    def _accept(self, listener: socket.socket, dialect: str) -> None:
        loop = self._loop
        assert loop is not None
        # A burst is taken in one go, but bounded, so the loop's other work
        # (reading, timers) is not starved by a flood of connects.
        for _ in range(100):
            try:
                sock, _address = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno not in RESOURCE_ERRNOS:
                    continue  # that one connection failed (reset early)
                self._accept_log(logging.ERROR, "accept failed: %s", exc)
                # Out of descriptors is out for every listener: pause them all.
                for other, _ in self._sockets():
                    loop.remove_reader(other.fileno())
                self._accept_retry = loop.call_later(
                    self._backoff.failed(), self._resume_accepting
                )
                return
            self._backoff.succeeded()
            task = loop.create_task(self._connect(sock, dialect))
            self._accepting.add(task)
            task.add_done_callback(self._accepting.discard)

    def _resume_accepting(self) -> None:
        self._accept_retry = None
        if self._listener is not None and self._loop is not None and not self._closed:
            self._start_accepting()

    async def _connect(self, sock: socket.socket, dialect: str = CANONICAL) -> None:
        assert self._loop is not None
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            # The classroom clients speak plain TCP: TLS is the canonical's.
            await self._loop.connect_accepted_socket(
                functools.partial(_ServerProtocol, self, dialect),
                sock,
                ssl=self.tls if dialect == CANONICAL else None,
            )
        except (OSError, ssl.SSLError) as exc:
            # A failed TLS handshake, or a peer gone already: its own problem.
            log.debug("connection not set up: %s", exc)
            sock.close()

    async def serve_forever(self) -> None:
        """Serve until ``close()`` has finished (clients told, store closed)."""
        if self._port is None:
            await self.start()
        # Waiting on our own event, not asyncio.Server.serve_forever(): that
        # one returns as soon as close() begins, and a program that then ends
        # would cancel the rest of close() before anyone hears CLOSING.
        await self._stopped.wait()

    async def __aenter__(self) -> Server:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- applying the core's output -------------------------------------------

    def apply(self, out: Output) -> None:
        """Carry out ``out`` and whatever the core says in answer to it."""
        if self._applying:
            # An outer apply() is draining the queue; it keeps the order.
            self._pending.append(out)
            return
        self._applying = True
        try:
            self._apply_one(out)
            pending = self._pending
            while pending:
                self._apply_one(pending.popleft())
        finally:
            self._applying = False
        self._arm_timer()
        if self.on_applied is not None:
            self.on_applied()

    def _apply_one(self, out: Output) -> None:
        # Per line only a lookup and an append: the checks that a
        # connection can take writes are made once per connection when its
        # lines are flushed, not once per line (see _flush()).
        if out.sends:
            get, unflushed = self.protocols.get, self._unflushed
            for session, data in out.sends:
                proto = get(session)
                if proto is None or proto.closing:
                    continue
                unsent = proto.unsent
                if unsent is None:
                    proto.unsent = [data]
                    unflushed.append(proto)
                else:
                    unsent.append(data)
            if unflushed and self._flush_handle is None and self._loop is not None:
                self._flush_handle = self._loop.call_soon(self._flush_next)
        if out.pause or out.resume or out.closes or out.jobs:
            self._apply_rest(out)

    def _apply_rest(self, out: Output) -> None:
        for session in out.pause:
            proto = self.protocols.get(session)
            # A closing connection keeps reading: it is draining.
            if proto is not None and proto.transport is not None and not proto.closing:
                proto.transport.pause_reading()
        for session in out.resume:
            proto = self.protocols.get(session)
            if (
                proto is not None
                and proto.transport is not None
                and not proto.closing
                and not proto.transport.is_closing()
            ):
                proto.transport.resume_reading()
        for session in out.closes:
            proto = self.protocols.get(session)
            if proto is not None:
                proto.close()
        for job in out.jobs:
            self._start_job(job)

    def _flush_next(self) -> None:
        # A call_soon callback runs before the I/O callbacks of the next
        # loop iteration. Waiting for those too (one more hop) lets the
        # lines they produce for a peer share its send(): under load, two
        # iterations' lines per system call instead of one. When the loop
        # is idle, the hop costs one empty poll.
        assert self._loop is not None
        self._flush_handle = self._loop.call_soon(self._flush)
        # Except for an unframed dialect's peers: it reads a message per
        # recv(), and messages held back together arrive as one.
        if not self._dialect_listeners:
            return
        now: list[_ServerProtocol] = []
        later: list[_ServerProtocol] = []
        for proto in self._unflushed:
            session = proto.session
            (now if session is not None and session.segmented else later).append(proto)
        if now:
            self._unflushed = later
            self._flush_these(now)

    def _flush(self) -> None:
        self._flush_handle = None
        unflushed, self._unflushed = self._unflushed, []
        self._flush_these(unflushed)

    def _flush_these(self, unflushed: list[_ServerProtocol]) -> None:
        for proto in unflushed:
            unsent = proto.unsent
            if not unsent or proto.closing:
                continue
            proto.unsent = None
            transport = proto.transport
            assert transport is not None  # set before it is in protocols
            if transport.is_closing():
                # Lost under us (asyncio calls connection_lost a turn
                # later): nothing written now could reach the peer.
                proto.lose()
                continue
            if len(unsent) == 1:
                transport.write(unsent[0])
            else:
                proto.write_many(unsent)
            # The meter's question, asked here without two calls per write:
            # most writes leave nothing queued, with nothing reported (and
            # no meter made: it comes with the first count worth one).
            meter = proto.meter
            reported = 0 if meter is None else meter.reported
            if transport.get_write_buffer_size() != reported:
                proto.report_queue()

    def _start_job(self, job: Job) -> None:
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, job.run)
        self._jobs.add(future)

        def done(f: asyncio.Future[object]) -> None:
            self._jobs.discard(f)
            if f.cancelled():
                return
            exc = f.exception()
            if exc is not None:
                # Job.run reports failures as its result; one that raises
                # anyway is a bug, but its session must still get a reply.
                log.error("job for session %d raised", job.session.id, exc_info=exc)
                self.apply(self.core.finish(job, exc))
            else:
                self.apply(self.core.finish(job, f.result()))

        future.add_done_callback(done)

    def _arm_timer(self) -> None:
        # After most core calls nothing is due sooner than the armed timer,
        # and the heap's earliest entry says so without the work of
        # next_deadline(); stale entries only make the timer fire early.
        earliest = self.core.earliest_deadline()
        if earliest is None or (
            self._timer_at is not None and earliest >= self._timer_at
        ):
            return
        self._set_timer(earliest)

    def _set_timer(self, deadline: float | None) -> None:
        if deadline == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = deadline
        if deadline is not None and self._loop is not None:
            delay = max(0.0, deadline - self._clock())
            self._timer = self._later(delay)

    def _later(self, delay: float) -> asyncio.TimerHandle | asyncio.Task[None]:
        assert self._loop is not None
        sleeper = self._sleeper
        if sleeper is None:
            return self._loop.call_later(delay, self._on_timer)

        async def wait() -> None:
            await sleeper.sleep(delay)
            self._on_timer()

        return self._loop.create_task(wait())

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        self.apply(self.core.tick())
        self._set_timer(self.core.next_deadline())

    # -- shutting down ----------------------------------------------------------

    def _stop_accepting(self) -> None:
        if self._accept_retry is not None:
            self._accept_retry.cancel()
        for sock, _dialect in self._sockets():
            if self._loop is not None:
                self._loop.remove_reader(sock.fileno())
            sock.close()
        for task in self._accepting:
            task.cancel()

    async def close(self, text: str = "server shutting down") -> None:
        """Stop accepting, finish jobs, tell every client, flush, close the store."""
        if self._closed:
            return
        self._closed = True
        self._stop_accepting()
        # Replies owed for jobs under way go out before the CLOSING line.
        # Finishing a job can start the session's next one, hence the loop;
        # the grace bounds it.
        loop = asyncio.get_running_loop()
        give_up = loop.time() + SHUTDOWN_GRACE
        while self._jobs and loop.time() < give_up:
            await asyncio.wait(set(self._jobs), timeout=give_up - loop.time())
        self.apply(self.core.shutdown(text))
        lost = [p.when_lost() for p in self.protocols.values()]
        if lost:
            await asyncio.wait(lost, timeout=SHUTDOWN_GRACE)
        aborted = list(self.protocols.values())
        for proto in aborted:
            if proto.transport is not None:
                proto.transport.abort()
        # Nothing outlives close(): the aborted transports are gone (their
        # connection_lost has run) and the accept tasks cancelled above have
        # ended. With uvloop these are libuv handles, which must be closed on
        # the loop's thread, not by whoever frees them later.
        ending: set[asyncio.Future[Any]] = {p.when_lost() for p in aborted}
        ending.update(self._accepting)
        if ending:
            await asyncio.wait(ending, timeout=SHUTDOWN_GRACE)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._executor.shutdown(wait=False, cancel_futures=True)
        self.core.accounts.close()
        self._stopped.set()
        log.info("server closed")


# -- client -------------------------------------------------------------------


class _ClientProtocol(asyncio.Protocol):
    def __init__(self, client: Client) -> None:
        self.client = client

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.client._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.client._receive(data)

    def eof_received(self) -> bool:
        self.client._receive(b"")
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.client._lost(exc)


class Client:
    """A BatChat client on asyncio.

    Use ``async with Client.connect(host, port) as client:``. ``request()``
    sends a command and returns its reply; ``async for push in client`` yields
    the pushes (a final ``Closing`` included) until the connection ends;
    they wait in the ``pushes`` queue, which gets ``None`` at the end.
    """

    def __init__(self, *, max_line: int = 4096) -> None:
        self.connection = Connection(Role.CLIENT, max_line=max_line)
        self._transport: asyncio.Transport | None = None
        self._waiters: collections.deque[asyncio.Future[Reply]] = collections.deque()
        # Pushes not yet consumed; None once the connection has ended.
        self.pushes: asyncio.Queue[Push | None] = asyncio.Queue()
        self._greeted: asyncio.Future[Greeting] = (
            asyncio.get_running_loop().create_future()
        )
        self._closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._error: ConnectionError | None = None

    @classmethod
    def connect(
        cls,
        host: str,
        port: int,
        *,
        timeout: float = 10.0,
        tls: bool | ssl.SSLContext | None = None,
        cafile: str | None = None,
    ) -> _Connecting:
        """Connect and wait for the greeting; use with ``async with`` or ``await``.

        ``tls=True`` speaks TLS and verifies the server's certificate and
        name (against ``cafile`` if given, else the system's authorities);
        an ``ssl.SSLContext`` is used as it is.
        """
        return _Connecting(host, port, timeout, client_context(tls, cafile))

    @property
    def greeting(self) -> Greeting:
        greeting = self.connection.greeting
        if greeting is None:
            raise RuntimeError("no greeting yet")
        return greeting

    @property
    def closed(self) -> bool:
        return self._closed.done()

    async def request(self, command: Command) -> Reply:
        """Send ``command`` and return its reply.

        Raises ``ConnectionError`` if the connection is, or gets, lost first.
        """
        return await self.submit(command)

    def submit(self, command: Command) -> asyncio.Future[Reply]:
        """Send ``command`` now; return the future of its reply.

        The line is written before this returns, so commands submitted one
        after another go out in that order (``request()`` awaits this).
        """
        if not command.spec().has_reply:
            raise ValueError(f"{command.VERB} gets no reply; use send()")
        waiter: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._write(command)
        self._waiters.append(waiter)
        return waiter

    def send(self, command: Command) -> None:
        """Send a command without waiting for its reply (PONG has none)."""
        self._write(command)
        if command.spec().has_reply:
            # Keep the FIFO of waiters in step with the connection's.
            self._waiters.append(asyncio.get_running_loop().create_future())

    def _write(self, command: Command) -> None:
        if self._error is not None or self._transport is None:
            raise self._error or ConnectionError("not connected")
        self._transport.write(self.connection.send(command))

    def __aiter__(self) -> AsyncIterator[Push]:
        return self

    async def __anext__(self) -> Push:
        item = await self.pushes.get()
        if item is None:
            # Leave the marker for any other reader, and for the next call.
            self.pushes.put_nowait(None)
            raise StopAsyncIteration
        return item

    def abort(self) -> None:
        """Drop the connection at once, discarding unsent output.

        For a peer that stopped reading: ``close()`` would wait for the
        buffered bytes to drain first.
        """
        if self._transport is not None:
            self._transport.abort()

    async def close(self) -> None:
        """Close the connection (the server sees the client drop)."""
        if self._transport is not None:
            self._transport.close()
        await asyncio.shield(self._closed)

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- driven by the protocol -------------------------------------------------

    def _receive(self, data: bytes) -> None:
        try:
            self.connection.receive_data(data)
            while True:
                event = self.connection.next_event()
                if event is NEED_DATA:
                    return
                self._dispatch(event)
                if isinstance(event, ConnectionClosed):
                    return
        except RemoteProtocolError as exc:
            # Nothing a broken server says afterwards can be trusted.
            log.warning("server broke the protocol: %s", exc)
            self._fail(ConnectionError(f"server broke the protocol: {exc}"))
            if self._transport is not None:
                self._transport.abort()

    def _dispatch(self, event: object) -> None:
        if isinstance(event, Greeting):
            if not self._greeted.done():
                self._greeted.set_result(event)
        elif isinstance(event, Reply):
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(event)
        elif isinstance(event, ServerPing):
            if self._transport is not None and not self._transport.is_closing():
                self._transport.write(self.connection.send(Pong(token=event.token)))
        elif isinstance(event, Push):
            if isinstance(event, Closing):
                self._fail(ConnectionError(f"server closing: {event.reason}"))
            self.pushes.put_nowait(event)
        elif isinstance(event, ConnectionClosed):
            self._fail(ConnectionError("connection closed by the server"))

    def _fail(self, error: ConnectionError) -> None:
        if self._error is None:
            self._error = error
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(error)
        if not self._greeted.done():
            self._greeted.set_exception(error)

    def _lost(self, exc: Exception | None) -> None:
        self._fail(ConnectionError(f"connection lost: {exc}" if exc else "closed"))
        self.pushes.put_nowait(None)
        if not self._closed.done():
            self._closed.set_result(None)


class _Connecting:
    """What ``Client.connect`` returns: awaitable, or an async context manager."""

    def __init__(
        self, host: str, port: int, timeout: float, tls: ssl.SSLContext | None
    ) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.tls = tls
        self.client: Client | None = None

    async def _open(self) -> Client:
        loop = asyncio.get_running_loop()
        client = Client()
        async with asyncio.timeout(self.timeout):
            await loop.create_connection(
                lambda: _ClientProtocol(client), self.host, self.port, ssl=self.tls
            )
            try:
                await client._greeted
            except BaseException:
                await client.close()
                raise
        return client

    def __await__(self) -> Generator[Any, None, Client]:
        return self._open().__await__()

    async def __aenter__(self) -> Client:
        self.client = await self._open()
        return self.client

    async def __aexit__(self, *exc: object) -> None:
        if self.client is not None:
            await self.client.close()
