"""The asyncio adapter: a server on protocols and transports, and a client.

The server owns one ``ServerCore``. Every callback feeds the core and applies
the ``Output`` it returns: writes, closes, reading paused or resumed, jobs run
in a thread pool. One timer, re-armed after every core call, runs
``core.tick()`` at ``core.next_deadline()``. The core is only ever called from
the event loop thread, so it needs no lock.

Its pieces live beside it: the protocol of one connection (``_aio_protocol``),
the listening sockets and the accept loop (``_aio_listen``) and the client
(``_aio_client``); import them all from here.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import importlib
import socket
import ssl
import time
from asyncio.selector_events import BaseSelectorEventLoop
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

from libbatchat._accounts import AccountStore
from libbatchat._cluster import Cluster
from libbatchat._config import Limits
from libbatchat._dialects import CANONICAL
from libbatchat._server import Job, Output, ServerCore, Session

from ._aio_client import Client
from ._aio_listen import Listeners
from ._aio_protocol import _READ_SIZE, ServerStats, _ServerProtocol
from ._common import (
    CLOSE_GRACE,
    DEFAULT_PORT,
    DEFAULT_WORKERS,
    SHUTDOWN_GRACE,
    Listen,
    QueueMeter,
    log,
)
from ._system import resolve

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
        self._listeners = Listeners(host, self.limits, self._accepted)
        self._accepting: set[asyncio.Task[object]] = set()
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
        # Whether the lines waiting for the flush include a broadcast (one
        # core call's lines to more than two peers): see _flush_next().
        self._broadcast = False
        self._applying = False
        self._closed = False
        self._stopped = asyncio.Event()

    @property
    def port(self) -> int:
        """The port actually bound (useful with ``port=0``)."""
        if self._listeners.port is None:
            raise RuntimeError("server not started")
        return self._listeners.port

    @property
    def listening(self) -> bool:
        """Whether new connections are accepted now."""
        return self._listeners.canonical is not None and not self._closed

    @property
    def listeners(self) -> list[Listen]:
        """Every listener as bound (real ports), the canonical one first."""
        return self._listeners.listeners

    async def start(self) -> None:
        """Bind and start accepting. Raises ``OSError`` if the port is taken."""
        self._loop = asyncio.get_running_loop()
        self._listeners.bind(self._loop, self.requested_port, self.listen)
        for spec in self.listeners[1:]:
            log.info("listening on %s (dialect %s)", spec, spec.dialect)

    def stop_listening(self) -> None:
        """Close every listening socket: new connections are refused; the
        sessions already open carry on. ``start_listening()`` reopens them."""
        self._listeners.stop()

    async def start_listening(self) -> None:
        """Accept connections again, on the same ports as before.

        Raises ``OSError`` if a port was taken in the meantime.
        """
        self._listeners.reopen()

    def stats(self) -> ServerStats:
        """The core's picture plus the bytes queued per connection."""
        core = self.core.stats()
        queued = {
            session.id: proto.transport.get_write_buffer_size()
            for session, proto in self.protocols.items()
            if proto.transport is not None and not proto.transport.is_closing()
        }
        sessions = tuple(replace(s, queued=queued.get(s.id, 0)) for s in core.sessions)
        port = self._listeners.port
        return ServerStats(
            core=replace(core, sessions=sessions),
            listening=self.listening,
            address=f"{self.host}:{port}" if port is not None else self.host,
        )

    # -- accepting ----------------------------------------------------------------

    def _accepted(self, sock: socket.socket, dialect: str) -> None:
        assert self._loop is not None
        task = self._loop.create_task(self._connect(sock, dialect))
        self._accepting.add(task)
        task.add_done_callback(self._accepting.discard)

    async def _connect(self, sock: socket.socket, dialect: str = CANONICAL) -> None:
        assert self._loop is not None
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            # The classroom clients speak plain TCP: TLS is the canonical's.
            tls = self.tls if dialect == CANONICAL else None
            # asyncio's own loop makes a plain TCP transport on this very
            # socket, so the flush may send() on it directly. Not under TLS
            # (the bytes must be encrypted) nor on another loop (uvloop's
            # transports are libuv streams, with their own write path).
            direct = tls is None and isinstance(self._loop, BaseSelectorEventLoop)
            await self._loop.connect_accepted_socket(
                functools.partial(
                    _ServerProtocol, self, dialect, sock if direct else None
                ),
                sock,
                ssl=tls,
            )
        except (OSError, ssl.SSLError) as exc:
            # A failed TLS handshake, or a peer gone already: its own problem.
            log.debug("connection not set up: %s", exc)
            sock.close()

    async def serve_forever(self) -> None:
        """Serve until ``close()`` has finished (clients told, store closed)."""
        if self._listeners.port is None:
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
        sends = out.sends
        if sends:
            if len(sends) > 2:
                self._broadcast = True
            get, unflushed = self.protocols.get, self._unflushed
            for session, data in sends:
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
        # That pays for a broadcast: the members of a busy room are likely
        # to get the next message too. A direct message gets a line to its
        # target and a reply to its sender, neither of whom gets more until
        # they answer: there the hop would only add an iteration's latency.
        if not self._broadcast:
            self._flush()
            return
        assert self._loop is not None
        self._flush_handle = self._loop.call_soon(self._flush)
        # Except for an unframed dialect's peers: it reads a message per
        # recv(), and messages held back together arrive as one. (Asked of
        # the listeners configured, not those open: stop_listening() keeps
        # the sessions they accepted.)
        if not self.listen:
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
        self._broadcast = False
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
                data = unsent[0]
            else:
                session = proto.session
                if session is not None and session.segmented:
                    proto.write_many(unsent)
                    data = b""
                else:
                    data = b"".join(unsent)
            sock = proto.sock
            # With nothing in the transport's buffer, transport.write() would
            # call send() first too; calling it here skips the transport's
            # checks and, when it takes everything, the meter's question
            # below. What send() leaves (a partial write, EAGAIN, an error)
            # goes to transport.write(), which buffers it, or meets the same
            # error and closes the transport.
            if data and sock is not None and not transport.get_write_buffer_size():
                try:
                    sent = sock.send(data)
                except OSError:
                    sent = 0
                if sent == len(data):
                    if proto.meter is not None and proto.meter.reported:
                        proto.report_queue()
                    continue
                data = data[sent:]
            if data:
                transport.write(data)
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

    async def close(self, text: str = "server shutting down") -> None:
        """Stop accepting, finish jobs, tell every client, flush, close the store."""
        if self._closed:
            return
        self._closed = True
        self._listeners.close()
        for task in self._accepting:
            task.cancel()
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
