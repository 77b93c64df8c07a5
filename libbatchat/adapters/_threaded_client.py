"""The threaded client: a blocking socket and a reader thread.

Replies wake the ``request()`` that waits for them, in order; pushes go to
``on_push`` or the ``pushes`` queue; the server's PING is answered with PONG
without the caller seeing it.
"""

from __future__ import annotations

import collections
import contextlib
import queue
import socket
import ssl
import threading
from types import TracebackType

from libbatchat._connection import NEED_DATA, Connection, Role
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

from ._common import SHUTDOWN_GRACE, PushCallback, log
from ._threaded_conn import RECV_SIZE, Stream, shutdown
from ._tls import TlsSocket, client_context


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
        shutdown(self.sock)
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
                    data = self.sock.recv(RECV_SIZE)
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
            shutdown(self.sock)
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
