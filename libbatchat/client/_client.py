"""The client layer's public face: one chat identity kept online.

``Client`` adds to its ``Link`` (connections, pacing, lag, reconnecting)
what a program calls: logging in, the protocol's actions, raw lines, waiting
for updates, and the rooms it keeps itself in. Call it from the event loop
it runs on (a program whose main thread is busy uses ``LoopThread``).
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, cast, overload

from libbatchat._errors import RemoteProtocolError
from libbatchat._events import (
    Command,
    Join,
    Login,
    Nick,
    Part,
    Quit,
    Register,
    Reply,
    Rooms,
    Who,
)
from libbatchat._grammar import parse_command
from libbatchat._names import fold
from libbatchat.adapters import aio

from ._clock import Clock
from ._errors import BadLine, ConnectError, LoginError, NotConnected, explain
from ._link import Link, login_command
from ._settings import Account, Address, Backoff, Guest, Identity, parse_address
from ._state import Snapshot
from ._updates import LoggedIn, RoomJoined, RoomLeft, Status, Update
from ._wire import split_message

__all__ = ["Client"]

log = logging.getLogger("libbatchat.client")

U = TypeVar("U", bound=Update)

# How long quit() waits for PASS-217 and the server closing the connection.
QUIT_GRACE = 5.0


def _addresses(servers: Address | str | Iterable[Address | str]) -> tuple[Address, ...]:
    items = [servers] if isinstance(servers, Address | str) else list(servers)
    found = tuple(s if isinstance(s, Address) else parse_address(s) for s in items)
    if not found:
        raise ValueError("no server to connect to")
    return found


class Client(Link):
    """A chat client that stays online: state, pacing, lag, reconnect.

    ``servers`` is one server or several (``"host:port"`` or ``Address``);
    after a drop the client tries the next one in turn. ``identity``
    (``Account`` or ``Guest``) logs in at ``start()``; without it, call
    ``login()`` later. ``rooms`` are joined once logged in. Time, sleeps and
    the random jitter come from ``clock`` and ``rng``. ``tls=True`` speaks
    TLS and verifies the server (against ``cafile`` if given, else the
    system's authorities); an ``ssl.SSLContext`` is used as it is. See
    docs/client.md.
    """

    def __init__(
        self,
        servers: Address | str | Iterable[Address | str] = "127.0.0.1",
        *,
        identity: Identity | None = None,
        rooms: Iterable[str] = (),
        clock: Clock | None = None,
        backoff: Backoff | None = None,
        rng: random.Random | None = None,
        lag_interval: float = 30.0,
        ping_timeout: float = 60.0,
        connect_timeout: float = 10.0,
        stable_after: float = 30.0,
        reconnect: bool = True,
        tls: bool | ssl.SSLContext | None = None,
        cafile: str | None = None,
    ) -> None:
        super().__init__(
            _addresses(servers),
            clock=clock,
            backoff=backoff,
            rng=rng,
            lag_interval=lag_interval,
            ping_timeout=ping_timeout,
            connect_timeout=connect_timeout,
            stable_after=stable_after,
            reconnect=reconnect,
            tls=tls,
            cafile=cafile,
        )
        self.identity = identity
        # Rooms to be in, by folded name: joined by the user, rejoined after
        # a reconnect, forgotten when parted.
        self._wanted: dict[str, str] = {}
        for room in rooms:
            self._want(room)

    @property
    def me(self) -> str | None:
        """My name as the server displays it, while logged in."""
        return self.state.me

    @property
    def rooms_wanted(self) -> tuple[str, ...]:
        """The rooms this client keeps itself in (rejoined after reconnects)."""
        return tuple(self._wanted.values())

    def snapshot(self) -> Snapshot:
        return self.state.snapshot()

    def _want(self, room: str) -> None:
        room = Join(room=room).room  # validates, and normalizes to NFC
        self._wanted.setdefault(fold(room), room)

    async def start(self) -> None:
        """Connect to the first server that answers, and log in if told how.

        Raises ``ConnectError`` when no server can be reached (each is tried
        once) and ``LoginError`` when the login is refused; after a refusal
        the client stays connected, so ``login()`` may be tried again.
        """
        if self.status is not Status.IDLE:
            raise RuntimeError("the client was already started")
        errors: list[str] = []
        for _ in self.servers:
            server = self._pick()
            conn = await self._open(server, attempt=1)
            if conn is not None:
                break
            errors.append(f"{server}: {self._last_error}")
        else:
            self._finish("cannot connect")
            raise ConnectError("cannot reach " + "; ".join(errors))
        self._supervisor = asyncio.create_task(self._supervise())
        self._ready.set()
        identity, self.identity = self.identity, None
        if identity is not None:
            await self.login(identity)

    async def __aenter__(self) -> Client:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def quit(self) -> Reply | None:
        """Say goodbye (``SAIR``), then stop; returns ``PASS-217`` if it came."""
        if not self._stopping:
            self._stopping = True
            self._stop_reason = "quit"
        conn, reader = self._conn, self._reader
        reply: Reply | None = None
        if conn is not None and reader is not None:
            try:
                reply = await self._request(conn, Quit(), timeout=QUIT_GRACE)
                await self._within(asyncio.shield(reader), QUIT_GRACE)
            except (NotConnected, TimeoutError):
                pass
        await self.close()
        return reply

    async def login(self, identity: Identity) -> Reply:
        """Log in (registering first if ``identity.register``); return the reply.

        Raises ``LoginError`` when refused; the connection stays open. The
        identity is remembered for logging in again after a reconnect.
        """
        conn = await self._usable()
        if isinstance(identity, Account) and identity.register:
            reply = await self._request(
                conn, Register(user=identity.user, password=identity.password)
            )
            if not reply.ok:
                raise LoginError(reply)
            identity = Account(identity.user, identity.password)
        reply = await self._request(conn, login_command(identity))
        if not reply.ok:
            raise LoginError(reply)
        await self._logged_in(conn, identity, again=False)
        return reply

    async def register(self, user: str, password: str) -> Reply:
        """Create an account (``NOVO``) without logging in."""
        return await self.request(Register(user=user, password=password))

    async def _logged_in(
        self, conn: aio.Client, identity: Identity, again: bool
    ) -> None:
        self.identity = identity
        self.status = Status.LOGGED_IN
        self._logged_in_at = self.clock.now()
        assert self.state.me is not None
        self.emit(LoggedIn(name=self.state.me, guest=self.state.guest, again=again))
        await self._request(conn, Who())
        for room in list(self._wanted.values()):
            await self._enter(conn, room, rejoined=again)
        # The first PING waited behind the password check; measure afresh.
        self._measure_soon(conn)

    async def _enter(self, conn: aio.Client, room: str, rejoined: bool) -> Reply:
        reply = await self._request(conn, Join(room=room))
        if reply.ok:
            self._want(reply.text)
            await self._request(conn, Who(room=reply.text))
            found = self.state.room(reply.text)
            members = found.members if found is not None else ()
            self.emit(RoomJoined(room=reply.text, members=members, rejoined=rejoined))
        elif rejoined:
            log.warning("could not rejoin %s: %s", room, reply.text)
            self._wanted.pop(fold(room), None)
        return reply

    @overload
    async def wait_for(self, match: type[U], *, timeout: float | None = ...) -> U: ...

    @overload
    async def wait_for(
        self, match: Callable[[Update], bool], *, timeout: float | None = ...
    ) -> Update: ...

    async def wait_for(
        self,
        match: type[U] | Callable[[Update], bool],
        *,
        timeout: float | None = None,
    ) -> U | Update:
        """The first update from now on that ``match`` accepts (see ``expect``).

        ``timeout`` is in seconds on the client's clock; when it passes first,
        ``TimeoutError`` is raised.
        """
        future: asyncio.Future[Any] = self.expect(match)
        if timeout is not None and not await self._within(future, timeout):
            future.cancel()
            raise TimeoutError(f"nothing matched within {timeout:g} s")
        return cast(U | Update, await future)

    async def request(self, command: Command) -> Reply:
        """Send any command and return its reply, keeping the state in step.

        Logging in, joining, parting and quitting this way have the same
        effect as the dedicated methods.
        """
        if isinstance(command, Quit):
            reply = await self.quit()
            if reply is None:
                raise NotConnected("the connection ended before PASS-217")
            return reply
        conn = await self._usable()
        if isinstance(command, Login | Nick):
            identity: Identity = (
                Account(command.user, command.password)
                if isinstance(command, Login)
                else Guest(command.nick)
            )
            try:
                return await self.login(identity)
            except LoginError as exc:
                return exc.reply
        if isinstance(command, Join):
            return await self._enter(conn, command.room, rejoined=False)
        reply = await self._request(conn, command)
        if isinstance(command, Part) and reply.code in (223, 706):
            self._wanted.pop(fold(command.room), None)
            if reply.ok:
                self.emit(RoomLeft(room=reply.text))
        return reply

    async def say(self, target: str, text: str) -> Reply:
        """Send ``text`` to a user, a ``#room`` or ``*`` (everyone).

        Text with line breaks, or too long for one line, goes out as several
        messages in order; the reply returned is the first refusal, or the
        last ``CHAT-215``.
        """
        conn = await self._usable()
        assert self.greeting is not None
        commands = split_message(target, text, self.greeting.max_line)
        if not commands:
            raise ValueError("there is no text to send")
        # Pipelined: each line goes out as soon as the pace allows, without
        # waiting for the reply to the one before (replies keep the order).
        replies: list[asyncio.Future[Reply]] = []
        try:
            for command in commands:
                pending = await self._send(conn, command)
                replies.append(asyncio.ensure_future(self._reply(pending, command)))
        finally:
            done = await asyncio.gather(*replies, return_exceptions=True)
        last: Reply | None = None
        for reply in done:
            if isinstance(reply, BaseException):
                raise reply
            if not reply.ok:
                return reply
            last = reply
        assert last is not None
        return last

    msg = say  # the seeds call it /msg

    async def join(self, room: str) -> Reply:
        """Join ``room`` (created if new); it is rejoined after reconnects."""
        return await self.request(Join(room=room))

    async def part(self, room: str) -> Reply:
        """Leave ``room``; it is no longer rejoined."""
        return await self.request(Part(room=room))

    async def who(self, room: str | None = None) -> Reply:
        """Who is online (``LISTA``), or in ``room``; ``reply.names``."""
        return await self.request(Who(room=room))

    async def rooms(self) -> Reply:
        """Every room and its member count (``SALAS``); ``reply.rooms``."""
        return await self.request(Rooms())

    async def ping(self) -> float:
        """Measure the lag now (a PING round trip), in seconds."""
        return await self._measure(await self._usable())

    async def send_line(self, line: str) -> Reply | None:
        """Send one line typed as the protocol spells it (``CHAT ana oi``).

        The line is parsed by the library first: one that is not a valid
        command raises ``BadLine`` and nothing is sent. ``PONG`` gets no
        reply, so it returns None.
        """
        command = _parse(line)
        if not command.spec().has_reply:
            conn = await self._usable()
            async with self._send_lock:
                await self._pace()
                try:
                    conn.send(command)
                except ConnectionError as exc:
                    raise NotConnected(f"the connection was lost ({exc})") from None
                self._tap("out", command)
            return None
        return await self.request(command)


def _parse(line: str) -> Command:
    if not line.strip(" "):
        raise BadLine("the line is empty")
    try:
        return parse_command(line)
    except RemoteProtocolError as exc:
        hint = exc.reply_hint
        raise BadLine(explain(hint) if hint is not None else str(exc)) from None
