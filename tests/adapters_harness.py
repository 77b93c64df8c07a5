"""Real servers on 127.0.0.1, port 0, for the tests that run on both adapters.

``serve`` is a fixture parametrized over the asyncio and the threaded
adapter. It is a factory: ``serve(limits=..., accounts=...)`` starts a server
and returns a ``Running`` handle whose ``connect()`` makes a library client of
the same adapter, wrapped in one blocking interface (``SyncClient``), and whose
``raw()`` opens a plain socket speaking through a client-role Connection.
Everything started is closed when the test ends.

Tests synchronize on protocol barriers: ``barrier(client)`` sends PING and
waits for its PONG-224, after which everything the server sent that client
before the PONG has been received and queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import queue
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any, Protocol

import pytest

from libbatchat import (
    AccountStore,
    Command,
    Event,
    Greeting,
    Limits,
    Ping,
    Push,
    RemoteProtocolError,
    Reply,
)
from libbatchat._grammar import parse_server_line, serialize
from libbatchat.adapters import aio, threaded
from libbatchat.adapters._common import Listen

HOST = "127.0.0.1"
WAIT = 10.0  # seconds any single wait may take before the test fails

try:
    # Imported by name: uvloop is optional and ships no type stubs.
    _uvloop: Any = importlib.import_module("uvloop")
except ImportError:
    _uvloop = None
# The asyncio adapter runs again on uvloop's loop (its transports are not
# asyncio.Transport instances); the tests say so when it is not installed.
ADAPTERS = (
    "asyncio",
    pytest.param(
        "uvloop",
        marks=pytest.mark.skipif(_uvloop is None, reason="uvloop not installed"),
    ),
    "threaded",
)


def adapter_flags(adapter: str) -> list[str]:
    """batchat-server's flags for an ``ADAPTERS`` entry ("uvloop": asyncio on it)."""
    if adapter == "uvloop":
        return ["--adapter", "asyncio", "--uvloop"]
    return ["--adapter", adapter]


def new_loop(adapter: str) -> asyncio.AbstractEventLoop:
    """A fresh event loop for ``adapter`` ("asyncio" or "uvloop")."""
    if adapter == "uvloop":
        loop: asyncio.AbstractEventLoop = _uvloop.new_event_loop()
        return loop
    return asyncio.new_event_loop()


# Fast hashing and no flood delays: tests that need a limit set it.
FAST = Limits(
    burst=100_000,
    rate=1_000_000.0,
    lines_before_login=100_000,
    scrypt_n=16,
    scrypt_r=8,
    scrypt_p=1,
)


def fast(**changes: Any) -> Limits:
    """FAST with some limits changed."""
    values = {name: getattr(FAST, name) for name in FAST.__dataclass_fields__}
    values.update(changes)
    return Limits(**values)


# -- one blocking client interface over both adapters ---------------------------


class SyncClient(Protocol):
    """What a test drives, whichever adapter is underneath."""

    greeting: Greeting

    def request(self, command: Command, timeout: float = WAIT) -> Reply: ...

    def push(self, timeout: float = WAIT) -> Push | None:
        """The next push, waiting for it; None once the connection has ended."""
        ...

    def pushes_now(self) -> list[Push]:
        """The pushes received so far and not yet taken (use after a barrier)."""
        ...

    def close(self) -> None: ...


class ThreadedClient:
    def __init__(self, port: int, **connect: Any) -> None:
        self.client = threaded.Client.connect(HOST, port, timeout=WAIT, **connect)
        self.greeting = self.client.greeting

    def request(self, command: Command, timeout: float = WAIT) -> Reply:
        return self.client.request(command, timeout=timeout)

    def push(self, timeout: float = WAIT) -> Push | None:
        item = self.client.pushes.get(timeout=timeout)
        if item is None:
            self.client.pushes.put(None)
        return item

    def pushes_now(self) -> list[Push]:
        found: list[Push] = []
        for _ in range(100_000):
            try:
                item = self.client.pushes.get_nowait()
            except queue.Empty:
                break
            if item is None:
                self.client.pushes.put(None)
                break
            found.append(item)
        return found

    def close(self) -> None:
        self.client.close()


class LoopThread:
    """An event loop that lives its whole life on one thread of its own.

    The thread makes the loop, runs it and closes it; nothing but ``run()``
    and ``stop()`` touches the loop from outside (both through
    ``call_soon_threadsafe``). uvloop's transports, timers and pollers are
    libuv handles, and libuv is not thread-safe: a handle must be closed on
    its loop's thread, and once ``stop()`` returns every handle of the loop
    is closed, so an object of it freed later, anywhere, is only memory (a
    handle still open then fails the test: pyproject's filterwarnings).
    """

    def __init__(self, adapter: str = "asyncio") -> None:
        self.adapter = adapter
        made: queue.Queue[asyncio.AbstractEventLoop] = queue.Queue()
        self.thread = threading.Thread(
            target=self._main, args=(made,), name=f"test-loop-{adapter}", daemon=True
        )
        self.thread.start()
        self.loop = made.get(timeout=WAIT)

    def _main(self, made: queue.Queue[asyncio.AbstractEventLoop]) -> None:
        loop = new_loop(self.adapter)
        asyncio.set_event_loop(loop)
        loop.call_soon(made.put, loop)
        try:
            loop.run_forever()
            # What a test left running ends here, on this thread.
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()

    def run(self, coro: Any, timeout: float = WAIT) -> Any:
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except FutureTimeout:
            future.cancel()
            raise

    def stop(self) -> None:
        """Stop the loop and wait until its thread has closed it."""
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(WAIT)
        if self.thread.is_alive():
            raise RuntimeError(f"the {self.adapter} loop thread did not stop")


class AsyncioClient:
    def __init__(self, loop: LoopThread, port: int, **options: Any) -> None:
        self.loop = loop

        async def connect() -> aio.Client:
            return await aio.Client.connect(HOST, port, **options)

        self.client: aio.Client = loop.run(connect())
        self.greeting = self.client.greeting

    def request(self, command: Command, timeout: float = WAIT) -> Reply:
        reply: Reply = self.loop.run(self.client.request(command), timeout)
        return reply

    def push(self, timeout: float = WAIT) -> Push | None:
        async def next_push() -> Push | None:
            try:
                return await anext(self.client)
            except StopAsyncIteration:
                return None

        result: Push | None = self.loop.run(next_push(), timeout)
        return result

    def pushes_now(self) -> list[Push]:
        async def take() -> list[Push]:
            found: list[Push] = []
            pushes = self.client.pushes
            while not pushes.empty():
                item = pushes.get_nowait()
                if item is None:
                    pushes.put_nowait(None)
                    break
                found.append(item)
            return found

        result: list[Push] = self.loop.run(take())
        return result

    def close(self) -> None:
        self.loop.run(self.client.close())


# -- a raw socket speaking through a client-role Connection ---------------------


class RawClient:
    """A plain socket: send any bytes, see exactly what comes back.

    Server lines are parsed one by one, without pairing replies to commands,
    so a test can send malformed bytes and still read the answers.
    """

    def __init__(self, port: int, *, rcvbuf: int | None = None) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            # Set before connecting, so the window the server sees is small.
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(WAIT)
        self.sock.connect((HOST, port))
        self.buffer = b""
        self.events: list[Event] = []
        self.received = 0
        self.eof = False

    def send(self, *commands: Command) -> None:
        self.sock.sendall(b"".join(serialize(c) for c in commands))

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _read(self) -> None:
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            data = b""
        self.received += len(data)
        if not data:
            self.eof = True
        *lines, self.buffer = (self.buffer + data).split(b"\n")
        for line in lines:
            self.events.append(parse_server_line(line.decode("utf-8")))

    def wait_for(
        self, predicate: Callable[[Event], bool], limit: int = 100_000
    ) -> Event:
        """Read until an event matching ``predicate`` arrives; return it."""
        for _ in range(limit):
            for i, event in enumerate(self.events):
                if predicate(event):
                    del self.events[: i + 1]
                    return event
            if self.eof:
                break
            self._read()
        raise AssertionError(f"never arrived; got {self.events[-5:]!r}")

    def next_event(self, limit: int = 100_000) -> Event | None:
        """The next event, reading as needed; None at the end of the stream."""
        for _ in range(limit):
            if self.events:
                return self.events.pop(0)
            if self.eof:
                return None
            self._read()
        raise AssertionError(f"nothing complete in {limit} reads")

    def read_to_eof(self, limit: int = 100_000) -> list[Event]:
        for _ in range(limit):
            if self.eof:
                break
            self._read()
        events, self.events = self.events, []
        return events

    def close(self) -> None:
        self.sock.close()


# -- servers ----------------------------------------------------------------------


@dataclass
class Running:
    adapter: str
    port: int
    server: aio.Server | threaded.Server
    loop: LoopThread | None
    clients: list[SyncClient | RawClient] = field(default_factory=list)
    closed: bool = False

    @property
    def core(self) -> Any:
        return self.server.core

    def port_of(self, dialect: str) -> int:
        """The bound port of the listener speaking ``dialect``."""
        return next(s.port for s in self.server.listeners if s.dialect == dialect)

    def connect(self, **options: Any) -> SyncClient:
        """A client of the server's adapter; ``options`` go to its connect()."""
        client: SyncClient
        if self.loop is not None:
            client = AsyncioClient(self.loop, self.port, **options)
        else:
            client = ThreadedClient(self.port, **options)
        self.clients.append(client)
        return client

    def raw(self, *, rcvbuf: int | None = None) -> RawClient:
        client = RawClient(self.port, rcvbuf=rcvbuf)
        self.clients.append(client)
        return client

    def close(self) -> None:
        """Close the server gracefully (every client is sent CLOSING shutdown)."""
        if self.closed:
            return
        self.closed = True
        if isinstance(self.server, aio.Server):
            assert self.loop is not None
            self.loop.run(self.server.close(), timeout=3 * WAIT)
            # close() returns once every connection has ended: no transport
            # (on uvloop, a libuv handle) outlives it.
            assert not self.server.protocols
        else:
            self.server.close()

    def cleanup(self) -> None:
        self.close()
        for client in self.clients:
            with contextlib.suppress(OSError, ConnectionError, RemoteProtocolError):
                client.close()
        if self.loop is not None:
            self.loop.stop()


def start(
    adapter: str,
    limits: Limits = FAST,
    accounts: AccountStore | None = None,
    tls: ssl.SSLContext | None = None,
    listen: tuple[Listen, ...] = (),
) -> Running:
    if adapter in ("asyncio", "uvloop"):
        loop = LoopThread(adapter)
        server_a = aio.Server(
            HOST, 0, limits=limits, accounts=accounts, tls=tls, listen=listen
        )
        loop.run(server_a.start())
        return Running(adapter, server_a.port, server_a, loop)
    server_t = threaded.Server(
        HOST, 0, limits=limits, accounts=accounts, tls=tls, listen=listen
    )
    server_t.start()
    return Running(adapter, server_t.port, server_t, None)


Serve = Callable[..., Running]


@pytest.fixture(params=ADAPTERS)
def serve(request: pytest.FixtureRequest) -> Iterator[Serve]:
    started: list[Running] = []

    def factory(
        limits: Limits = FAST,
        accounts: AccountStore | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> Running:
        running = start(request.param, limits, accounts, tls)
        started.append(running)
        return running

    yield factory
    for running in started:
        running.cleanup()


def barrier(client: SyncClient, token: str = "sync") -> None:
    """Return once the server has handled everything ``client`` sent before."""
    reply = client.request(Ping(token=token))
    assert (reply.code, reply.text) == (224, token)
