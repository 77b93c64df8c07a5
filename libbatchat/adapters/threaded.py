"""The threaded adapter: a server on blocking sockets and threads, and a client.

The server owns one ``ServerCore`` behind one lock; every call into it holds
that lock and applies the ``Output`` it returns (queueing the lines) before
letting go, and then sends the lines without the lock, as far as the sockets
take them without blocking. Threads: one accepts; per connection one reads
and one writes (sending only what a full socket could not take, so a peer
that stops reading blocks only its own writer); one timer waits on a
condition until ``core.next_deadline()``; a bounded pool runs jobs.

The client reads in a thread of its own: replies wake the ``request()`` that
waits for them, in order; pushes go to ``on_push`` or the ``pushes`` queue;
the server's PING is answered with PONG without the caller seeing it.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import queue
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import ParamSpec

from libbatchat._accounts import AccountStore
from libbatchat._config import Limits
from libbatchat._connection import NEED_DATA, Connection, Role
from libbatchat._dialects import CANONICAL
from libbatchat._errors import RemoteProtocolError
from libbatchat._events import (
    Closing,
    Command,
    ConnectionClosed,
    Event,
    Greeting,
    Pong,
    Push,
    Reply,
    ServerPing,
)
from libbatchat._server import Job, Output, ServerCore, Session

from ._common import (
    CLOSE_GRACE,
    DEFAULT_PORT,
    DEFAULT_WORKERS,
    DRAIN_GRACE,
    SHUTDOWN_GRACE,
    Listen,
    PushCallback,
    QueueMeter,
    bind_error,
    format_peer,
    log,
)
from ._system import RESOURCE_ERRNOS, Backoff, Throttled, listen, resolve
from ._tls import TlsSocket, client_context

__all__ = ["Client", "Listen", "Server"]

_P = ParamSpec("_P")

_RECV_SIZE = 65536
# The writer joins queued lines into one send of at most this many bytes.
_SEND_BATCH = 65536
# Where the system has it, a line is first sent at once without blocking by
# the thread that made it; only what the socket cannot take waits for the
# connection's writer thread. Waking a writer per line costs a thread
# switch per delivery, most of the adapter's time under fanout.
_DONTWAIT: int | None = getattr(socket, "MSG_DONTWAIT", None)


# A connection's byte stream: a socket, or TLS over one.
Stream = socket.socket | TlsSocket


def _shutdown(sock: Stream, how: int = socket.SHUT_RDWR) -> None:
    # Wakes a thread blocked in recv() or send() on this socket (close() alone
    # does not on Linux); the peer may be gone already.
    with contextlib.suppress(OSError):
        sock.shutdown(how)


def _refuse(sock: socket.socket, data: bytes) -> None:
    """Send a refused connection its CLOSING line and close, without threads.

    A refusal must not cost the two threads a connection gets: the server may
    be refusing precisely because it cannot start more. A fresh socket's send
    buffer holds one short line, so a non-blocking send does not lose it.
    """
    sock.setblocking(False)
    with contextlib.suppress(OSError):
        sock.send(data)
    _shutdown(sock, socket.SHUT_WR)
    # Unread input makes close() send a reset, which can destroy the line
    # before the peer reads it; drop what has arrived so far.
    with contextlib.suppress(OSError):
        while sock.recv(_RECV_SIZE):
            pass
    sock.close()


# -- server -------------------------------------------------------------------


class _Conn:
    """One connection's socket, outbound queue and two threads.

    Output is queued under the core lock and sent after it is released:
    ``send()`` gives up the GIL, and doing it under the lock would make every
    other thread that wants the core queue behind each system call. The
    thread that released the lock sends what the socket takes at once
    (``flush``); the connection's writer thread only sends what a full socket
    could not take, and everything once the connection is closing.
    """

    def __init__(self, server: Server, sock: Stream, peer: str) -> None:
        self.server = server
        self.sock = sock
        self.peer = peer
        self.session: Session | None = None
        self.segmented = False
        self.meter = QueueMeter(server.limits.send_queue_soft)
        # Guards the outbound queue only; never held while calling the core.
        # The hot paths take the bare lock (a Condition's ``with`` runs in
        # Python), the writer waits on the condition.
        self.guard = threading.Lock()
        self.cond = threading.Condition(self.guard)
        self.outbound: collections.deque[bytes] = collections.deque()
        self.queued = 0
        # Whether the server's list of connections to flush has this one
        # (guarded by the server's ``_dirty_lock``).
        self.dirty = False
        # One thread at a time sends (a flusher or the writer), holding a
        # batch taken off ``outbound``; meanwhile nothing may jump ahead of it.
        self.sending = False
        # The socket was full: the writer sends until the queue is empty.
        self.stalled = False
        # The plain socket to send on without blocking; TLS output always
        # goes through the writer.
        self.direct: socket.socket | None = (
            sock if _DONTWAIT is not None and isinstance(sock, socket.socket) else None
        )
        self.closing = False  # the core closed it: flush, then shut down
        self.aborted = False  # drop what is queued and shut down now
        self.abort_at: float | None = None
        self.readable = threading.Event()
        self.readable.set()
        self.written = threading.Event()  # the writer has finished
        self._threads_left = 2
        self.reader = threading.Thread(
            target=self._read_loop, name=f"batchat-read {peer}", daemon=True
        )
        self.writer = threading.Thread(
            target=self._write_loop, name=f"batchat-write {peer}", daemon=True
        )

    def start(self) -> None:
        """Start both threads, or raise with nothing left running.

        Starting a thread fails when the process is out of threads or memory
        (``RuntimeError``); the caller then refuses the connection.
        """
        try:
            self.writer.start()
        except BaseException:
            self.sock.close()
            raise
        try:
            self.reader.start()
        except BaseException:
            # The writer sees the abort, ends, and (the reader never having
            # run) closes the socket as the last thread out.
            self._thread_done()
            self.abort()
            raise

    # Called with the core lock held.

    def enqueue(self, data: bytes) -> None:
        with self.guard:
            if self.closing or self.aborted:
                return
            self.outbound.append(data)
            self.queued += len(data)

    def close(self, grace: float) -> None:
        with self.cond:
            if self.closing or self.aborted:
                return
            self.closing = True
            self.abort_at = self.server.clock() + grace
            self.cond.notify()
        # A reader paused by flood control must wake up to see it is over.
        self.readable.set()

    def abort(self) -> None:
        with self.cond:
            self.aborted = True
            self.outbound.clear()
            self.queued = 0
            self.cond.notify()
        self.readable.set()
        _shutdown(self.sock)

    # Called without the core lock.

    def flush(self) -> None:
        """Send what is queued as far as the socket takes it without blocking."""
        direct = self.direct
        with self.guard:
            if not self.outbound:
                return
            if direct is None or self.stalled or self.closing:
                # The writer's job (it may be waiting for it).
                self.cond.notify()
                data = None
            elif self.sending:
                # The thread sending takes this too when its batch is out.
                data = None
            else:
                data = self._take()
                self.sending = True
        while data is not None:
            assert direct is not None and _DONTWAIT is not None
            try:
                sent = direct.send(data, _DONTWAIT)
            except OSError:
                # Full (EAGAIN) or broken: the writer sends the rest, or
                # meets the error and ends the connection.
                sent = 0
            with self.guard:
                if self.aborted:
                    self.sending = False
                    return
                self.queued -= sent
                if sent < len(data):
                    self.outbound.appendleft(data[sent:])
                    self.stalled = True
                if self.stalled or self.closing or not self.outbound:
                    self.sending = False
                    if self.outbound or self.closing:
                        self.cond.notify()
                    data = None
                else:
                    # More came while this batch was out: one send for it all.
                    data = self._take()
        # Sent or not, the queue may have crossed a limit the core must hear
        # about.
        self.report()

    def _take(self) -> bytes:
        """The next batch off ``outbound`` (``cond`` held): the queued lines
        joined up to ``_SEND_BATCH`` bytes, or one message for a segmented
        dialect, whose client takes each read as one message."""
        first = self.outbound.popleft()
        if self.segmented or not self.outbound:
            return first
        batch = [first]
        size = len(first)
        while self.outbound and size + len(self.outbound[0]) <= _SEND_BATCH:
            size += len(self.outbound[0])
            batch.append(self.outbound.popleft())
        return b"".join(batch)

    def _writable(self) -> bool:
        # What the writer waits for (``cond`` held): a batch no flusher
        # will send, or a closed connection with nothing left to send.
        if self.aborted:
            return True
        if self.sending:
            return False
        if not self.outbound:
            return self.closing
        return self.stalled or self.closing or self.direct is None

    # The threads.

    def _read_loop(self) -> None:
        server = self.server
        try:
            if isinstance(self.sock, TlsSocket):
                self.sock.handshake()
            while True:
                self.readable.wait()
                if self.aborted:
                    break
                data = self.sock.recv(_RECV_SIZE)
                if self.closing:
                    # Draining: the core is done with this connection, but
                    # input left unread would make close() reset it, and a
                    # reset can destroy the CLOSING line before the peer
                    # reads it. Read and drop until the peer's EOF (or the
                    # timer's abort, DRAIN_GRACE after the output is out).
                    if not data:
                        break
                    continue
                assert self.session is not None
                server.call(server.core.receive, self.session, data)
                if not data:
                    break
        except OSError:
            pass
        finally:
            assert self.session is not None
            server.call(server.core.disconnect, self.session)
            if not self.closing:
                # The peer is gone: nothing queued can reach it.
                self.abort()
            self._thread_done()

    def _write_loop(self) -> None:
        try:
            while True:
                with self.cond:
                    while not self._writable():
                        self.cond.wait()
                    if self.aborted or not self.outbound:
                        break
                    data = self._take()
                    self.sending = True
                try:
                    self.sock.sendall(data)
                finally:
                    with self.guard:
                        self.sending = False
                        if not self.aborted:
                            self.queued -= len(data)
                        if not self.outbound:
                            # Caught up: flushers send again.
                            self.stalled = False
                self.report()
        except OSError:
            pass
        finally:
            if self.closing and not self.aborted:
                # All output is out: half-close, so the peer reads it and
                # then EOF, while the reader drains for a short grace.
                _shutdown(self.sock, socket.SHUT_WR)
                self.server.drained(self)
            else:
                _shutdown(self.sock)
            self.written.set()
            self._thread_done()

    def report(self) -> None:
        """Tell the core how many bytes wait, if the meter says it matters."""
        # An unlocked look first, so a connection far below the limits does
        # not contend for the core lock after every send.
        floor = self.meter.floor
        if self.queued < floor and self.meter.reported < floor:
            return
        self.server.report(self)

    def _thread_done(self) -> None:
        with self.cond:
            self._threads_left -= 1
            last = self._threads_left == 0
        if last:
            self.sock.close()
            self.server.forget(self)


class Server:
    """A BatChat server on blocking sockets and threads.

    ``accounts`` (a ``MemoryStore`` when omitted) is owned by the server from
    then on: ``close()`` closes it. Use as a context manager, or call
    ``start()`` and ``close()``. ``listen`` adds listeners that speak a
    classroom dialect to the same core (docs/dialects.md).
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
    ) -> None:
        self.host = host
        self.requested_port = port
        self.close_grace = close_grace
        self.tls = tls
        self.listen = tuple(listen)
        self._dialect_listeners: list[tuple[Listen, socket.socket]] = []
        self._dialect_threads: list[threading.Thread] = []
        self.clock: Callable[[], float] = time.monotonic
        limits = resolve(limits or Limits(), threads_per_connection=2)
        self.core = ServerCore(limits=limits, accounts=accounts, clock=self.clock)
        self.limits = self.core.limits
        # One lock around every core call; the timer waits on it as a condition.
        self.lock = threading.RLock()
        self._timer_cond = threading.Condition(self.lock)
        self._timer_wake: float | None = None
        self._conns: dict[Session, _Conn] = {}
        # The connections with lines queued and not yet flushed, and whether
        # a thread is flushing; both guarded by _dirty_lock.
        self._dirty: list[_Conn] = []
        self._flushing = False
        self._dirty_lock = threading.Lock()
        self._all_conns: set[_Conn] = set()
        self._closing_conns: set[_Conn] = set()
        self._executor = ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="batchat-job"
        )
        self._jobs = 0
        self._jobs_done = threading.Condition(threading.Lock())
        self._listener: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._timer_thread: threading.Thread | None = None
        self._stopping = False
        self._stop_accepting = threading.Event()  # wakes a backing-off accept loop
        self._stopped = threading.Event()
        # One line per interval, however many accepts or thread starts fail.
        self._accept_log = Throttled()

    @property
    def port(self) -> int:
        """The port actually bound (useful with ``port=0``)."""
        if self._listener is None:
            raise RuntimeError("server not started")
        return int(self._listener.getsockname()[1])

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

    def start(self) -> None:
        """Bind and start the threads. Raises ``OSError`` if a port is taken."""
        listener = listen(self.host, self.requested_port, self.limits)
        for spec in self.listen:
            try:
                sock = listen(spec.host, spec.port, self.limits)
            except OSError as exc:
                listener.close()
                for _, other in self._dialect_listeners:
                    other.close()
                self._dialect_listeners.clear()
                raise bind_error(exc, spec) from exc
            self._dialect_listeners.append((spec, sock))
        self._listener = listener
        self._accept_thread = threading.Thread(
            target=self._accept_loop, name="batchat-accept", daemon=True
        )
        for spec, sock in self._dialect_listeners:
            thread = threading.Thread(
                target=self._accept_loop,
                args=(sock, spec.dialect),
                name=f"batchat-accept {spec.dialect}",
                daemon=True,
            )
            self._dialect_threads.append(thread)
            thread.start()
        self._timer_thread = threading.Thread(
            target=self._timer_loop, name="batchat-timer", daemon=True
        )
        self._accept_thread.start()
        self._timer_thread.start()
        for spec in self.listeners[1:]:
            log.info("listening on %s (dialect %s)", spec, spec.dialect)

    def serve_forever(self) -> None:
        """Block until ``close()`` is called (from another thread)."""
        if self._listener is None:
            self.start()
        self._stopped.wait()

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- calling the core --------------------------------------------------------

    def call(
        self, method: Callable[_P, Output], *args: _P.args, **kwargs: _P.kwargs
    ) -> None:
        """Call the core under its lock, apply the output, then send it."""
        with self.lock:
            self.apply(method(*args, **kwargs))
        self._flush()

    def report(self, conn: _Conn) -> None:
        """Tell the core how many bytes ``conn`` has waiting, if it matters."""
        with self.lock:
            session = conn.session
            if session is None or conn.closing or conn.aborted:
                return
            if not conn.meter.due(conn.queued):
                return
            self.apply(self.core.send_queue(session, conn.queued))
        self._flush()

    def _flush(self) -> None:
        """Send what was queued, unless another thread is at it (core lock
        not held).

        One thread flushes at a time, and keeps at it while other threads
        queue more: every send() gives up the GIL, and several threads
        sending at once would hand it back and forth on each one (a thread
        switch per delivery), while the lines queued meanwhile are joined
        into one send per connection. The list has a lock of its own, so
        the flusher never waits for the core.
        """
        with self._dirty_lock:
            if self._flushing or not self._dirty:
                return
            self._flushing = True
        try:
            while True:
                with self._dirty_lock:
                    dirty = self._dirty
                    if not dirty:
                        self._flushing = False
                        return
                    self._dirty = []
                    for conn in dirty:
                        conn.dirty = False
                for conn in dirty:
                    conn.flush()
        except BaseException:
            with self._dirty_lock:
                self._flushing = False
            raise

    # -- applying the core's output (core lock held) ----------------------------

    def apply(self, out: Output) -> None:
        """Queue the output's lines and act on the rest; the caller sends the
        lines with ``_flush()`` after releasing the lock."""
        # One write per connection for all its lines in this output.
        written: dict[_Conn, list[bytes]] = {}
        for session, data in out.sends:
            conn = self._conns.get(session)
            if conn is not None:
                lines = written.get(conn)
                if lines is None:
                    written[conn] = [data]
                else:
                    lines.append(data)
        for conn, lines in written.items():
            if conn.segmented:
                # Its dialect reads a message per segment: no joining.
                for data in lines:
                    conn.enqueue(data)
            else:
                conn.enqueue(lines[0] if len(lines) == 1 else b"".join(lines))
        if written:
            with self._dirty_lock:
                for conn in written:
                    if not conn.dirty:
                        conn.dirty = True
                        self._dirty.append(conn)
        for session in out.pause:
            conn = self._conns.get(session)
            if conn is not None:
                conn.readable.clear()
        for session in out.resume:
            conn = self._conns.get(session)
            if conn is not None:
                conn.readable.set()
        for session in out.closes:
            conn = self._conns.get(session)
            if conn is not None:
                conn.close(self.close_grace)
                self._closing_conns.add(conn)
                self._wake_timer(conn.abort_at)
        for job in out.jobs:
            self._start_job(job)
        # The send-queue sizes go to the core once the flushers have sent
        # what the sockets take (``_Conn.report``).
        self._wake_timer(self.core.earliest_deadline())

    def _wake_timer(self, when: float | None) -> None:
        if when is not None and (self._timer_wake is None or when < self._timer_wake):
            self._timer_wake = when
            self._timer_cond.notify()

    def _start_job(self, job: Job) -> None:
        with self._jobs_done:
            self._jobs += 1
        future = self._executor.submit(job.run)

        def done(f: Future[object]) -> None:
            try:
                if not f.cancelled():
                    exc = f.exception()
                    if exc is not None:
                        # Job.run reports failures as its result; one that
                        # raises is a bug, but the session still gets a reply.
                        log.error("job for session %d raised", job.session.id)
                    self.call(self.core.finish, job, exc or f.result())
            finally:
                with self._jobs_done:
                    self._jobs -= 1
                    self._jobs_done.notify_all()

        future.add_done_callback(done)

    def drained(self, conn: _Conn) -> None:
        """``conn`` has written everything: give its reader a short drain."""
        with self.lock:
            if conn.abort_at is not None:
                conn.abort_at = min(conn.abort_at, self.clock() + DRAIN_GRACE)
                self._wake_timer(conn.abort_at)

    def forget(self, conn: _Conn) -> None:
        with self.lock:
            self._all_conns.discard(conn)
            self._closing_conns.discard(conn)
            if conn.session is not None and self._conns.get(conn.session) is conn:
                del self._conns[conn.session]

    # -- threads ----------------------------------------------------------------

    def _accept_loop(
        self, listener: socket.socket | None = None, dialect: str = CANONICAL
    ) -> None:
        listener = listener or self._listener
        assert listener is not None
        backoff = Backoff()
        while not self._stopping:
            try:
                sock, address = listener.accept()
            except OSError as exc:
                if self._stopping:
                    break
                if exc.errno not in RESOURCE_ERRNOS:
                    # That one connection failed (reset before we got to it).
                    continue
                # Out of descriptors or memory: back off rather than spin,
                # and keep the log to a line per interval.
                pause = backoff.failed()
                self._accept_log(logging.ERROR, "accept failed: %s", exc)
                self._stop_accepting.wait(pause)
                continue
            try:
                self._admit(sock, format_peer(address), dialect)
            except (RuntimeError, MemoryError, OSError) as exc:
                # The connection's threads would not start: it is closed, and
                # the loop pauses as after a failed accept.
                pause = backoff.failed()
                self._accept_log(
                    logging.ERROR, "cannot serve a new connection: %s", exc
                )
                self._stop_accepting.wait(pause)
            else:
                backoff.succeeded()

    def _admit(self, sock: socket.socket, peer: str, dialect: str = CANONICAL) -> None:
        # The classroom clients speak plain TCP: TLS is the canonical's.
        tls = self.tls if dialect == CANONICAL else None
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            sock.close()
            raise
        with self.lock:
            if self._stopping:
                sock.close()
                return
            session, out = self.core.connect(peer, dialect)
            if not session.open:
                if tls is None:
                    _refuse(sock, b"".join(d for s, d in out.sends if s is session))
                else:
                    # The CLOSING line would need a handshake, and so a
                    # thread: a refused TLS client only sees the close.
                    sock.close()
                return
            stream: Stream = sock
            if tls is not None:
                stream = TlsSocket(sock, tls, server_side=True)
            conn = _Conn(self, stream, peer)
            conn.session = session
            conn.segmented = session.segmented
            try:
                conn.start()
            except BaseException:
                self.apply(self.core.disconnect(session))
                raise
            self._conns[session] = conn
            self._all_conns.add(conn)
            self.apply(out)
        self._flush()

    def _timer_loop(self) -> None:
        while True:
            with self.lock:
                if self._stopping:
                    break
                self._timer_step()
            # What the timers produced (PINGs, CLOSING) goes out unlocked.
            self._flush()

    def _timer_step(self) -> None:
        # Core lock held: runs what is due, or else waits for the next
        # deadline (or a wake-up).
        deadline = self.core.next_deadline()
        # Read the clock after the core did: a deadline of "now" in its
        # reading must count as due in ours.
        now = self.clock()
        if deadline is not None and deadline <= now:
            self.apply(self.core.tick())
            return
        for conn in list(self._closing_conns):
            if conn.abort_at is not None and conn.abort_at <= now:
                self._closing_conns.discard(conn)
                if not conn.written.is_set():
                    log.info("aborting %s: output not flushed", conn.peer)
                # Flushed or not, the drain is over.
                conn.abort()
        wakes = [c.abort_at for c in self._closing_conns if c.abort_at]
        if deadline is not None:
            wakes.append(deadline)
        wake = min(wakes, default=None)
        self._timer_wake = wake
        self._timer_cond.wait(None if wake is None else max(0.0, wake - now))
        self._timer_wake = None

    # -- shutting down ----------------------------------------------------------

    def close(self, text: str = "server shutting down") -> None:
        """Stop accepting, finish jobs, tell every client, flush, close the store."""
        with self.lock:
            if self._stopping:
                return
            self._stopping = True
        self._stop_accepting.set()
        if self._listener is not None:
            _shutdown(self._listener)
            self._listener.close()
        for _, sock in self._dialect_listeners:
            _shutdown(sock)
            sock.close()
        if self._accept_thread is not None:
            self._accept_thread.join(SHUTDOWN_GRACE)
        for thread in self._dialect_threads:
            thread.join(SHUTDOWN_GRACE)
        give_up = self.clock() + SHUTDOWN_GRACE
        with self._jobs_done:
            # Replies owed for jobs under way go out before the CLOSING line.
            self._jobs_done.wait_for(
                lambda: self._jobs == 0, timeout=max(0.0, give_up - self.clock())
            )
        with self.lock:
            self.apply(self.core.shutdown(text))
            self._timer_cond.notify()
            conns = list(self._all_conns)
        self._flush()  # all closing: hands the rest to their writers
        for conn in conns:
            conn.written.wait(max(0.0, give_up - self.clock()))
        # Readers drain until the peer's EOF; a peer that never hangs up gets
        # DRAIN_GRACE in all, not each.
        drain_end = min(give_up, self.clock() + DRAIN_GRACE)
        for conn in conns:
            if conn.written.is_set():
                conn.reader.join(max(0.0, drain_end - self.clock()))
        for conn in conns:
            conn.abort()
        for conn in conns:
            conn.reader.join(SHUTDOWN_GRACE)
            conn.writer.join(SHUTDOWN_GRACE)
        if self._timer_thread is not None:
            self._timer_thread.join(SHUTDOWN_GRACE)
        self._executor.shutdown(wait=True, cancel_futures=True)
        self.core.accounts.close()
        self._stopped.set()
        log.info("server closed")


# -- client -------------------------------------------------------------------


class _Waiter:
    __slots__ = ("done", "error", "reply")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.reply: Reply | None = None
        self.error: ConnectionError | None = None


class Client:
    """A BatChat client on a blocking socket and a reader thread.

    ``Client.connect(host, port)`` returns a connected client (a context
    manager). ``request()`` sends a command and blocks for its reply. Pushes
    go to ``on_push(push)``, called in the reader thread (it must not call
    ``request()``, which would wait for that same thread), or else to the
    ``pushes`` queue, which gets ``None`` once the connection has ended.
    """

    def __init__(self, sock: Stream, *, on_push: PushCallback | None = None) -> None:
        self.sock = sock
        self.connection = Connection(Role.CLIENT)
        self.on_push = on_push
        self.pushes: queue.Queue[Push | None] = queue.Queue()
        # _send_lock orders whole writes, so the wire order matches the order
        # of the reply FIFO; _state_lock guards the Connection.
        self._send_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._waiters: collections.deque[_Waiter] = collections.deque()
        self._greeted = threading.Event()
        self._error: ConnectionError | None = None
        self.closed = threading.Event()
        self._reader = threading.Thread(
            target=self._read_loop, name="batchat-client", daemon=True
        )
        self._reader.start()

    @classmethod
    def connect(
        cls,
        host: str,
        port: int,
        *,
        on_push: PushCallback | None = None,
        timeout: float = 10.0,
        tls: bool | ssl.SSLContext | None = None,
        cafile: str | None = None,
    ) -> Client:
        """Connect and wait for the greeting (``ConnectionError`` if refused).

        ``tls=True`` speaks TLS and verifies the server's certificate and
        name (against ``cafile`` if given, else the system's authorities);
        an ``ssl.SSLContext`` is used as it is. ``ssl.SSLError`` (an
        ``OSError``) if the certificate does not check out.
        """
        context = client_context(tls, cafile)
        sock = socket.create_connection((host, port), timeout=timeout)
        stream: Stream = sock
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if context is not None:
                stream = TlsSocket(
                    sock, context, server_side=False, server_hostname=host
                )
                stream.handshake(timeout)
            sock.settimeout(None)
        except BaseException:
            sock.close()
            raise
        client = cls(stream, on_push=on_push)
        if not client._greeted.wait(timeout):
            client.close()
            raise TimeoutError("no greeting from the server")
        if client.connection.greeting is None:
            client.close()
            raise client._error or ConnectionError("connection refused")
        return client

    @property
    def greeting(self) -> Greeting:
        greeting = self.connection.greeting
        if greeting is None:
            raise RuntimeError("no greeting yet")
        return greeting

    def request(self, command: Command, timeout: float | None = 10.0) -> Reply:
        """Send ``command`` and block until its reply arrives.

        Raises ``ConnectionError`` if the connection is, or gets, lost first,
        and ``TimeoutError`` after ``timeout`` seconds (the reply, when it
        comes, is then dropped).
        """
        if not command.spec().has_reply:
            raise ValueError(f"{command.VERB} gets no reply; use send()")
        waiter = self._send(command)
        assert waiter is not None
        if not waiter.done.wait(timeout):
            raise TimeoutError(f"no reply to {command.VERB} in {timeout} s")
        if waiter.error is not None:
            raise waiter.error
        assert waiter.reply is not None
        return waiter.reply

    def send(self, command: Command) -> None:
        """Send a command without waiting for its reply (PONG has none)."""
        self._send(command)

    def _send(self, command: Command) -> _Waiter | None:
        with self._send_lock:
            with self._state_lock:
                if self._error is not None:
                    raise self._error
                data = self.connection.send(command)
                waiter = _Waiter() if command.spec().has_reply else None
                if waiter is not None:
                    self._waiters.append(waiter)
            try:
                self.sock.sendall(data)
            except OSError as exc:
                self._fail(ConnectionError(f"connection lost: {exc}"))
        return waiter

    def _send_quietly(self, command: Command) -> None:
        with contextlib.suppress(ConnectionError):
            self._send(command)

    def close(self) -> None:
        """Close the connection (the server sees the client drop)."""
        _shutdown(self.sock)
        if self._reader is not threading.current_thread():
            self._reader.join(SHUTDOWN_GRACE)
        self.sock.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- the reader thread ------------------------------------------------------

    def _read_loop(self) -> None:
        try:
            while True:
                try:
                    data = self.sock.recv(_RECV_SIZE)
                except OSError:
                    data = b""
                with self._state_lock:
                    events = self._events(data)
                for event in events:
                    self._dispatch(event)
                if not data or self._error is not None:
                    break
        finally:
            self._fail(ConnectionError("connection closed"))
            self._greeted.set()
            self.pushes.put(None)
            self.closed.set()

    def _events(self, data: bytes) -> list[Event]:
        events: list[Event] = []
        try:
            self.connection.receive_data(data)
            while True:
                event = self.connection.next_event()
                if event is NEED_DATA or isinstance(event, ConnectionClosed):
                    return events
                events.append(event)
        except RemoteProtocolError as exc:
            # Nothing a broken server says afterwards can be trusted.
            log.warning("server broke the protocol: %s", exc)
            self._error = ConnectionError(f"server broke the protocol: {exc}")
            _shutdown(self.sock)
            return events

    def _dispatch(self, event: Event) -> None:
        if isinstance(event, Greeting):
            self._greeted.set()
        elif isinstance(event, Reply):
            with self._state_lock:
                waiter = self._waiters.popleft()
            waiter.reply = event
            waiter.done.set()
        elif isinstance(event, ServerPing):
            # Not from this thread: a request() blocked in sendall holds the
            # send lock, and waiting for it here would stop us reading.
            threading.Thread(
                target=self._send_quietly, args=(Pong(token=event.token),), daemon=True
            ).start()
        elif isinstance(event, Push):
            if isinstance(event, Closing):
                self._fail(ConnectionError(f"server closing: {event.reason}"))
                self._greeted.set()
            if self.on_push is not None:
                self.on_push(event)
            else:
                self.pushes.put(event)

    def _fail(self, error: ConnectionError) -> None:
        with self._state_lock:
            if self._error is None:
                self._error = error
            waiters = list(self._waiters)
            self._waiters.clear()
        for waiter in waiters:
            waiter.error = error
            waiter.done.set()
