"""The threaded server's connections: a socket, its outbound queue, two threads.

Also what the threaded server and client share about a socket: the stream
type (plain or TLS), the read size, and how to wake a blocked thread; and
how a refused connection gets its CLOSING line without threads of its own.
"""

from __future__ import annotations

import collections
import contextlib
import socket
import threading
from typing import TYPE_CHECKING

from libbatchat._server import Session

from ._common import QueueMeter
from ._tls import TlsSocket

if TYPE_CHECKING:
    from .threaded import Server

RECV_SIZE = 65536

# Queued lines are joined into one send of at most this many bytes.
_SEND_BATCH = 65536
# Where the system has it, a line is first sent at once without blocking by
# the server's flusher (a thread that called the core); only what the socket
# cannot take waits for the connection's writer thread. Waking a writer per
# line costs a thread switch per delivery, most of the adapter's time under
# fanout.
_DONTWAIT: int | None = getattr(socket, "MSG_DONTWAIT", None)


# A connection's byte stream: a socket, or TLS over one.
Stream = socket.socket | TlsSocket


def shutdown(sock: Stream, how: int = socket.SHUT_RDWR) -> None:
    # Wakes a thread blocked in recv() or send() on this socket (close() alone
    # does not on Linux); the peer may be gone already.
    with contextlib.suppress(OSError):
        sock.shutdown(how)


class Conn:
    """One connection's socket, outbound queue and two threads.

    Output is queued under the core lock and sent after it is released:
    ``send()`` gives up the GIL, and doing it under the lock would make every
    other thread that wants the core queue behind each system call. A line
    first goes to ``pending`` (a plain list, guarded by the server's
    ``_dirty_lock``, so queueing a delivery takes no lock of its own); the
    server's flusher hands each connection's pending lines over in one go
    (``hand_over``) and sends what the socket takes at once (``send``); the
    connection's writer thread only sends what a full socket could not take,
    and everything once the connection is closing.
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
        # Lines queued by the core and not yet handed to ``outbound``; not
        # None exactly while the server's list of connections to flush has
        # this one (both guarded by the server's ``_dirty_lock``).
        self.pending: list[bytes] | None = None
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

    def close(self, grace: float) -> None:
        # The lines the core queued before closing go out before the end:
        # into ``outbound`` now, where the writer finds them.
        with self.server._dirty_lock, self.cond:
            lines, self.pending = self.pending, None
            if self.closing or self.aborted:
                return
            if lines:
                self.outbound.extend(lines)
                self.queued += sum(map(len, lines))
            self.closing = True
            self.abort_at = self.server.clock() + grace
            self.cond.notify()
        # A reader paused by flood control must wake up to see it is over.
        self.readable.set()

    def abort(self) -> None:
        with self.server._dirty_lock, self.cond:
            self.pending = None
            self.aborted = True
            self.outbound.clear()
            self.queued = 0
            self.cond.notify()
        self.readable.set()
        shutdown(self.sock)

    # Called by the server's flusher.

    def hand_over(self, lines: list[bytes]) -> bytes | None:
        """Queue ``lines`` (taken off ``pending``, ``_dirty_lock`` held);
        returns the batch for the caller to ``send()`` at once, or None
        when the writer's job (or nothing to do)."""
        with self.guard:
            if self.closing or self.aborted:
                return None
            size = sum(map(len, lines))
            self.queued += size
            if (
                not self.outbound
                and not self.sending
                and not self.stalled
                and not self.segmented
                and self.direct is not None
                and size <= _SEND_BATCH
            ):
                # The usual case: nothing waits before these, so they are
                # the batch, without a trip through ``outbound``.
                self.sending = True
                return lines[0] if len(lines) == 1 else b"".join(lines)
            self.outbound.extend(lines)
            if self.sending:
                # The writer is sending; it takes these when its batch is out.
                return None
            if self.direct is None or self.stalled:
                # The writer's job (it may be waiting for it).
                self.cond.notify()
                return None
            self.sending = True
            return self._take()

    def send(self, data: bytes) -> None:
        """Send ``data`` (from ``hand_over``) and what follows it, as far as
        the socket takes them without blocking; the core lock not held."""
        direct = self.direct
        assert direct is not None and _DONTWAIT is not None
        while True:
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
                    break
                # More is queued (a segmented dialect's next message).
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
                data = self.sock.recv(RECV_SIZE)
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
                shutdown(self.sock, socket.SHUT_WR)
                self.server.drained(self)
            else:
                shutdown(self.sock)
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


def refuse(sock: socket.socket, data: bytes) -> None:
    """Send a refused connection its CLOSING line and close, without threads.

    A refusal must not cost the two threads a connection gets: the server may
    be refusing precisely because it cannot start more. A fresh socket's send
    buffer holds one short line, so a non-blocking send does not lose it.
    """
    sock.setblocking(False)
    with contextlib.suppress(OSError):
        sock.send(data)
    shutdown(sock, socket.SHUT_WR)
    # Unread input makes close() send a reset, which can destroy the line
    # before the peer reads it; drop what has arrived so far.
    with contextlib.suppress(OSError):
        while sock.recv(RECV_SIZE):
            pass
    sock.close()
