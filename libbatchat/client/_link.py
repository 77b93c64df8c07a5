"""The connection underneath ``Client``: one at a time, kept up by itself.

``Link`` opens a connection with the asyncio adapter's ``aio.Client``,
paces every line from the greeting's burst and rate, pings for the lag and
to notice a dead peer, and when the connection ends waits out a jittered
backoff and opens the next one, to the next server in turn, logging in
again through ``Client``. It never parses the wire: that is the adapter's
``Connection``.
"""

from __future__ import annotations

import abc
import asyncio
import itertools
import logging
import random
import ssl
from collections.abc import Awaitable
from typing import Literal, TypeVar

from libbatchat._events import (
    Closing,
    Command,
    Event,
    Greeting,
    Login,
    Nick,
    Ping,
    Reply,
)
from libbatchat._limits import TokenBucket
from libbatchat.adapters import aio
from libbatchat.adapters._tls import client_context

from ._clock import Clock, LoopClock
from ._errors import NotConnected, describe_closing, describe_error
from ._events import Events
from ._settings import Account, Address, Backoff, Identity
from ._state import ChatState
from ._updates import (
    Connected,
    ConnectFailed,
    Connecting,
    Disconnected,
    LagChanged,
    LoginFailed,
    Reconnecting,
    Status,
    Stopped,
    Wire,
)
from ._wire import wire_line

__all__ = ["Link"]

log = logging.getLogger("libbatchat.client")

T = TypeVar("T")

# Refusals that go away by themselves: the old session is still online until
# the server notices it is gone; too many attempts; a server hiccup.
RETRY_LOGIN = frozenset({705, 709, 710})


def login_command(identity: Identity) -> Login | Nick:
    if isinstance(identity, Account):
        return Login(user=identity.user, password=identity.password)
    return Nick(nick=identity.nick)


class Link(Events, abc.ABC):
    """Connections, pacing, lag and reconnecting; ``Client`` is the public face."""

    def __init__(
        self,
        servers: tuple[Address, ...],
        *,
        clock: Clock | None,
        backoff: Backoff | None,
        rng: random.Random | None,
        lag_interval: float,
        ping_timeout: float,
        connect_timeout: float,
        stable_after: float,
        reconnect: bool,
        tls: bool | ssl.SSLContext | None = None,
        cafile: str | None = None,
    ) -> None:
        super().__init__()
        self.servers = servers
        # Built once (a bad cafile fails here, not at each reconnect).
        self.tls = client_context(tls, cafile)
        self.identity: Identity | None = None
        self.clock: Clock = clock or LoopClock()
        self.backoff = backoff or Backoff()
        self.rng = rng or random.Random()
        self.lag_interval = lag_interval
        self.ping_timeout = ping_timeout
        self.connect_timeout = connect_timeout
        self.stable_after = stable_after
        self.reconnect = reconnect
        self.state = ChatState()
        self.status = Status.IDLE
        self.server: Address | None = None
        self.greeting: Greeting | None = None
        self.lag: float | None = None
        self.reconnect_at: float | None = None
        # While true, every line sent and received is also a Wire update.
        self.wire = False
        self._conn: aio.Client | None = None
        self._bucket: TokenBucket | None = None
        self._send_lock = asyncio.Lock()
        self._ready = asyncio.Event()
        self._reader: asyncio.Task[Closing | None] | None = None
        self._lagger: asyncio.Task[None] | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._next_server = 0
        self._attempt = 0
        self._last_error = ""
        self._logged_in_at: float | None = None
        self._stopping = False
        self._stop_reason = "closed"
        self._stopped = asyncio.Event()
        self._tokens = itertools.count(1)
        self._side_tasks: set[asyncio.Task[float]] = set()

    @abc.abstractmethod
    async def _logged_in(
        self, conn: aio.Client, identity: Identity, again: bool
    ) -> None:
        """Logged in on ``conn``: bring the state and the rooms up to date."""

    @property
    def connected(self) -> bool:
        return self._conn is not None

    def reconnect_in(self) -> float | None:
        """Seconds until the next reconnect attempt, while waiting for one."""
        if self.reconnect_at is None:
            return None
        return max(0.0, self.reconnect_at - self.clock.now())

    def _tap(self, direction: Literal["in", "out"], event: Event) -> None:
        if self.wire:
            line = wire_line(event)
            now = self.clock.now()
            self.emit(Wire(direction=direction, time=now, line=line, event=event))

    async def wait_stopped(self) -> str:
        """Wait until the client has stopped for good; return why."""
        await self._stopped.wait()
        return self._stop_reason

    async def close(self, reason: str = "closed") -> None:
        """Stop for good: drop the connection, no more reconnects."""
        if self.status is Status.STOPPED:
            return
        if not self._stopping:
            self._stopping = True
            self._stop_reason = reason
        reason = self._stop_reason
        supervisor = self._supervisor
        if supervisor is None or supervisor.done():
            self._finish(reason)
            return
        if supervisor is not asyncio.current_task():
            supervisor.cancel()
            await asyncio.gather(supervisor, return_exceptions=True)
        self._finish(reason)

    def _pick(self) -> Address:
        server = self.servers[self._next_server % len(self.servers)]
        self._next_server += 1
        return server

    async def _open(self, server: Address, attempt: int) -> aio.Client | None:
        """One connection attempt; on success the connection is attached."""
        self.status = Status.CONNECTING
        self.emit(Connecting(server=server, attempt=attempt))
        try:
            conn = await aio.Client.connect(
                server.host, server.port, timeout=self.connect_timeout, tls=self.tls
            )
        except (OSError, TimeoutError) as exc:
            self._last_error = describe_error(exc, self.connect_timeout)
            log.info("cannot connect to %s: %s", server, self._last_error)
            self.emit(ConnectFailed(server=server, error=self._last_error))
            return None
        self._attach(conn, server)
        return conn

    def _attach(self, conn: aio.Client, server: Address) -> None:
        self._conn = conn
        self.server = server
        self.greeting = conn.greeting
        self.state.reset()
        self._bucket = TokenBucket(
            conn.greeting.burst, conn.greeting.rate, self.clock.now()
        )
        self.status = Status.CONNECTED
        self._tap("in", conn.greeting)
        self.emit(Connected(server=server, greeting=conn.greeting))
        self._reader = asyncio.create_task(self._read(conn))
        self._lagger = asyncio.create_task(self._keep_measuring(conn))

    def _detach(self, closing: Closing | None) -> None:
        conn = self._conn
        if conn is None:
            return
        self._conn = None
        self._ready.clear()
        self._bucket = None
        self.lag = None
        if self._lagger is not None:
            self._lagger.cancel()
        for task in list(self._side_tasks):
            task.cancel()
        if self._reader is not None and not self._reader.done():
            self._reader.cancel()
        conn.abort()
        now = self.clock.now()
        if self._logged_in_at is not None and now - self._logged_in_at >= (
            self.stable_after
        ):
            self._attempt = 0
        self._logged_in_at = None
        self.state.reset()
        if closing is not None:
            reason = describe_closing(closing.reason, closing.text)
        elif self._stopping:
            reason = "disconnected"
        else:
            reason = "the connection was lost"
        again = self.reconnect and not self._stopping
        self.emit(Disconnected(reason=reason, closing=closing, reconnecting=again))

    async def _read(self, conn: aio.Client) -> Closing | None:
        """Every push of one connection, until it ends; the CLOSING if any."""
        closing: Closing | None = None
        async for push in conn:
            if isinstance(push, Closing):
                closing = push
            self.state.on_push(push)
            self._tap("in", push)
            self.emit(push)
        return closing

    async def _supervise(self) -> None:
        """Wait for each connection to end, then bring the next one up."""
        try:
            while True:
                assert self._reader is not None
                closing = await self._reader
                self._detach(closing)
                if self._stopping or not self.reconnect:
                    break
                if not await self._come_back():
                    break
        finally:
            self._finish(self._stop_reason)

    async def _come_back(self) -> bool:
        """Reconnect and log in again; False if the client must stop."""
        while not self._stopping:
            server = self.servers[self._next_server % len(self.servers)]
            delay = self.backoff.delay(self._attempt, self.rng)
            self._attempt += 1
            self.status = Status.RECONNECTING
            self.reconnect_at = self.clock.now() + delay
            self.emit(Reconnecting(delay=delay, server=server, attempt=self._attempt))
            await self.clock.sleep(delay)
            self.reconnect_at = None
            conn = await self._open(self._pick(), attempt=self._attempt)
            if conn is None:
                continue
            try:
                if not await self._log_in_again(conn):
                    return False
            except NotConnected:
                assert self._reader is not None
                self._detach(await self._reader)
                continue
            return True
        return False

    async def _log_in_again(self, conn: aio.Client) -> bool:
        identity = self.identity
        if identity is not None:
            tries = 0
            while True:
                reply = await self._request(conn, login_command(identity))
                if reply.ok:
                    break
                if reply.code not in RETRY_LOGIN:
                    self.emit(LoginFailed(reply=reply, retry_in=None))
                    self._stop_reason = f"logging in again was refused ({reply.text})"
                    return False
                delay = self.backoff.delay(tries, self.rng)
                tries += 1
                self.emit(LoginFailed(reply=reply, retry_in=delay))
                await self.clock.sleep(delay)
            await self._logged_in(conn, identity, again=True)
        self._ready.set()
        return True

    async def _usable(self) -> aio.Client:
        """The connection a caller may use now, or ``NotConnected``."""
        if (
            self._conn is not None
            and not self._ready.is_set()
            and self.status is Status.LOGGED_IN
        ):
            # Logged in again and rejoining rooms: a moment, not a long wait.
            await self._ready.wait()
        if self._conn is None or not self._ready.is_set():
            raise NotConnected(self._why_not())
        return self._conn

    def _why_not(self) -> str:
        if self.status is Status.STOPPED:
            return "not connected (the client has stopped)"
        wait = self.reconnect_in()
        if wait is not None:
            return f"not connected; reconnecting in {wait:.0f} s"
        return "not connected; reconnecting"

    async def _pace(self) -> None:
        """Wait for a token from the bucket the greeting configured."""
        while True:
            bucket = self._bucket
            if bucket is None:
                raise NotConnected(self._why_not())
            now = self.clock.now()
            if bucket.take(now):
                return
            await self.clock.sleep(bucket.due(now) - now)

    async def _send(self, conn: aio.Client, command: Command) -> asyncio.Future[Reply]:
        """Write ``command`` on ``conn`` in its turn and at the pace.

        The lock keeps commands in the order they were asked for while they
        wait for tokens; the future is of the reply.
        """
        async with self._send_lock:
            await self._pace()
            if conn is not self._conn or conn.closed:
                raise NotConnected(self._why_not())
            try:
                pending = conn.submit(command)
            except ConnectionError as exc:
                raise NotConnected(f"the connection was lost ({exc})") from None
            self._tap("out", command)
            return pending

    async def _reply(
        self,
        pending: asyncio.Future[Reply],
        command: Command,
        timeout: float | None = None,
    ) -> Reply:
        try:
            if timeout is not None and not await self._within(pending, timeout):
                raise TimeoutError(f"no reply to {command.VERB} within {timeout:g} s")
            reply = await pending
        except ConnectionError as exc:
            raise NotConnected(f"the connection was lost ({exc})") from None
        finally:
            # Whoever gave up on the reply (a timeout, a cancelled caller),
            # the adapter must not later fail a future nobody reads.
            if not pending.done():
                pending.cancel()
        self._tap("in", reply)
        self.state.on_reply(reply)
        return reply

    async def _request(
        self, conn: aio.Client, command: Command, timeout: float | None = None
    ) -> Reply:
        """Send ``command`` on ``conn`` and return its reply."""
        return await self._reply(await self._send(conn, command), command, timeout)

    async def _within(self, awaitable: Awaitable[T], timeout: float) -> bool:
        """Whether ``awaitable`` finishes within ``timeout`` on the client's clock."""
        future = asyncio.ensure_future(awaitable)
        timer = asyncio.ensure_future(self.clock.sleep(timeout))
        try:
            await asyncio.wait({future, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
        return future.done()

    async def _measure(self, conn: aio.Client) -> float:
        command = Ping(token=f"lag-{next(self._tokens)}")
        pending = await self._send(conn, command)
        sent = self.clock.now()
        await self._reply(pending, command, self.ping_timeout)
        self.lag = max(0.0, self.clock.now() - sent)
        self.emit(LagChanged(lag=self.lag))
        return self.lag

    def _measure_soon(self, conn: aio.Client) -> None:
        """Measure the lag in the background (the pinger handles dead peers)."""

        def done(task: asyncio.Task[float]) -> None:
            self._side_tasks.discard(task)
            if not task.cancelled() and task.exception() is not None:
                log.debug("lag measurement failed: %s", task.exception())

        task = asyncio.ensure_future(self._measure(conn))
        self._side_tasks.add(task)
        task.add_done_callback(done)

    async def _keep_measuring(self, conn: aio.Client) -> None:
        """Ping now and then: the lag for the user, and a check the peer lives."""
        while True:
            try:
                await self._measure(conn)
            except TimeoutError:
                log.warning("%s stopped answering; reconnecting", self.server)
                conn.abort()
                return
            except NotConnected:
                return
            await self.clock.sleep(self.lag_interval)

    def _finish(self, reason: str) -> None:
        if self.status is Status.STOPPED:
            return
        self._stopping = True
        self._detach(None)
        self.status = Status.STOPPED
        self.reconnect_at = None
        self._stop_reason = reason
        self.emit(Stopped(reason=reason))
        self._stopped.set()
        self.end_updates()
