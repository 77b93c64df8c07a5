"""Loopback ports for servers started on a port chosen for them.

A server that must be told its port (``--server-cmd`` with ``{port}``;
redis-server refuses ``--port 0``) gets a number from binding port 0.
Released at once, that number can go to any other process before the
server binds it: the start fails, or worse, a client reaches another run's
server of the same kind and the run checks the wrong process. What closes
the window (the tests' Redis and PostgreSQL and the benchmarks' daemons
use it too):

- ``Reservation``: the port stays bound, with SO_REUSEADDR and never
  listening, until the server listens. Linux gives a bound port to nobody
  else's bind(port 0) or connect(), while a server that sets SO_REUSEADDR
  itself (redis-server, PostgreSQL, ngircd, miniircd, asyncio's servers)
  still binds and listens on it.
- ``on_free_port``: a start that lost its port anyway (``PortTaken``) is
  tried again on a fresh one, a bounded number of times.
- ``wait_ready``: the start is over only when the listener answers as
  ours (a password, a data directory, or ``owned_by``: the socket is held by
  our process, from Linux's /proc).
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

HOST = "127.0.0.1"
ATTEMPTS = 5
START_WAIT = 20.0
_IN_USE = os.strerror(errno.EADDRINUSE)  # what a daemon logs when bind() fails
_T = TypeVar("_T")


class StartError(Exception):
    """A server did not start."""


class PortTaken(StartError):
    """A server did not get its port: another process listens there."""


class Reservation:
    """``port`` (0: a free one) bound on ``host``, unusable by others until
    ``release()``; a server setting SO_REUSEADDR can listen on it meanwhile."""

    def __init__(self, port: int = 0, host: str = HOST) -> None:
        sock = socket.socket()
        try:
            # Port 0 is chosen among ports nobody holds in any way; a given
            # port (held again after its server stopped) must be bindable
            # over the connections it left in TIME_WAIT.
            if port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        except OSError:
            sock.close()
            raise
        self._sock: socket.socket | None = sock
        self.port = int(sock.getsockname()[1])

    def release(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> Reservation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def on_free_port(start: Callable[[Reservation], _T], attempts: int = ATTEMPTS) -> _T:
    """``start(reservation)`` until it does not raise ``PortTaken``, each time
    on a fresh port; the reservation is released once ``start`` returns."""
    lost = []
    for _ in range(attempts):
        with Reservation() as held:
            try:
                return start(held)
            except PortTaken as exc:
                lost.append(str(exc))
    raise PortTaken(f"lost the port {attempts} times in a row: " + "; ".join(lost))


class KeptPort:
    """A port chosen at the first start and kept by the restarts (clients
    have it in their URL), held while its server is down."""

    def __init__(self) -> None:
        self.port = 0
        self._held: Reservation | None = None

    def start(self, launch: Callable[[Reservation], object]) -> None:
        """``launch`` the server on its port: the first time on a free one
        (``on_free_port``), later on the same one."""
        if not self.port:

            def first(held: Reservation) -> int:
                launch(held)
                return held.port

            self.port = on_free_port(first)
            return
        lost = f"port {self.port} was taken while its server was down"
        held, self._held = self._held, None
        if held is None:
            try:
                held = Reservation(self.port)
            except OSError as exc:
                raise StartError(f"{lost}: {exc}") from None
        try:
            launch(held)
        except PortTaken as exc:
            raise StartError(f"{lost}: {exc}") from None
        finally:
            held.release()

    def stopped(self) -> None:
        """Hold the port again, now that its server is down (if nobody took
        it meanwhile: the next start says so)."""
        if self.port and self._held is None:
            with contextlib.suppress(OSError):
                self._held = Reservation(self.port)

    def close(self) -> None:
        if self._held is not None:
            self._held.release()
            self._held = None


class Daemon:
    """A server process of ours on a ``KeptPort``, its output in ``log``.
    A subclass gives its command line and how it is known to answer as
    ours; a restart (``start`` after ``stop``) keeps the port."""

    what = "the server"
    stop_signal = signal.SIGTERM

    def __init__(self, log: Path) -> None:
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self._port = KeptPort()

    @property
    def port(self) -> int:
        return self._port.port

    def argv(self, port: int) -> list[str]:
        raise NotImplementedError

    def answers(self, port: int) -> bool | None:
        """For ``wait_ready``: True if ours answers on ``port``, False if
        someone else does, None while nobody does."""
        raise NotImplementedError

    def start(self) -> None:
        """Returns once it answers as ours."""
        self._port.start(self._launch)

    def _launch(self, held: Reservation) -> None:
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                self.argv(held.port), stdin=subprocess.DEVNULL, stdout=out, stderr=out
            )
        try:
            wait_ready(
                self.proc,
                held.port,
                lambda: self.answers(held.port),
                lambda: self.log.read_text(errors="replace"),
                what=self.what,
            )
        except StartError:
            self.stop(signal.SIGKILL)
            raise

    def signalled(self) -> int:
        """The process to signal (a wrapper may not pass signals on)."""
        assert self.proc is not None
        return self.proc.pid

    def stop(self, sig: int | None = None) -> None:
        """Stop it (``stop_signal`` by default) and hold its port."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.signalled(), self.stop_signal if sig is None else sig)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        self._port.stopped()

    def close(self) -> None:
        """Stop it for good, letting its port go."""
        self.stop()
        self._port.close()


def taken(port: int, host: str = HOST) -> bool:
    """Whether some socket listens on ``port`` (SO_REUSEADDR binds past
    everything else: a reservation, connections in TIME_WAIT)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


def connectable(port: int, host: str = HOST) -> bool:
    try:
        socket.create_connection((host, port), 1.0).close()
    except OSError:
        return False
    return True


def listens_as(pid: int, port: int) -> bool | None:
    """For ``wait_ready``: None while nothing listens on ``port``, then
    whether the listener is ``pid``'s (True where /proc cannot tell)."""
    if not connectable(port):
        return None
    return owned_by(port, pid) is not False


def owned_by(port: int, pid: int) -> bool | None:
    """Whether the socket listening on ``port`` belongs to process ``pid`` or
    one of its descendants; None where /proc cannot tell (not Linux, or a
    descendant whose descriptors we may not read)."""
    sockets = _listening_sockets(port)
    if sockets is None:
        return None
    unknown = False
    for p in _family(pid):
        try:
            fds = os.listdir(f"/proc/{p}/fd")
        except PermissionError:
            unknown = True
            continue
        except OSError:  # gone meanwhile
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{p}/fd/{fd}") in sockets:
                    return True
            except OSError:
                continue
    return None if unknown else False


def _listening_sockets(port: int) -> set[str] | None:
    """``socket:[inode]`` of every TCP socket listening on ``port``."""
    found: set[str] = set()
    readable = False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        readable = True
        for row in rows:
            fields = row.split()
            listening = fields[3] == "0A"  # TCP_LISTEN
            if listening and int(fields[1].rsplit(":", 1)[1], 16) == port:
                found.add(f"socket:[{fields[9]}]")
    return found if readable else None


def _family(pid: int) -> list[int]:
    """``pid`` and its descendants (a wrapper such as runuser or a shell may
    run the real server as its child)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_bytes()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: split after it.
        ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    family = [pid]
    for p in family:  # grows as it goes; each pid has one parent, so it ends
        family.extend(children.get(p, []))
    return family


def wait_ready(
    proc: subprocess.Popen[bytes],
    port: int,
    ours: Callable[[], bool | None],
    log: Callable[[], str],
    *,
    what: str,
    wait: float = START_WAIT,
) -> None:
    """Return once ``ours()`` is True (the listener on ``port`` answers as
    ours). ``PortTaken`` if ``proc`` exited because the port was in use or
    ``ours()`` is False (someone else answers); ``StartError`` if it exited
    otherwise or was not ready within ``wait`` seconds. The caller stops
    ``proc`` after an error (it knows how)."""
    deadline = time.monotonic() + wait
    while True:
        code = proc.poll()
        if code is not None:
            text = log()
            if _IN_USE in text or taken(port):
                raise PortTaken(f"{what} could not bind port {port}: {_tail(text)}")
            raise StartError(f"{what} exited with {code}: {_tail(text)}")
        answer = ours()
        if answer:
            return
        if answer is False:
            raise PortTaken(f"another process than {what} listens on port {port}")
        if time.monotonic() > deadline:
            raise StartError(
                f"{what} was not ready on port {port} within {wait:g}s: {_tail(log())}"
            )
        # Polling a process we started: it offers nothing to wait on.
        time.sleep(0.02)


def _tail(text: str) -> str:
    return text.strip()[-500:] or "(no output)"
