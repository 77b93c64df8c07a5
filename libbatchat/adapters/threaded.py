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
the server's PING is answered with PONG without the caller seeing it. It
lives in ``_threaded_client``, a connection's half of the server in
``_threaded_conn``.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import ParamSpec

from libbatchat._accounts import AccountStore
from libbatchat._config import Limits
from libbatchat._dialects import CANONICAL
from libbatchat._server import Job, Output, ServerCore, Session

from ._common import (
    CLOSE_GRACE,
    DEFAULT_PORT,
    DEFAULT_WORKERS,
    DRAIN_GRACE,
    SHUTDOWN_GRACE,
    Listen,
    bind_error,
    format_peer,
    log,
)
from ._system import RESOURCE_ERRNOS, Backoff, Throttled, listen, resolve
from ._threaded_client import Client
from ._threaded_conn import Conn, Stream, refuse, shutdown
from ._tls import TlsSocket

__all__ = ["Client", "Listen", "Server"]

_P = ParamSpec("_P")

# A flush pass over at least this many connections first yields the GIL.
_JOINED_PASS = 16


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
        self._conns: dict[Session, Conn] = {}
        # The connections with lines pending (``Conn.pending``), and whether
        # a thread is flushing; all guarded by _dirty_lock.
        self._dirty: list[Conn] = []
        self._flushing = False
        self._dirty_lock = threading.Lock()
        self._all_conns: set[Conn] = set()
        self._closing_conns: set[Conn] = set()
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

    def report(self, conn: Conn) -> None:
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
        the flusher never waits for the core; it holds that lock to hand
        the pending lines over, not while sending.
        """
        with self._dirty_lock:
            if self._flushing or not self._dirty:
                return
            self._flushing = True
        try:
            while True:
                if len(self._dirty) >= _JOINED_PASS:
                    # A broadcast's pass: let the threads that have input in
                    # hand queue their lines first (a waiting thread takes
                    # the GIL here), so they join this pass's sends instead
                    # of costing a pass of their own. Not for a pass of a
                    # few (a direct message): the GIL would change hands
                    # twice for nothing. (An unlocked look: only a hint.)
                    time.sleep(0)
                with self._dirty_lock:
                    dirty = self._dirty
                    if not dirty:
                        self._flushing = False
                        return
                    self._dirty = []
                    ready = []
                    for conn in dirty:
                        lines = conn.pending
                        if lines is None:
                            continue  # closed or aborted since: taken there
                        conn.pending = None
                        ready.append((conn, conn.hand_over(lines)))
                for conn, data in ready:
                    if data is None:
                        # Queued for the writer: the core may need to hear
                        # how much now waits (a slow reader's limits).
                        conn.report()
                    else:
                        conn.send(data)
        except BaseException:
            with self._dirty_lock:
                self._flushing = False
            raise

    # -- applying the core's output (core lock held) ----------------------------

    def apply(self, out: Output) -> None:
        """Queue the output's lines and act on the rest; the caller sends the
        lines with ``_flush()`` after releasing the lock."""
        # Per line only a lookup and an append, under one lock for them
        # all: the flusher joins each connection's lines into one send.
        sends = out.sends
        if sends:
            get = self._conns.get
            with self._dirty_lock:
                dirty = self._dirty
                for session, data in sends:
                    conn = get(session)
                    if conn is None:
                        continue
                    lines = conn.pending
                    if lines is None:
                        conn.pending = [data]
                        dirty.append(conn)
                    else:
                        lines.append(data)
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
        # what the sockets take (``Conn.report``).
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

    def drained(self, conn: Conn) -> None:
        """``conn`` has written everything: give its reader a short drain."""
        with self.lock:
            if conn.abort_at is not None:
                conn.abort_at = min(conn.abort_at, self.clock() + DRAIN_GRACE)
                self._wake_timer(conn.abort_at)

    def forget(self, conn: Conn) -> None:
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
                    refuse(sock, b"".join(d for s, d in out.sends if s is session))
                else:
                    # The CLOSING line would need a handshake, and so a
                    # thread: a refused TLS client only sees the close.
                    sock.close()
                return
            stream: Stream = sock
            if tls is not None:
                stream = TlsSocket(sock, tls, server_side=True)
            conn = Conn(self, stream, peer)
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
            shutdown(self._listener)
            self._listener.close()
        for _, sock in self._dialect_listeners:
            shutdown(sock)
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
