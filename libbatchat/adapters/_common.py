"""What the asyncio and threaded adapters share: nothing here does I/O."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from libbatchat._dialects import codec_class
from libbatchat._events import Push

log = logging.getLogger("libbatchat.adapters")

# BatChat's port, kept from the original classroom chat.
DEFAULT_PORT = 50000

# A connection the core has closed still gets its queued output flushed, but a
# peer that never reads would hold the socket forever; after this many seconds
# the adapter drops the bytes and aborts.
CLOSE_GRACE = 10.0

# Once a closed connection's output is all written, the adapter half-closes it
# and reads and drops whatever the peer still sends for this long (or until
# its EOF): closing with unread input would reset the connection, and a reset
# can destroy the last lines (CLOSING and its reason) before the peer reads
# them.
DRAIN_GRACE = 2.0

# How long a graceful close() waits for in-flight jobs and for every
# connection's output to drain before it gives up and aborts.
SHUTDOWN_GRACE = 10.0

# Worker threads for jobs (password hashing, account I/O). scrypt holds no GIL
# and SQLite serializes writers anyway, so a few threads are enough.
DEFAULT_WORKERS = 4

# What a client hands to ``on_push`` and what it puts in its push queue.
PushCallback = Callable[[Push], object]


@dataclass(frozen=True)
class Listen:
    """A listener beside the canonical one: a dialect on an address
    (docs/dialects.md). ``port`` 0 binds any free port."""

    dialect: str
    host: str
    port: int

    def __post_init__(self) -> None:
        codec_class(self.dialect)  # ValueError names the known dialects
        if not 0 <= self.port < 65536:
            raise ValueError(f"port {self.port} is out of range")

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.dialect}@{host}:{self.port}"

    @classmethod
    def parse(cls, text: str) -> Listen:
        """``DIALECT@HOST:PORT`` (``[v6]`` hosts bracketed); ValueError if not."""
        dialect, at, address = text.partition("@")
        host, colon, port = address.rpartition(":")
        if not (at and dialect and colon and host and port.isdigit()):
            raise ValueError(f"expected DIALECT@HOST:PORT, got {text!r}")
        return cls(dialect, host.removeprefix("[").removesuffix("]"), int(port))


def bind_error(exc: OSError, spec: Listen) -> OSError:
    """``exc`` naming the dialect listener that could not bind (its
    ``filename``), so a message can say which of several addresses failed."""
    return OSError(exc.errno, exc.strerror or str(exc), str(spec))


def format_peer(address: Any) -> str:
    """``host:port`` (``[v6]:port`` for IPv6) of a socket address.

    This is the form the core parses for its per-address limits.
    """
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = str(address[0]), address[1]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return str(address)


class QueueMeter:
    """Decides when a connection's unsent byte count is worth telling the core.

    The core only acts on the send-queue limits (soft and hard), so counts far
    below the soft limit carry no news; reporting every one would cost a core
    call per line sent. The meter reports every count at or above ``floor``
    and the first one that falls back below it, so the core always knows
    whether a connection is over a limit. Like asyncio's low-water mark,
    ``floor`` is a quarter of the soft limit.
    """

    __slots__ = ("floor", "reported")

    def __init__(self, soft_limit: int) -> None:
        self.floor = self.floor_of(soft_limit)
        self.reported = 0

    @staticmethod
    def floor_of(soft_limit: int) -> int:
        """The floor of a meter for ``soft_limit``: below it, and below it
        since the last report, no count is due."""
        return soft_limit // 4

    def due(self, queued: int) -> bool:
        if queued == self.reported:
            return False
        if queued >= self.floor or self.reported >= self.floor:
            self.reported = queued
            return True
        return False


_URL_PASSWORD = re.compile(r"(://[^:/@]*:)[^@/]*@")


def redact(url: str) -> str:
    """``url`` with its password, if any, replaced by ``***`` (for logs)."""
    return _URL_PASSWORD.sub(r"\1***@", url)


def is_postgres_url(db: str) -> bool:
    return db.startswith(("postgresql://", "postgres://"))
