"""The interactive loop: a prompt at the bottom, the chat printed above it.

``Repl`` reads lines with a prompt_toolkit ``PromptSession`` and hands each
to ``Actions`` as its own task, so a slow paste never blocks typing (the
client's send queue keeps them in order). Updates from the client are
painted and handed to the sink; the toolbar reads the client's state at
every redraw.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from prompt_toolkit import PromptSession
from prompt_toolkit.enums import DEFAULT_BUFFER
from prompt_toolkit.filters import has_focus
from prompt_toolkit.formatted_text import FormattedText, StyleAndTextTuples
from prompt_toolkit.history import History, InMemoryHistory
from prompt_toolkit.input import Input
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.keys import Keys
from prompt_toolkit.output import Output

from libbatchat import (
    Joined,
    Left,
    Message,
    Offline,
    Online,
)
from libbatchat.client import (
    Client,
    ClientError,
    Connected,
    ConnectFailed,
    Connecting,
    Disconnected,
    LoggedIn,
    LoginFailed,
    Reconnecting,
    RoomJoined,
    RoomLeft,
    Status,
    Stopped,
    Update,
    Wire,
    explain,
    fold,
)

from .actions import Actions
from .complete import ChatCompleter
from .render import STYLE, Line, Painter, Sink, TerminalSink

__all__ = ["Repl"]

log = logging.getLogger("batchat.repl")

# How long leaving waits for lines still being sent (a paste) before SAIR.
DRAIN_GRACE = 30.0

# Completing a room asks the server for its rooms at most this often (s).
ROOMS_EVERY = 1.0


class Repl(Actions):
    """One chat session at a terminal (or a test's pipe)."""

    def __init__(
        self,
        client: Client,
        *,
        sink: Sink | None = None,
        input: Input | None = None,
        output: Output | None = None,
        history: History | None = None,
        painter: Painter | None = None,
        log_path: Path | None = None,
    ) -> None:
        super().__init__(client, sink or TerminalSink(), painter or Painter(), log_path)
        # Subscribed from the start, so connecting and logging in show too.
        self._unsubscribe = client.subscribe(self.on_update)
        self.unread: dict[str, tuple[str, int]] = {}
        # Until the first connection, failures are the program's one-line
        # exit message, not notices.
        self.was_connected = False
        self._rooms_asked: float | None = None
        self._rooms_fetch: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._input, self._output, self._history = input, output, history
        self._session: PromptSession[str] | None = None

    @property
    def session(self) -> PromptSession[str]:
        """The prompt, made on first use: not before the chat can start (an
        unreachable server needs no terminal, nor its warnings)."""
        if self._session is None:
            self._session = self._make_session()
        return self._session

    def _make_session(self) -> PromptSession[str]:
        return PromptSession(
            message=self._prompt,
            bottom_toolbar=self.toolbar,
            completer=ChatCompleter(self.nicks, self.rooms, self.fresh_rooms),
            complete_while_typing=False,
            history=self._history or InMemoryHistory(),
            key_bindings=self._bindings(),
            style=STYLE,
            refresh_interval=1.0,
            input=self._input,
            output=self._output,
        )

    # -- what completion offers -------------------------------------------------

    def nicks(self) -> list[str]:
        """People to complete: recent speakers first, then members, then online."""
        found = list(reversed(self.recent.values()))
        for room in self.client.state.rooms:
            found += room.members
        found += self.client.state.online
        me = self.client.me
        return [n for n in found if me is None or fold(n) != fold(me)]

    def rooms(self) -> list[str]:
        """Rooms to complete: mine, then every room the server last listed.

        The completer calls ``fresh_rooms()`` first, so a room someone just
        made completes too.
        """
        mine = [r.name for r in self.client.state.rooms]
        return mine + [r for r in self.known_rooms.values() if r not in mine]

    async def fresh_rooms(self) -> None:
        """Ask the server for its rooms, unless that was just done."""
        fetch = self._rooms_fetch
        now = self.client.clock.now()
        recent = self._rooms_asked is not None and now - self._rooms_asked < ROOMS_EVERY
        if fetch is None or (fetch.done() and not recent):
            if self.client.status is not Status.LOGGED_IN:
                return
            self._rooms_asked = now
            fetch = self._rooms_fetch = self._background(self._fetch_rooms())
        await asyncio.shield(fetch)

    async def _fetch_rooms(self) -> None:
        try:
            reply = await self.client.rooms()
        except ClientError:
            return  # not connected: the next Tab asks again
        self.known_rooms = {fold(room): room for room, _ in reply.rooms}

    # -- the screen ----------------------------------------------------------------

    def _prompt(self) -> FormattedText:
        return FormattedText([("bold", f"{self.target or '*'}"), ("", " > ")])

    def toolbar(self) -> FormattedText:
        """State, nick, target, unread counts, lag: cheap, read at every redraw."""
        c = self.client
        parts: StyleAndTextTuples = []
        status = c.status
        if status is Status.LOGGED_IN:
            parts.append(("class:toolbar.good", " online "))
        elif status is Status.RECONNECTING:
            wait = c.reconnect_in() or 0.0
            parts.append(("class:toolbar.bad", f" reconnecting in {wait:.0f} s "))
        else:
            parts.append(("class:toolbar.bad", f" {status.value} "))
        name = c.me or (c.identity.name if c.identity is not None else "-")
        parts.append(("class:toolbar", f" {name} -> {self.target or '* (everyone)'} "))
        if self.unread:
            counts = ", ".join(f"{shown} {n}" for shown, n in self.unread.values())
            parts.append(("class:toolbar", f"| unread: {counts} "))
        if c.lag is not None:
            parts.append(("class:toolbar", f"| lag {c.lag * 1000:.0f} ms "))
        if c.wire:
            parts.append(("class:toolbar", "| raw "))
        return FormattedText(parts)

    def toolbar_text(self) -> str:
        return "".join(text for _, text, *_ in self.toolbar())

    def _refresh(self) -> None:
        if self._session is None:
            return
        app = self._session.app
        if app.is_running:
            app.invalidate()

    def _bindings(self) -> KeyBindings:
        bindings = KeyBindings()

        # Only in the input line: in a Ctrl-R search, Enter ends the search.
        @bindings.add("enter", filter=has_focus(DEFAULT_BUFFER))
        def _enter(event: KeyPressEvent) -> None:
            # The prompt stays up, as in WeeChat: the line is taken and the
            # input cleared, and what it did is printed above. (Ending the
            # prompt per line, with erase_when_done, leaves stray lines on
            # screen when a message is printed while the next is typed.)
            buffer = event.current_buffer
            line = buffer.text
            buffer.append_to_history()
            buffer.reset()
            self.submit(line)

        @bindings.add(Keys.BracketedPaste)
        def _paste(event: KeyPressEvent) -> None:
            data = event.data.replace("\r\n", "\n").replace("\r", "\n")
            event.current_buffer.insert_text(data)
            lines = len([x for x in data.split("\n") if x.strip()])
            if lines > 1:
                self.show(
                    self.painter.info(
                        f"pasted {lines} lines: Enter sends them as {lines} "
                        "messages, at the server's pace; Ctrl-C drops them"
                    )
                )

        return bindings

    # -- updates from the client ------------------------------------------------

    def _conversation(self, message: Message) -> str:
        return message.sender if message.address == "@" else message.address

    def on_update(self, update: Update) -> None:
        try:
            line = self._paint(update)
        except Exception:
            log.exception("painting %r failed", update)
            line = self.painter.error(f"could not show an update; see {self.log_path}")
        if line is not None:
            self.show(line)
        if isinstance(update, Stopped):
            if update.reason not in ("quit", "closed"):
                self.exit_code = 1
            self._leave()
        self._refresh()

    def _paint(self, update: Update) -> Line | None:
        p, me = self.painter, self.client.me
        if isinstance(update, Message):
            where = self._conversation(update)
            self.recent[fold(update.sender)] = update.sender
            if fold(where) != fold(self.target or "*"):
                shown, n = self.unread.get(fold(where), (where, 0))
                self.unread[fold(where)] = (shown, n + 1)
            return p.message(
                update.sender, update.address, update.text, update.time, me
            )
        if isinstance(update, Joined):
            return p.notice(f"joined {update.room}", update.user)
        if isinstance(update, Left):
            return p.notice(f"left {update.room}", update.user)
        if isinstance(update, Online):
            return p.notice("is online", update.user)
        if isinstance(update, Offline):
            return p.notice("went offline", update.user)
        if isinstance(update, Wire):
            return p.wire(update.direction, update.line, update.event)
        return self._paint_event(update)

    def _paint_event(self, update: Update) -> Line | None:
        p = self.painter
        if isinstance(update, Connected):
            self.was_connected = True
        elif not self.was_connected:
            return None
        if isinstance(update, Connecting) and update.attempt > 1:
            return p.notice(f"connecting to {update.server} (attempt {update.attempt})")
        if isinstance(update, Connected):
            g = update.greeting
            return p.notice(
                f"connected to {update.server} (batchat/{g.version}, "
                f"up to {g.burst} lines at once, then {g.rate:.10g}/s)"
            )
        if isinstance(update, ConnectFailed):
            return p.notice(f"cannot connect to {update.server}: {update.error}")
        if isinstance(update, LoggedIn):
            self._rooms_asked = None
            self._rooms_fetch = None
            self._background(self.fresh_rooms())
            how = "as guest" if update.guest else "as"
            again = " again" if update.again else ""
            return p.notice(f"logged in{again} {how} {update.name}")
        if isinstance(update, LoginFailed):
            why = explain(update.reply)
            if update.retry_in is None:
                return p.error(f"logging in again was refused: {why}")
            return p.error(
                f"logging in again: {why}; retrying in {update.retry_in:.0f} s"
            )
        if isinstance(update, RoomJoined):
            verb = "rejoined" if update.rejoined else "you joined"
            names = ", ".join(update.members)
            return p.notice(f"{verb} {update.room} ({len(update.members)}: {names})")
        if isinstance(update, RoomLeft):
            return p.notice(f"you left {update.room}")
        if isinstance(update, Disconnected):
            if not update.reconnecting and update.closing is None:
                return None  # Stopped says why
            return p.error(update.reason)
        if isinstance(update, Reconnecting):
            return p.notice(f"reconnecting to {update.server} in {update.delay:.1f} s")
        if isinstance(update, Stopped):
            return p.notice(f"disconnected ({update.reason})")
        return None  # Closing (Disconnected says why), LagChanged (toolbar)

    # -- the loop ---------------------------------------------------------------------

    def _leave(self) -> None:
        self.done = True
        if self._session is None:
            return
        app = self._session.app
        if app.is_running and not app.is_done:
            # Exiting, not cancelling, leaves the terminal as it was found.
            app.exit(exception=EOFError())

    def submit(self, line: str) -> asyncio.Task[None]:
        """Handle ``line`` in its own task; tasks start in the order submitted."""
        return self._background(self.handle(line))

    def _background(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def switch(self, target: str | None) -> None:
        super().switch(target)
        self.unread.pop(fold(target or "*"), None)
        self._refresh()

    async def run(self) -> int:
        """Read and handle lines until /quit, Ctrl-D or the client stops."""
        try:
            while not self.done:
                try:
                    # Our loop handler logs errors; prompt_toolkit's would
                    # print them over the screen and wait for Enter.
                    line = await self.session.prompt_async(set_exception_handler=False)
                except KeyboardInterrupt:
                    continue  # Ctrl-C clears the line; Ctrl-D or /quit leaves
                except EOFError:
                    break
                self.submit(line)
            if self._tasks:
                await asyncio.wait(set(self._tasks), timeout=DRAIN_GRACE)
            if self.client.status is not Status.STOPPED:
                await self.client.quit()
        finally:
            self._unsubscribe()
        return self.exit_code
