"""What the operating system allows: the limits ``Limits`` leaves at 0.

``max_connections`` = 0 means as many connections as the process can hold:
each needs a file descriptor, and on the threaded adapter two threads, which
count against the process and thread limits and take address space for their
stacks. A server that refuses the next connection with ``CLOSING
too-many-connections`` is better than one whose ``accept()`` or thread start
fails; the budget keeps a reserve for the database, the event loop, logs and
the refusals themselves.
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import os
import resource
import socket
import threading
import time
from collections.abc import Callable

from libbatchat._config import Limits

from ._common import log

# Accept errors that mean "out of something", not "this one connection failed".
RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})

# After a resource error the accept loop waits this long, doubling up to the
# maximum while it persists, so a full file table is not a busy loop.
ACCEPT_BACKOFF = 0.05
ACCEPT_BACKOFF_MAX = 1.0

# Descriptors kept out of the connection budget: stdio, the listener, the
# event loop's selector and self-pipe, SQLite's three files, log files, and a
# margin for refusals in flight (each holds a descriptor until it closes).
_FD_RESERVE = 32
_UNLIMITED = resource.RLIM_INFINITY


def _open_fds() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return 0


def _read_int(path: str) -> int | None:
    try:
        with open(path, encoding="ascii") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def fd_budget() -> int | None:
    """Connections the file descriptor limit leaves room for (None: unlimited)."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == _UNLIMITED:
        return None
    reserve = max(_FD_RESERVE, soft // 20)
    return max(1, soft - _open_fds() - reserve)


def _vm_size() -> int:
    for line in _proc_status():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    return 0


def _proc_status() -> list[str]:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            return f.readlines()
    except OSError:
        return []


def _threads_now() -> int:
    for line in _proc_status():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return threading.active_count()


def thread_budget() -> int | None:
    """Threads this process may still start (None: no limit found)."""
    budgets: list[int] = []
    nproc, _ = resource.getrlimit(resource.RLIMIT_NPROC)
    if nproc != _UNLIMITED:
        # The limit counts every process and thread of the user, which this
        # process cannot see; its own threads are the least it must subtract.
        budgets.append(nproc - _threads_now())
    threads_max = _read_int("/proc/sys/kernel/threads-max")
    if threads_max is not None:
        budgets.append(threads_max - _threads_now())
    space, _ = resource.getrlimit(resource.RLIMIT_AS)
    if space != _UNLIMITED:
        # Each thread reserves its stack in the address space (glibc uses
        # RLIMIT_STACK unless threading.stack_size() says otherwise), plus a
        # guard page; malloc arenas for new threads come out of the rest, so
        # only half of what is left is counted.
        stack = threading.stack_size()
        if not stack:
            soft_stack, _ = resource.getrlimit(resource.RLIMIT_STACK)
            stack = 8 << 20 if soft_stack == _UNLIMITED else soft_stack
        budgets.append((space - _vm_size()) // 2 // (stack + 4096))
    if not budgets:
        return None
    # A tenth in reserve: worker threads, the client's own PONG threads, and
    # whatever else the embedding program starts.
    return max(1, min(budgets) * 9 // 10)


def somaxconn() -> int:
    """The kernel's cap on a listen backlog (larger requests are cut to it)."""
    return _read_int("/proc/sys/net/core/somaxconn") or socket.SOMAXCONN


def resolve(limits: Limits, *, threads_per_connection: int = 0) -> Limits:
    """``limits`` with every 0 ("what the system allows") worked out."""
    backlog = limits.listen_backlog or somaxconn()
    cap = limits.max_connections
    if cap == 0:
        budgets = [b for b in (fd_budget(),) if b is not None]
        if threads_per_connection:
            threads = thread_budget()
            if threads is not None:
                budgets.append(max(1, threads // threads_per_connection))
        # With no limit found anywhere, Redis's maxclients default.
        cap = min(budgets, default=10000)
    return dataclasses.replace(limits, max_connections=cap, listen_backlog=backlog)


def listen(host: str, port: int, limits: Limits) -> socket.socket:
    """A listening socket on ``host:port`` with the backlog ``limits`` asks for.

    Logs the address and the connection limits in effect.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        listener.listen(limits.listen_backlog or somaxconn())
    except OSError:
        listener.close()
        raise
    log.info(
        "listening on %s:%d (max_connections %d, backlog %d)",
        host,
        listener.getsockname()[1],
        limits.max_connections,
        limits.listen_backlog,
    )
    return listener


class Throttled:
    """A log line that repeats at most once per ``interval`` seconds.

    The first occurrence is logged at once; later ones within the interval are
    counted, and the next line logged says how many were left out. A flood of
    identical failures (every accept failing, every write to a lost peer)
    then costs one line per interval instead of one per failure.
    """

    def __init__(
        self,
        interval: float = 10.0,
        *,
        logger: logging.Logger = log,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = interval
        self.logger = logger
        self.clock = clock
        self._next = float("-inf")
        self.dropped = 0

    def __call__(self, level: int, msg: str, *args: object) -> bool:
        """Log ``msg % args`` unless one went out recently; True if logged."""
        now = self.clock()
        if now < self._next:
            self.dropped += 1
            return False
        self._next = now + self.interval
        if self.dropped:
            msg += f" ({self.dropped} more like it in the last {self.interval:g} s)"
            self.dropped = 0
        self.logger.log(level, msg, *args)
        return True


class Backoff:
    """The accept loop's pause after a resource error: doubles, resets on success."""

    def __init__(self) -> None:
        self.delay = 0.0

    def failed(self) -> float:
        self.delay = min(ACCEPT_BACKOFF_MAX, max(ACCEPT_BACKOFF, self.delay * 2))
        return self.delay

    def succeeded(self) -> None:
        self.delay = 0.0
