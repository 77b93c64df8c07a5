"""The asyncio client: a client-role ``Connection`` on a transport.

Replies resolve the futures of ``request()`` in order, pushes go to ``async
for push in client``, and the server's PING is answered with PONG without the
caller seeing it. Imported from ``libbatchat.adapters.aio``.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
from collections.abc import AsyncIterator, Generator
from types import TracebackType
from typing import Any, cast

from libbatchat._connection import NEED_DATA, Connection, Role
from libbatchat._errors import RemoteProtocolError
from libbatchat._events import (
    Closing,
    Command,
    ConnectionClosed,
    Greeting,
    Pong,
    Push,
    Reply,
    ServerPing,
)

from ._common import log
from ._tls import client_context

__all__ = ["Client"]


class _ClientProtocol(asyncio.Protocol):
    def __init__(self, client: Client) -> None:
        self.client = client

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.client._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.client._receive(data)

    def eof_received(self) -> bool:
        self.client._receive(b"")
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.client._lost(exc)


class Client:
    """A BatChat client on asyncio.

    Use ``async with Client.connect(host, port) as client:``. ``request()``
    sends a command and returns its reply; ``async for push in client`` yields
    the pushes (a final ``Closing`` included) until the connection ends;
    they wait in the ``pushes`` queue, which gets ``None`` at the end.
    """

    def __init__(self, *, max_line: int = 4096) -> None:
        self.connection = Connection(Role.CLIENT, max_line=max_line)
        self._transport: asyncio.Transport | None = None
        self._waiters: collections.deque[asyncio.Future[Reply]] = collections.deque()
        # Pushes not yet consumed; None once the connection has ended.
        self.pushes: asyncio.Queue[Push | None] = asyncio.Queue()
        self._greeted: asyncio.Future[Greeting] = (
            asyncio.get_running_loop().create_future()
        )
        self._closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._error: ConnectionError | None = None

    @classmethod
    def connect(
        cls,
        host: str,
        port: int,
        *,
        timeout: float = 10.0,
        tls: bool | ssl.SSLContext | None = None,
        cafile: str | None = None,
    ) -> _Connecting:
        """Connect and wait for the greeting; use with ``async with`` or ``await``.

        ``tls=True`` speaks TLS and verifies the server's certificate and
        name (against ``cafile`` if given, else the system's authorities);
        an ``ssl.SSLContext`` is used as it is.
        """
        return _Connecting(host, port, timeout, client_context(tls, cafile))

    @property
    def greeting(self) -> Greeting:
        greeting = self.connection.greeting
        if greeting is None:
            raise RuntimeError("no greeting yet")
        return greeting

    @property
    def closed(self) -> bool:
        return self._closed.done()

    async def request(self, command: Command) -> Reply:
        """Send ``command`` and return its reply.

        Raises ``ConnectionError`` if the connection is, or gets, lost first.
        """
        return await self.submit(command)

    def submit(self, command: Command) -> asyncio.Future[Reply]:
        """Send ``command`` now; return the future of its reply.

        The line is written before this returns, so commands submitted one
        after another go out in that order (``request()`` awaits this).
        """
        if not command.spec().has_reply:
            raise ValueError(f"{command.VERB} gets no reply; use send()")
        waiter: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._write(command)
        self._waiters.append(waiter)
        return waiter

    def send(self, command: Command) -> None:
        """Send a command without waiting for its reply (PONG has none)."""
        self._write(command)
        if command.spec().has_reply:
            # Keep the FIFO of waiters in step with the connection's.
            self._waiters.append(asyncio.get_running_loop().create_future())

    def _write(self, command: Command) -> None:
        if self._error is not None or self._transport is None:
            raise self._error or ConnectionError("not connected")
        self._transport.write(self.connection.send(command))

    def __aiter__(self) -> AsyncIterator[Push]:
        return self

    async def __anext__(self) -> Push:
        item = await self.pushes.get()
        if item is None:
            # Leave the marker for any other reader, and for the next call.
            self.pushes.put_nowait(None)
            raise StopAsyncIteration
        return item

    def abort(self) -> None:
        """Drop the connection at once, discarding unsent output.

        For a peer that stopped reading: ``close()`` would wait for the
        buffered bytes to drain first.
        """
        if self._transport is not None:
            self._transport.abort()

    async def close(self) -> None:
        """Close the connection (the server sees the client drop)."""
        if self._transport is not None:
            self._transport.close()
        await asyncio.shield(self._closed)

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- driven by the protocol -------------------------------------------------

    def _receive(self, data: bytes) -> None:
        try:
            self.connection.receive_data(data)
            while True:
                event = self.connection.next_event()
                if event is NEED_DATA:
                    return
                self._dispatch(event)
                if isinstance(event, ConnectionClosed):
                    return
        except RemoteProtocolError as exc:
            # Nothing a broken server says afterwards can be trusted.
            log.warning("server broke the protocol: %s", exc)
            self._fail(ConnectionError(f"server broke the protocol: {exc}"))
            if self._transport is not None:
                self._transport.abort()

    def _dispatch(self, event: object) -> None:
        if isinstance(event, Greeting):
            if not self._greeted.done():
                self._greeted.set_result(event)
        elif isinstance(event, Reply):
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(event)
        elif isinstance(event, ServerPing):
            if self._transport is not None and not self._transport.is_closing():
                self._transport.write(self.connection.send(Pong(token=event.token)))
        elif isinstance(event, Push):
            if isinstance(event, Closing):
                self._fail(ConnectionError(f"server closing: {event.reason}"))
            self.pushes.put_nowait(event)
        elif isinstance(event, ConnectionClosed):
            self._fail(ConnectionError("connection closed by the server"))

    def _fail(self, error: ConnectionError) -> None:
        if self._error is None:
            self._error = error
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(error)
        if not self._greeted.done():
            self._greeted.set_exception(error)

    def _lost(self, exc: Exception | None) -> None:
        self._fail(ConnectionError(f"connection lost: {exc}" if exc else "closed"))
        self.pushes.put_nowait(None)
        if not self._closed.done():
            self._closed.set_result(None)


class _Connecting:
    """What ``Client.connect`` returns: awaitable, or an async context manager."""

    def __init__(
        self, host: str, port: int, timeout: float, tls: ssl.SSLContext | None
    ) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.tls = tls
        self.client: Client | None = None

    async def _open(self) -> Client:
        loop = asyncio.get_running_loop()
        client = Client()
        async with asyncio.timeout(self.timeout):
            await loop.create_connection(
                lambda: _ClientProtocol(client), self.host, self.port, ssl=self.tls
            )
            try:
                await client._greeted
            except BaseException:
                await client.close()
                raise
        return client

    def __await__(self) -> Generator[Any, None, Client]:
        return self._open().__await__()

    async def __aenter__(self) -> Client:
        self.client = await self._open()
        return self.client

    async def __aexit__(self, *exc: object) -> None:
        if self.client is not None:
            await self.client.close()
