"""Testing bots: a real server in-process, users to speak as, a virtual clock.

``BotHarness`` starts an ``aio.Server`` on 127.0.0.1 port 0 (accounts in
memory, cheap password hashing) and the bot under test on a client-layer
``Client``; the server, the bot and the users share one ``VirtualClock``,
so cooldowns, periodic tasks, deadlines, pacing and reconnect backoff move
only when the test calls ``advance()``, and nothing sleeps for real::

    async with BotHarness(bot, rooms=["#geral"]) as h:
        await h.say("ana", "#geral", "!roll 2d6")
        sent = await h.expect(re.compile(r"ana rolled \\d+"))
        await h.advance(60)

Everything the bot writes is recorded from its side of the wire
(``h.replies``, ``h.lines``, with the virtual time it went out), and each
user's ``inbox()`` holds what the server delivered to them. See docs/bots.md.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from libbatchat._accounts import AccountStore, MemoryStore
from libbatchat._config import Limits
from libbatchat._events import Chat, Message, Reply
from libbatchat._names import fold
from libbatchat.adapters import aio
from libbatchat.bot import Bot, load_bot
from libbatchat.client import (
    Account,
    Address,
    Backoff,
    Client,
    Guest,
    Identity,
    Status,
    Update,
    VirtualClock,
    Wire,
)

__all__ = ["WAIT", "BotHarness", "Sent", "run"]

T = TypeVar("T")

HOST = "127.0.0.1"
WAIT = 10.0  # real seconds any one wait may take before the test fails
# Password hashing cheap enough for tests; every other limit as shipped.
TEST_LIMITS = Limits(scrypt_n=16, scrypt_r=8, scrypt_p=1)
# How long (virtual seconds) restart_server() lets the bot take to come back.
COMEBACK = 300.0


def run(main: Coroutine[Any, Any, T], *, timeout: float = 60.0) -> T:
    """``asyncio.run(main)``, failing after ``timeout`` real seconds."""

    async def bounded() -> T:
        async with asyncio.timeout(timeout):
            return await main

    return asyncio.run(bounded())


@dataclass(frozen=True, slots=True)
class Sent:
    """A message the bot sent: to whom, what, and when (the virtual clock)."""

    target: str
    text: str
    time: float


Match = str | re.Pattern[str] | Callable[[Sent], bool] | None


def _matches(match: Match, sent: Sent) -> bool:
    if match is None:
        return True
    if isinstance(match, str):
        return sent.text == match
    if isinstance(match, re.Pattern):
        return match.search(sent.text) is not None
    return match(sent)


class BotHarness:
    """A bot under test, a real server, and users, on one virtual clock.

    ``bot`` is a ``Bot`` or where to load one (``"examples/dice.py"``).
    ``rooms`` are joined by the bot besides its own; ``identity`` defaults
    to a guest named after the bot. ``limits`` configure the server (cheap
    hashing by default). ``store`` makes the account store; it is called
    again on a server restart (a ``MemoryStore`` each time by default, so
    accounts do not survive one: pass a factory of a file store if needed).
    """

    def __init__(
        self,
        bot: Bot | str,
        *,
        rooms: Iterable[str] = (),
        identity: Identity | None = None,
        limits: Limits = TEST_LIMITS,
        store: Callable[[], AccountStore] = MemoryStore,
        seed: int = 0,
    ) -> None:
        self.bot = load_bot(bot) if isinstance(bot, str) else bot
        self.clock = VirtualClock()
        self.limits = limits
        self.replies: list[Sent] = []
        self.lines: list[Wire] = []  # every line the bot wrote, PINGs too
        self._rooms = tuple(rooms)
        self._identity = identity
        self._store = store
        self._rng = random.Random(seed)
        self._server: aio.Server | None = None
        self._port = 0
        self._users: dict[str, Client] = {}
        self._inboxes: dict[str, list[Message]] = {}
        self._cursor = 0
        self._changed = asyncio.Event()
        self._activity = 0
        self.client: Client | None = None
        self._others: list[Bot] = []

    # -- life -------------------------------------------------------------------

    @property
    def address(self) -> Address:
        return Address(HOST, self._port)

    @property
    def bot_name(self) -> str:
        assert self.client is not None and self.client.me is not None
        return self.client.me

    def _options(self) -> dict[str, Any]:
        return {
            "clock": self.clock,
            "rng": random.Random(self._rng.random()),
            "backoff": Backoff(initial=1.0, maximum=8.0),
        }

    async def _start_server(self) -> None:
        server = aio.Server(
            HOST,
            self._port,
            limits=self.limits,
            accounts=self._store(),
            clock=self.clock,
        )
        await server.start()
        self._server = server
        self._port = server.port

    async def __aenter__(self) -> BotHarness:
        await self._start_server()
        await self.start_bot(self.bot)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start_bot(self, bot: Bot | str) -> Bot:
        """Run ``bot`` (a new one after ``stop_bot()``, say) on a new client."""
        self.bot = load_bot(bot) if isinstance(bot, str) else bot
        client = self.bot.make_client(
            self.address, identity=self._identity, rooms=self._rooms, **self._options()
        )
        client.wire = True
        client.subscribe(self._record)
        self.client = client
        async with asyncio.timeout(WAIT):
            await self.bot.start(client)
        await self.settle()
        return self.bot

    async def add_bot(self, bot: Bot | str, identity: Identity | None = None) -> Bot:
        """Run another bot on the same server and clock (two bots together);
        it is not recorded in ``replies``."""
        other = load_bot(bot) if isinstance(bot, str) else bot
        client = other.make_client(self.address, identity=identity, **self._options())
        client.subscribe(lambda _: self._tick())
        async with asyncio.timeout(WAIT):
            await other.start(client)
        self._others.append(other)
        await self.settle()
        return other

    async def stop_bot(self) -> None:
        """Stop the bot as ``batchat-bot`` does on SIGTERM (``SAIR``)."""
        async with asyncio.timeout(WAIT):
            await self.bot.stop()
        await self.settle()

    async def close(self) -> None:
        if self.client is not None and self.client.status is not Status.STOPPED:
            await self.bot.detach()
            await self.client.close()
        for other in self._others:
            client = other.client
            await other.detach()
            if client is not None:
                await client.close()
        for user in self._users.values():
            await user.close()
        if self._server is not None:
            await self._server.close()

    async def restart_server(self, down_for: float = 0.0) -> None:
        """Stop the server (``CLOSING shutdown``), let ``down_for`` seconds
        pass (the clients' attempts are refused meanwhile), start a new one
        on the same port, and advance the clock until the bot and every user
        are back, logged in and in their rooms."""
        assert self._server is not None
        await self._server.close()
        await self.settle()
        await self.advance(down_for)
        await self._start_server()
        others = [b.client for b in self._others]
        clients = [
            c for c in (self.client, *others, *self._users.values()) if c is not None
        ]
        deadline = self.clock.now() + COMEBACK
        while not all(_back(c) for c in clients):
            if self.clock.now() >= deadline:
                raise AssertionError(f"not back within {COMEBACK:g} s after a restart")
            await self.advance(1.0)
        await self.settle()

    # -- speaking as users -----------------------------------------------------------

    async def user(self, name: str, *, password: str | None = None) -> Client:
        """The user ``name`` (a guest, or an account registered with
        ``password``), connected on first use."""
        key = fold(name)
        found = self._users.get(key)
        if found is not None:
            return found
        identity: Identity = (
            Guest(name) if password is None else Account(name, password, register=True)
        )
        client = Client(self.address, identity=identity, **self._options())
        inbox: list[Message] = []
        self._inboxes[key] = inbox

        def keep(update: Update) -> None:
            self._tick()
            if isinstance(update, Message):
                inbox.append(update)

        client.subscribe(keep)
        async with asyncio.timeout(WAIT):
            await client.start()
        self._users[key] = client
        await self.settle()
        return client

    async def join(self, user: str, room: str) -> Reply:
        """``user`` joins ``room``; returns once the bot could have seen it."""
        reply = await self._paced((await self.user(user)).join(room))
        await self.settle()
        return reply

    async def part(self, user: str, room: str) -> Reply:
        """``user`` leaves ``room``."""
        reply = await self._paced((await self.user(user)).part(room))
        await self.settle()
        return reply

    def inbox(self, name: str) -> list[Message]:
        """Every message the server delivered to user ``name`` so far."""
        return self._inboxes.get(fold(name), [])

    async def say(self, user: str, target: str, text: str) -> Reply:
        """``user`` says ``text`` to ``target`` (a ``#room``, ``*`` or a nick;
        ``"bot"`` is a DM to the bot), joining the room first if
        needed. Returns once the bot has received it and its handlers ran
        until they wait on something. A user who has used up the server's
        burst waits for the line to go out, as a person would: the clock
        moves on by the time the pace asks for."""
        client = await self.user(user)
        assert self.client is not None
        if target == "bot" or self.client.state.is_me(target):
            target = self.bot_name
        if target.startswith("#") and client.state.room(target) is None:
            await self._paced(client.join(target))
        heard = self._hears(target)
        received: asyncio.Future[Update] | None = None
        if heard:
            sender = client.me or user
            received = self.client.expect(
                lambda u: (
                    isinstance(u, Message)
                    and fold(u.sender) == fold(sender)
                    and u.text == text
                )
            )
        reply = await self._paced(client.say(target, text))
        if received is not None:
            if reply.ok:
                await self._within(received)
            else:
                received.cancel()
        await self.settle()
        return reply

    async def dm(self, user: str, text: str) -> Reply:
        """``user`` sends ``text`` to the bot directly."""
        return await self.say(user, self.bot_name, text)

    def _hears(self, target: str) -> bool:
        assert self.client is not None
        state = self.client.state
        return target == "*" or state.is_me(target) or state.room(target) is not None

    # -- what the bot said ------------------------------------------------------------

    def _tick(self) -> None:
        self._activity += 1
        self._changed.set()

    def _record(self, update: Update) -> None:
        self._tick()
        if isinstance(update, Wire) and update.direction == "out":
            self.lines.append(update)
            if isinstance(update.event, Chat):
                chat = update.event
                self.replies.append(Sent(chat.target, chat.text, update.time))

    async def expect(
        self, match: Match = None, *, to: str | None = None, timeout: float = WAIT
    ) -> Sent:
        """The bot's next message (after those already expected) that matches.

        ``match``: the exact text, a compiled regex (searched), or a
        predicate on ``Sent``; ``to``: its target. Messages before it that do
        not match are skipped. Waits up to ``timeout`` real seconds: a reply
        held back by pacing needs ``advance()`` first.
        """
        try:
            async with asyncio.timeout(timeout):
                while True:
                    while self._cursor < len(self.replies):
                        sent = self.replies[self._cursor]
                        self._cursor += 1
                        if (to is None or fold(sent.target) == fold(to)) and _matches(
                            match, sent
                        ):
                            return sent
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            seen = [s.text for s in self.replies[-5:]]
            raise AssertionError(
                f"the bot sent nothing matching {match!r} (to {to!r}); "
                f"its last messages: {seen}"
            ) from None

    async def no_reply(self) -> None:
        """Assert the bot has sent nothing since the last ``expect()``."""
        await self.settle()
        fresh = self.replies[self._cursor :]
        if fresh:
            raise AssertionError(f"the bot said {[s.text for s in fresh]}")

    def skip_replies(self) -> None:
        """Forget what the bot said so far; ``expect()`` looks at what comes next."""
        self._cursor = len(self.replies)

    # -- time ---------------------------------------------------------------------

    async def settle(self) -> None:
        """Let the network and the handlers run until nothing moves for a while.

        Time does not move. Replies that wait for send budget stay waiting.
        """
        quiet = 0
        for _ in range(200):
            before = self._activity
            await self.clock.settle()
            quiet = quiet + 1 if self._activity == before else 0
            if quiet >= 3:
                return

    async def advance(self, seconds: float) -> None:
        """Move the shared clock ``seconds`` ahead, one timer at a time.

        After each wake-up the network settles before the clock moves on, so
        a round trip started by one timer ends before the next timer's time.
        """
        if seconds < 0:
            raise ValueError("time cannot go back")
        target = self.clock.now() + seconds
        while (due := self.clock.next_due()) is not None and due <= target:
            await self.clock.advance(max(0.0, due - self.clock.now()))
            await self.settle()
        await self.clock.advance(max(0.0, target - self.clock.now()))
        await self.settle()

    async def _paced(self, action: Coroutine[Any, Any, T]) -> T:
        """A user's action; when it waits for send budget, time moves on.

        A person who has used up the server's burst waits before the next
        line goes out; so does a harness user. Once the network is quiet
        and the action still waits, it waits on the clock: advance to the
        next timer and look again.
        """
        task = asyncio.ensure_future(action)
        try:
            async with asyncio.timeout(WAIT):
                while True:
                    await self.settle()
                    if task.done():
                        return task.result()
                    due = self.clock.next_due()
                    if due is None:
                        return await task
                    await self.advance(max(0.0, due - self.clock.now()))
        finally:
            task.cancel()

    async def _within(self, awaitable: Coroutine[Any, Any, T] | asyncio.Future[T]) -> T:
        async with asyncio.timeout(WAIT):
            return await awaitable


def _back(client: Client) -> bool:
    """Logged in again and in every room it keeps itself in."""
    if client.status is not Status.LOGGED_IN or not client.connected:
        return False
    return all(client.state.room(r) is not None for r in client.rooms_wanted)
