"""Real in-process servers for the client layer's tests, on a virtual clock.

``async_test`` runs a coroutine test under ``asyncio.run`` with an overall
timeout, so every test stops by itself. ``Servers`` starts ``aio.Server``s on
127.0.0.1 port 0 and can restart one on the same port. The clients' time is
a ``VirtualClock``: backoff, pacing and lag pings move only when a test
advances it; the network is real.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from libbatchat import AccountStore, Limits
from libbatchat.adapters import aio
from libbatchat.adapters.sqlite import SqliteStore
from libbatchat.client import (
    Address,
    Backoff,
    Client,
    Identity,
    Update,
    VirtualClock,
)
from libbatchat.conformance.ports import Reservation

HOST = "127.0.0.1"
WAIT = 10.0  # real seconds any one wait may take before the test fails
TEST_TIMEOUT = 60.0

# Cheap hashing, and a burst no test that is not about pacing exhausts: the
# clients pace themselves on a virtual clock that only moves when told.
LIMITS = Limits(burst=200, rate=100.0, scrypt_n=16, scrypt_r=8, scrypt_p=1)

T = TypeVar("T")
U = TypeVar("U")


def async_test(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        async def bounded() -> None:
            async with asyncio.timeout(TEST_TIMEOUT):
                await fn(*args, **kwargs)

        asyncio.run(bounded())

    return wrapper


async def within(awaitable: Coroutine[Any, Any, T] | asyncio.Future[T]) -> T:
    """``awaitable``, failing the test if it takes WAIT real seconds."""
    async with asyncio.timeout(WAIT):
        return await awaitable


# Held (bound, never listening) until the test run ends: a port released at
# once could be listening for another process by the time a test dials it.
_CLOSED: list[Reservation] = []


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (connections are refused)."""
    _CLOSED.append(Reservation())
    return _CLOSED[-1].port


class Servers:
    """``aio.Server``s for one test, each restartable on its port."""

    def __init__(self, tmp: Path | None = None, limits: Limits = LIMITS) -> None:
        self.tmp = tmp
        self.limits = limits
        self.running: dict[int, aio.Server] = {}
        self.down: dict[int, Reservation] = {}  # ports of stopped servers

    def _store(self) -> AccountStore | None:
        # A file store survives a restart, as a real server's accounts do.
        if self.tmp is None:
            return None
        return SqliteStore(str(self.tmp / "accounts.db"))

    async def start(self, port: int = 0) -> Address:
        server = aio.Server(HOST, port, limits=self.limits, accounts=self._store())
        try:
            await server.start()
        finally:
            if port in self.down:
                self.down.pop(port).release()
        self.running[server.port] = server
        return Address(HOST, server.port)

    async def stop(self, address: Address) -> None:
        """Stop it, holding its port for a restart (``start(port)``)."""
        await self.running.pop(address.port).close()
        with contextlib.suppress(OSError):  # taken meanwhile: the restart says so
            self.down[address.port] = Reservation(address.port)

    async def close(self) -> None:
        for server in list(self.running.values()):
            await server.close()
        self.running.clear()
        for held in self.down.values():
            held.release()
        self.down.clear()

    async def __aenter__(self) -> Servers:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def client(
    servers: Address | list[Address],
    identity: Identity | None = None,
    **options: Any,
) -> Client:
    """A client on its own virtual clock, with a seeded jitter."""
    import random

    options.setdefault("clock", VirtualClock())
    options.setdefault("rng", random.Random(9))
    options.setdefault("backoff", Backoff(initial=1.0, maximum=8.0))
    return Client(servers, identity=identity, **options)


async def started(
    servers: Address | list[Address], identity: Identity | None = None, **options: Any
) -> Client:
    """A client (as ``client()`` makes it), started."""
    c = client(servers, identity, **options)
    await within(c.start())
    return c


def vclock(c: Client) -> VirtualClock:
    assert isinstance(c.clock, VirtualClock)
    return c.clock


async def next_of(c: Client, kind: type[U]) -> U:
    """The next update of ``kind`` from now on (within WAIT real seconds)."""
    return await within(c.expect(kind))


class Recorder:
    """Every update a client emits, in order."""

    def __init__(self, c: Client) -> None:
        self.seen: list[Update] = []
        c.subscribe(self.seen.append)

    def of(self, kind: type[U]) -> list[U]:
        return [u for u in self.seen if isinstance(u, kind)]
