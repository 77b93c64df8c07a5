"""The asyncio server's listening sockets and the accept loop on them.

Our own accept loop, not ``loop.create_server()``: asyncio's logs a record
with a traceback for every accept() that fails for want of descriptors and,
retrying each, schedules more retries than it had failures.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable, Sequence

from libbatchat._config import Limits
from libbatchat._dialects import CANONICAL

from ._common import Listen, bind_error, log
from ._system import RESOURCE_ERRNOS, Backoff, Throttled, listen


class Listeners:
    """The canonical listener and the dialect ones beside it.

    Each accepted socket goes to ``accepted(sock, dialect)``.
    """

    def __init__(
        self,
        host: str,
        limits: Limits,
        accepted: Callable[[socket.socket, str], None],
    ) -> None:
        self.host = host
        self.limits = limits
        self._accepted = accepted
        self.canonical: socket.socket | None = None
        self.port: int | None = None  # as bound; kept while not listening
        self.dialects: list[tuple[Listen, socket.socket]] = []
        # The dialect listeners as bound, to reopen after stop().
        self._stopped: list[Listen] = []
        self._retry: asyncio.TimerHandle | None = None
        self._backoff = Backoff()
        # One line per interval, however many accepts fail.
        self._log = Throttled()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    def bind(
        self, loop: asyncio.AbstractEventLoop, port: int, specs: Sequence[Listen]
    ) -> None:
        """Bind the canonical port and ``specs``; start accepting on them all."""
        self._loop = loop
        canonical = listen(self.host, port, self.limits)
        for spec in specs:
            try:
                sock = listen(spec.host, spec.port, self.limits)
            except OSError as exc:
                for other in (canonical, *(s for _, s in self.dialects)):
                    other.close()
                self.dialects.clear()
                raise bind_error(exc, spec) from exc
            self.dialects.append((spec, sock))
        self.canonical = canonical
        self.port = int(canonical.getsockname()[1])
        for sock, _dialect in self.sockets():
            sock.setblocking(False)
        self._start_accepting()

    def stop(self) -> None:
        """Close every listening socket; ``reopen()`` binds them again."""
        loop = self._loop
        if self.canonical is None or loop is None or self._closed:
            return
        self._stopped = self.listeners[1:]
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        for sock, _dialect in self.sockets():
            loop.remove_reader(sock.fileno())
            sock.close()
        self.canonical = None
        self.dialects.clear()
        log.info("stopped listening on %s:%d", self.host, self.port)

    def reopen(self) -> None:
        """Listen again on the ports bound before ``stop()``."""
        if self.canonical is not None or self._loop is None or self._closed:
            return
        assert self.port is not None  # bound before, as the loop says
        self.bind(self._loop, self.port, self._stopped)
        log.info("listening again on %s:%d", self.host, self.port)

    def close(self) -> None:
        """Stop accepting for good (the server is closing)."""
        self._closed = True
        if self._retry is not None:
            self._retry.cancel()
        for sock, _dialect in self.sockets():
            if self._loop is not None:
                self._loop.remove_reader(sock.fileno())
            sock.close()

    @property
    def listeners(self) -> list[Listen]:
        """Every listener as bound (real ports), the canonical one first."""
        if self.canonical is None or self.port is None:
            raise RuntimeError("server not started")
        return [
            Listen(CANONICAL, self.host, self.port),
            *(
                Listen(spec.dialect, spec.host, int(sock.getsockname()[1]))
                for spec, sock in self.dialects
            ),
        ]

    def sockets(self) -> list[tuple[socket.socket, str]]:
        """Every listening socket with the dialect it speaks."""
        found = [(self.canonical, CANONICAL)] if self.canonical is not None else []
        return [*found, *((s, spec.dialect) for spec, s in self.dialects)]

    def _start_accepting(self) -> None:
        assert self._loop is not None
        for sock, dialect in self.sockets():
            self._loop.add_reader(sock.fileno(), self._accept, sock, dialect)

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
                self._log(logging.ERROR, "accept failed: %s", exc)
                # Out of descriptors is out for every listener: pause them all.
                for other, _ in self.sockets():
                    loop.remove_reader(other.fileno())
                self._retry = loop.call_later(self._backoff.failed(), self._resume)
                return
            self._backoff.succeeded()
            self._accepted(sock, dialect)

    def _resume(self) -> None:
        self._retry = None
        if self.canonical is not None and self._loop is not None and not self._closed:
            self._start_accepting()
