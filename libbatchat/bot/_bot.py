"""``Bot``: handlers registered with decorators, dispatched from a client.

The bot adds dispatch to the client layer and nothing else: the ``Client``
it runs on connects, paces every line from the server's advertised limits,
reconnects with backoff, logs in again and rejoins the rooms. The bot
subscribes to the client's updates and runs each handler in a task of its
own (started in the order the updates came), so a handler that waits (for
an answer, for a deadline) holds up nobody.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import signal
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from libbatchat._events import Joined, Left, Message, Offline, Online, Reply
from libbatchat._names import fold
from libbatchat.client import (
    Address,
    ChatState,
    Client,
    Guest,
    Identity,
    LoggedIn,
    NotConnected,
    Status,
    Update,
)

from ._commands import BadArguments, CommandSpec
from ._context import Context
from ._guards import Breaker, Cooldown, Cooldowns

__all__ = ["Bot"]

log = logging.getLogger("libbatchat.bot")

F = TypeVar("F", bound=Callable[..., Any])
U = TypeVar("U", bound=Update)


async def _call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a handler, sync or async."""
    result = fn(*args, **kwargs)
    if inspect.isawaitable(result):
        result = await result
    return result


class Bot:
    """A chat bot: commands, message and presence handlers, periodic tasks.

    ``name`` is the nickname used when nothing else is given (``batchat-bot
    --nick`` or ``--user`` override it); ``rooms`` are joined on start and
    after every reconnect. Commands start with ``prefix``. ``cooldown`` is
    the per-user limit on commands (None: no limit); ``breaker`` stops
    answering someone who keeps the bot replying non-stop (True: the
    default ``Breaker()``, or one of your own; False: off).
    """

    def __init__(
        self,
        name: str = "bot",
        *,
        prefix: str = "!",
        rooms: Iterable[str] = (),
        cooldown: Cooldown | None = Cooldown(),  # noqa: B008 (frozen, shared safely)
        breaker: Breaker | bool = True,
        help_command: bool = True,
    ) -> None:
        if not prefix or " " in prefix:
            raise ValueError("the prefix must be a non-empty word")
        self.name = name
        self.prefix = prefix
        self.rooms = tuple(rooms)
        self.cooldown = cooldown
        # Each bot gets a breaker of its own: it keeps state.
        self.breaker: Breaker | None = (
            Breaker() if breaker is True else breaker if breaker else None
        )
        self.client: Client | None = None
        self._commands: dict[str, CommandSpec] = {}
        self._order: list[CommandSpec] = []
        self._cooldowns: dict[int, Cooldowns] = {}
        self._command_cooldown: dict[int, Cooldown | None] = {}
        self._handlers: list[tuple[type[Any], Callable[..., Any]]] = []
        self._message_handlers: list[Callable[..., Any]] = []
        self._periodic: list[tuple[float, Callable[..., Any]]] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._unsubscribe: Callable[[], None] | None = None
        if help_command:
            self.command("help", help="list the commands, or explain one")(self._help)

    # -- registering -------------------------------------------------------------

    def command(
        self,
        name: str,
        *aliases: str,
        help: str | None = None,
        usage: str | None = None,
        cooldown: Cooldown | bool | None = True,
    ) -> Callable[[F], F]:
        """Register ``fn(ctx, ...)`` as ``<prefix>name``; see docs/bots.md.

        The handler's parameters after ``ctx`` are the command's arguments,
        converted by their annotations. A returned string is replied.
        ``cooldown``: True for the bot's, a ``Cooldown`` of its own, or
        False/None for none.
        """

        def register(fn: F) -> F:
            spec = CommandSpec(name, fn, aliases=aliases, help=help, usage=usage)
            for word in (name, *aliases):
                key = fold(word)
                old = self._commands.get(key)
                if old is not None and old.name == "help" and old.handler == self._help:
                    self._order.remove(old)
                elif old is not None:
                    raise ValueError(f"command {word!r} is already registered")
                self._commands[key] = spec
            self._order.append(spec)
            if cooldown is True:
                self._command_cooldown[id(spec)] = self.cooldown
            else:
                self._command_cooldown[id(spec)] = cooldown or None
            return fn

        return register

    def on_message(self, fn: F) -> F:
        """Register ``fn(ctx)`` for every message (commands too), but my own."""
        self._message_handlers.append(fn)
        return fn

    def on(self, kind: type[U]) -> Callable[[Callable[[U], Any]], Callable[[U], Any]]:
        """Register ``fn(update)`` for every update of class ``kind``."""

        def register(fn: Callable[[U], Any]) -> Callable[[U], Any]:
            self._handlers.append((kind, fn))
            return fn

        return register

    def _add(self, kind: type[Any], fn: F) -> F:
        self._handlers.append((kind, fn))
        return fn

    def on_join(self, fn: F) -> F:
        """``fn(event: Joined)`` when someone else joins one of my rooms."""
        return self._add(Joined, fn)

    def on_leave(self, fn: F) -> F:
        """``fn(event: Left)`` when someone else leaves one of my rooms."""
        return self._add(Left, fn)

    def on_online(self, fn: F) -> F:
        """``fn(event: Online)`` when someone comes online."""
        return self._add(Online, fn)

    def on_offline(self, fn: F) -> F:
        """``fn(event: Offline)`` when someone goes offline."""
        return self._add(Offline, fn)

    def on_ready(self, fn: F) -> F:
        """``fn(event: LoggedIn)`` after logging in (``event.again`` after a drop)."""
        return self._add(LoggedIn, fn)

    def every(self, seconds: float) -> Callable[[F], F]:
        """Run ``fn()`` every ``seconds`` while the bot is logged in."""
        if seconds <= 0:
            raise ValueError("the period must be positive")

        def register(fn: F) -> F:
            self._periodic.append((seconds, fn))
            return fn

        return register

    @property
    def commands(self) -> tuple[CommandSpec, ...]:
        return tuple(self._order)

    # -- running -----------------------------------------------------------------

    def make_client(
        self,
        servers: Address | str | Iterable[Address | str] = "127.0.0.1",
        *,
        identity: Identity | None = None,
        rooms: Iterable[str] = (),
        **options: Any,
    ) -> Client:
        """A ``Client`` for this bot: its name as a guest unless told otherwise,
        its rooms and ``rooms``. ``options`` go to ``Client``."""
        wanted = list(dict.fromkeys([*self.rooms, *rooms]))
        return Client(
            servers, identity=identity or Guest(self.name), rooms=wanted, **options
        )

    async def start(self, client: Client) -> None:
        """Attach to ``client`` (starting it if it is not yet) and dispatch."""
        if self.client is not None:
            raise RuntimeError("the bot is already running")
        self.client = client
        self._unsubscribe = client.subscribe(self._dispatch)
        for seconds, fn in self._periodic:
            self._spawn(self._repeat(seconds, fn))
        if client.status is Status.IDLE:
            try:
                await client.start()
            except BaseException:
                await self.detach()  # no periodic task left behind
                raise

    async def run(self, client: Client) -> str:
        """Start on ``client`` and run until it stops; return why it stopped."""
        await self.start(client)
        try:
            return await client.wait_stopped()
        finally:
            await self.detach()

    def run_forever(
        self,
        servers: Address | str | Iterable[Address | str] = "127.0.0.1",
        *,
        identity: Identity | None = None,
        rooms: Iterable[str] = (),
        **options: Any,
    ) -> str:
        """The synchronous way in: run until SIGINT/SIGTERM or the client stops.

        ``if __name__ == "__main__": bot.run_forever("host:port")`` makes a
        bot file a program; a signal says goodbye (``SAIR``) and returns.
        Call it from the main thread, with no event loop running.
        """

        async def main() -> str:
            client = self.make_client(
                servers, identity=identity, rooms=rooms, **options
            )
            loop = asyncio.get_running_loop()
            stopping: list[asyncio.Task[None]] = []
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(
                    signum, lambda: stopping.append(loop.create_task(self.stop()))
                )
            reason = await self.run(client)
            await asyncio.gather(*stopping)
            return reason

        return asyncio.run(main())

    async def stop(self) -> None:
        """Say goodbye (``SAIR``) and stop."""
        if self.client is not None:
            await self.client.quit()
        await self.detach()

    async def detach(self) -> None:
        """Stop dispatching and cancel the handlers still running."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        tasks = [t for t in self._tasks if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.client = None

    # -- what handlers call ---------------------------------------------------------

    def _client(self) -> Client:
        if self.client is None:
            raise RuntimeError("the bot is not running")
        return self.client

    @property
    def me(self) -> str | None:
        return self._client().me

    @property
    def state(self) -> ChatState:
        """Who is online, my rooms and their members (``client.state``)."""
        return self._client().state

    def now(self) -> float:
        """The bot's clock, in seconds (virtual under the test harness)."""
        return self._client().clock.now()

    async def sleep(self, seconds: float) -> None:
        """Wait on the bot's clock (``advance()`` moves it under the harness)."""
        await self._client().clock.sleep(seconds)

    async def say(self, target: str, text: str) -> Reply:
        """Send ``text`` to a user, a ``#room`` or ``*``, at the server's pace."""
        return await self._client().say(target, text)

    async def join(self, room: str) -> Reply:
        return await self._client().join(room)

    async def part(self, room: str) -> Reply:
        return await self._client().part(room)

    async def wait_for(
        self, match: type[Update] | Callable[[Update], bool], *, timeout: float
    ) -> Update:
        """The next update ``match`` accepts (a class or a predicate).

        ``timeout`` is in seconds on the bot's clock; ``TimeoutError`` after.
        """
        return await self._client().wait_for(match, timeout=timeout)

    # -- dispatching ---------------------------------------------------------------

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        # Handlers are guarded; what still escapes (a converter raising
        # something odd, say) is logged here, never left unretrieved.
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("a bot task failed", exc_info=exc)

    def _dispatch(self, update: Update) -> None:
        client = self._client()
        if isinstance(update, Message):
            self._on_message(client, update)
            return
        if isinstance(update, Joined | Left | Online | Offline) and (
            client.state.is_me(update.user)
        ):
            return
        for kind, fn in self._handlers:
            if isinstance(update, kind):
                self._spawn(self._guarded(fn, update, None))

    def _on_message(self, client: Client, message: Message) -> None:
        if client.state.is_me(message.sender):
            return  # my own words (a DM to myself, or a server that echoes)
        if self.breaker is not None and self.breaker.open_for(
            message.sender, self.now()
        ):
            log.debug("ignoring %s (reply-loop breaker open)", message.sender)
            return
        for kind, fn in self._handlers:
            if isinstance(message, kind):
                self._spawn(self._guarded(fn, message, None))
        for fn in self._message_handlers:
            ctx = Context(self, message)
            self._spawn(self._guarded(fn, ctx, ctx))
        text = message.text
        if text.startswith(self.prefix) and len(text) > len(self.prefix):
            word, _, rest = text[len(self.prefix) :].partition(" ")
            ctx = Context(self, message, command=word, args=rest)
            self._spawn(self._run_command(ctx, word, rest))

    async def _guarded(
        self, fn: Callable[..., Any], arg: Any, ctx: Context | None
    ) -> Any:
        """Run a handler; if it raises, log it and (for a message) say so."""
        try:
            result = await _call(fn, arg)
            if ctx is not None and isinstance(result, str) and result:
                await ctx.reply(result)
        except NotConnected as exc:
            log.info("%s: %s", getattr(fn, "__name__", fn), exc)
        except Exception as exc:
            name = getattr(fn, "__name__", repr(fn))
            log.exception("handler %s failed", name)
            if ctx is not None:
                await self._apologize(ctx, f"sorry, that failed ({type(exc).__name__})")

    async def _apologize(self, ctx: Context, text: str) -> None:
        try:
            await ctx.reply(text)
        except Exception as exc:  # the connection went while saying sorry
            log.info("could not report an error to %s: %s", ctx.sender, exc)

    async def _run_command(self, ctx: Context, word: str, rest: str) -> None:
        spec = self._commands.get(fold(word))
        if spec is None:
            if ctx.direct:  # in a room, the command may be another bot's
                await self._apologize(
                    ctx, f"unknown command {self.prefix}{word}; try {self.prefix}help"
                )
            return
        policy = self._command_cooldown.get(id(spec))
        if policy is not None:
            limits = self._cooldowns.setdefault(id(policy), Cooldowns(policy))
            wait = limits.check(ctx.sender, self.now())
            if wait is not None:
                if wait >= 0:
                    await self._apologize(
                        ctx, f"slow down, {ctx.sender}: try again in {wait:.0f} s"
                    )
                return
        try:
            args, kwargs = spec.parse(rest)
        except BadArguments as exc:
            await self._apologize(ctx, f"{exc}; usage: {spec.usage(self.prefix)}")
            return
        try:
            result = await _call(spec.handler, ctx, *args, **kwargs)
            if isinstance(result, str) and result:
                await ctx.reply(result)
        except NotConnected as exc:
            log.info("%s%s: %s", self.prefix, spec.name, exc)
        except Exception as exc:
            log.exception("command %s%s failed", self.prefix, spec.name)
            await self._apologize(
                ctx, f"sorry, {self.prefix}{spec.name} failed ({type(exc).__name__})"
            )

    def _count_reply(self, sender: str) -> None:
        if self.breaker is not None and self.breaker.replied(sender, self.now()):
            log.warning(
                "%s keeps me replying (a bot loop?): ignoring them for %g s",
                sender,
                self.breaker.pause,
            )

    async def _repeat(self, seconds: float, fn: Callable[..., Any]) -> None:
        while True:
            await self.sleep(seconds)
            if self._client().status is Status.LOGGED_IN:
                await self._guarded(lambda _: fn(), None, None)

    async def _help(self, ctx: Context, *, name: str = "") -> str:
        if name:
            spec = self._commands.get(fold(name.removeprefix(self.prefix).strip()))
            if spec is None:
                return f"no command {name}; try {self.prefix}help"
            text = f"usage: {spec.usage(self.prefix)}"
            return f"{text} -- {spec.help}" if spec.help else text
        names = ", ".join(self.prefix + spec.name for spec in self._order)
        return f"commands: {names} ({self.prefix}help NAME for more)"
