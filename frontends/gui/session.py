"""A logged-in session: the chat window wired to the client through the bridge.

Updates from the client become lines in conversations and refreshed lists;
what the person types and clicks becomes client calls on the network
thread, whose replies come back here on the Tk thread.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any, TypeVar

from libbatchat import LocalProtocolError
from libbatchat.client import (
    Client,
    ClientError,
    Closing,
    ConnectFailed,
    Connecting,
    Disconnected,
    Joined,
    LagChanged,
    Left,
    LoggedIn,
    LoginFailed,
    Message,
    Offline,
    Online,
    Reconnecting,
    Reply,
    RoomJoined,
    RoomLeft,
    Snapshot,
    Stopped,
    Update,
    describe_closing,
    explain,
    fold,
)

from .bridge import Bridge
from .chat import ChatScreen
from .complete import NickCompleter
from .conversation import EVERYONE, Conversation

__all__ = ["ChatSession"]

T = TypeVar("T")

HELP = (
    "Enter sends to this tab; Tab completes nicks; Ctrl-W leaves the room or "
    "closes the tab. Commands: /join #room, /leave, /msg nick text, /who [#room], "
    "/rooms, /raw LINE (a protocol line, e.g. /raw PING hi), /quit."
)


class ChatSession:
    def __init__(
        self,
        screen: ChatScreen,
        bridge: Bridge,
        client: Client,
        on_quit: Callable[[], None],
    ) -> None:
        self.screen = screen
        self.bridge = bridge
        self.client = client
        self.on_quit = on_quit
        self.me = bridge.call(lambda: client.me) or ""
        self.snapshot: Snapshot | None = None
        self.completer = NickCompleter()
        self.reconnect_at: float | None = None
        self._snapshot_pending = False
        self._snapshot_again = False
        self._generation = 0  # one per connection; older snapshots are stale
        screen.on_send = self.send
        screen.on_join = self.join
        screen.on_refresh = self.refresh_rooms
        screen.on_leave = self.leave
        screen.on_direct = self.direct
        screen.on_switch = lambda _c: self._show_members()
        screen.on_complete = self.complete
        screen.winfo_toplevel().bind("<Control-w>", lambda _e: self.leave())
        screen.nick_text.set(self.me)
        screen.state_text.set("logged in")
        screen.open(EVERYONE).notice(
            f"logged in as {self.me}; /help lists the commands and keys"
        )
        # Rooms joined while logging in (--join) came before this window did.
        snapshot = bridge.call(client.snapshot)
        for room, members in snapshot.rooms:
            screen.open(room, select=True).notice(
                f"you joined {room}; here: {', '.join(members)}"
            )
        lag = bridge.call(lambda: client.lag)
        if lag is not None:
            screen.lag_text.set(f"lag {lag * 1000:.0f} ms")
        self.refresh_rooms()
        self.refresh_state()

    # -- talking to the client -------------------------------------------------

    def _run(
        self,
        coro: Coroutine[Any, Any, T],
        on_done: Callable[[T], object] | None = None,
        where: Conversation | None = None,
    ) -> None:
        """Run ``coro``; a failure becomes an error line in ``where``."""
        target = where or self.screen.current()
        target_name = target.target

        def failed(exc: BaseException) -> None:
            shown = self.screen.find(target_name) or self.screen.open(EVERYONE)
            if isinstance(exc, ClientError | LocalProtocolError | ValueError):
                shown.notice(str(exc), error=True)
            else:
                shown.notice(f"failed: {exc}", error=True)

        self.bridge.run(coro, on_done, failed)

    def refresh_rooms(self) -> None:
        def shown(reply: Reply) -> None:
            self.screen.show_rooms(reply.rooms)

        self._run(self.client.rooms(), shown)

    def refresh_state(self) -> None:
        """Read the client's state (who is online, members); coalesced."""
        if self._snapshot_pending:
            self._snapshot_again = True
            return
        self._snapshot_pending = True
        client = self.client
        generation = self._generation

        async def take() -> Snapshot:
            return client.snapshot()

        def got(snapshot: Snapshot) -> None:
            self._snapshot_pending = False
            if generation != self._generation:
                # Taken before the connection dropped: stale. Ask again.
                self._snapshot_again = False
                self.refresh_state()
                return
            self.snapshot = snapshot
            self.screen.show_people(snapshot.online)
            # My rooms' counts are known exactly; others wait for Refresh.
            for room, members in snapshot.rooms:
                self.screen.set_room_count(room, len(members))
            self._show_members()
            if self._snapshot_again:
                self._snapshot_again = False
                self.refresh_state()

        def lost(_exc: BaseException) -> None:
            self._snapshot_pending = False

        self.bridge.run(take(), got, lost)

    def members(self, target: str) -> tuple[str, ...]:
        if self.snapshot is None:
            return ()
        if target == EVERYONE:
            return self.snapshot.online
        if not target.startswith("#"):
            return tuple(sorted({self.me, target}, key=fold))
        for room, members in self.snapshot.rooms:
            if fold(room) == fold(target):
                return members
        return ()

    def _show_members(self) -> None:
        self.screen.show_members(self.members(self.screen.current().target))

    # -- what the person does ---------------------------------------------------

    def send(self, text: str) -> None:
        self.screen.entry_text.set("")
        conversation = self.screen.current()
        if text.startswith("/") and not text.startswith("//"):
            self.command(text[1:], conversation)
            return
        if text.startswith("//"):
            text = text[1:]
        self.say(conversation, text)

    def say(self, conversation: Conversation, text: str) -> None:
        target = conversation.target

        def answered(reply: Reply) -> None:
            if reply.ok:
                conversation.message(datetime.now().astimezone(), self.me, text, True)
            else:
                conversation.notice(f'{explain(reply)} ("{text}")', error=True)

        self._run(self.client.say(target, text), answered, conversation)

    def command(self, line: str, conversation: Conversation) -> None:
        verb, _, rest = line.partition(" ")
        verb, rest = verb.lower(), rest.strip()
        if verb == "join" and rest:
            self.join(rest)
        elif verb in ("leave", "part") and not rest:
            self.leave()
        elif verb in ("leave", "part"):
            self.part(rest)
        elif verb == "msg" and len(rest.split(" ", 1)) == 2:
            target, text = rest.split(" ", 1)
            where = (
                self.screen.find(target)
                if target.startswith("#") or target == EVERYONE
                else self.direct(target)
            )
            if where is None:
                why = "that is you" if fold(target) == fold(self.me) else ""
                why = why or f"you are not in {target}; /join it first"
                conversation.notice(f"/msg {target}: {why}", error=True)
            else:
                self.say(where, text)
        elif verb == "who":
            self._run(
                self.client.who(rest or None),
                lambda r: conversation.notice(
                    f"online{' in ' + rest if rest else ''}: {', '.join(r.names)}"
                    if r.ok
                    else explain(r),
                    error=not r.ok,
                ),
            )
        elif verb == "rooms":
            self.refresh_rooms()
        elif verb == "raw" and rest:
            self._run(
                self.client.send_line(rest),
                lambda r: conversation.notice(
                    f"{r.code} {r.text}" if r is not None else "sent"
                ),
            )
        elif verb == "quit":
            self.on_quit()
        elif verb == "help":
            conversation.notice(HELP)
        else:
            conversation.notice(
                f"/{line}: not a command I know (or missing its argument). {HELP}",
                error=True,
            )

    def join(self, room: str) -> None:
        def answered(reply: Reply) -> None:
            if not reply.ok:
                self.screen.current().notice(explain(reply), error=True)
            self.refresh_rooms()

        self._run(self.client.join(room), answered)

    def part(self, room: str) -> None:
        def answered(reply: Reply) -> None:
            if not reply.ok:
                self.screen.current().notice(explain(reply), error=True)

        self._run(self.client.part(room), answered)

    def leave(self) -> None:
        conversation = self.screen.current()
        if conversation.is_room:
            self.part(conversation.target)
        elif conversation.is_direct:
            self.screen.close(conversation.target)

    def direct(self, nick: str) -> Conversation | None:
        """Open (and show) the direct conversation with ``nick``."""
        if fold(nick) == fold(self.me) or nick.startswith("#") or nick == EVERYONE:
            return None
        return self.screen.open(nick, select=True)

    def complete(self) -> None:
        entry = self.screen.entry
        target = self.screen.current().target
        names = (*self.members(target), *self.members(EVERYONE))
        names = tuple(n for n in names if fold(n) != fold(self.me))
        text, cursor = self.completer.complete(
            self.screen.entry_text.get(), entry.index("insert"), names
        )
        self.screen.entry_text.set(text)
        entry.icursor(cursor)

    # -- what the client reports -------------------------------------------------

    def update(self, update: Update) -> None:
        screen = self.screen
        everyone = screen.open(EVERYONE)
        if isinstance(update, Message):
            where = update.address
            target = update.sender if where == "@" else where
            conversation = screen.open(target)
            conversation.message(update.time, update.sender, update.text)
            screen.arrived(conversation)
        elif isinstance(update, Joined | Left):
            found = screen.find(update.room)
            if found is not None:
                verb = "joined" if isinstance(update, Joined) else "left"
                found.notice(f"{update.user} {verb} {update.room}")
        elif isinstance(update, Online | Offline):
            word = "is online" if isinstance(update, Online) else "went offline"
            everyone.notice(f"{update.user} {word}")
            direct = screen.find(update.user)
            if direct is not None:
                direct.notice(f"{update.user} {word}")
        elif isinstance(update, Closing):
            everyone.notice(describe_closing(update.reason, update.text), error=True)
        elif isinstance(update, RoomJoined):
            conversation = screen.open(update.room, select=not update.rejoined)
            word = "rejoined" if update.rejoined else "you joined"
            conversation.notice(
                f"{word} {update.room}; here: {', '.join(update.members)}"
            )
            self.refresh_rooms()
        elif isinstance(update, RoomLeft):
            screen.close(update.room)
            everyone.notice(f"you left {update.room}")
            self.refresh_rooms()
        else:
            self._status(update)
        self.refresh_state()

    def _status(self, update: Update) -> None:
        screen = self.screen
        everyone = screen.open(EVERYONE)
        if isinstance(update, LagChanged):
            screen.lag_text.set(f"lag {update.lag * 1000:.0f} ms")
        elif isinstance(update, Connecting):
            self.reconnect_at = None
            screen.state_text.set(f"connecting to {update.server}")
        elif isinstance(update, ConnectFailed):
            everyone.notice(f"cannot connect to {update.server}: {update.error}", True)
        elif isinstance(update, LoggedIn):
            self.me = update.name
            screen.nick_text.set(update.name)
            screen.state_text.set("logged in")
            if update.again:
                everyone.notice(f"connected again, logged in as {update.name}")
                self.refresh_rooms()
        elif isinstance(update, LoginFailed):
            wait = update.retry_in
            more = f"; trying again in {wait:.0f} s" if wait is not None else ""
            everyone.notice(f"logging in again: {explain(update.reply)}{more}", True)
        elif isinstance(update, Disconnected):
            screen.state_text.set("disconnected")
            screen.lag_text.set("")
            # Nobody is known to be online until the server says so again.
            self._generation += 1
            self.snapshot = None
            screen.show_people(())
            screen.show_members(())
            for conversation in screen.conversations.values():
                conversation.notice(f"disconnected: {update.reason}", error=True)
        elif isinstance(update, Reconnecting):
            self.reconnect_at = time.monotonic() + update.delay
            self.countdown()
        elif isinstance(update, Stopped):
            self.reconnect_at = None
            screen.state_text.set(f"stopped ({update.reason})")
            screen.send_button.configure(state="disabled")

    def countdown(self) -> None:
        """Keep "reconnecting in N s" current while waiting to reconnect."""
        if self.reconnect_at is None or not self.screen.winfo_exists():
            return
        left = max(0.0, self.reconnect_at - time.monotonic())
        self.screen.state_text.set(f"reconnecting in {math.ceil(left)} s")
        if left > 0:
            self.screen.after(250, self.countdown)
