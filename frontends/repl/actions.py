"""What each kind of typed line does, and how its reply is shown.

Every failure becomes one line on the screen: a refusal from the server as
``explain()`` says it, a bad argument as a usage line, a lost connection
as "not connected; reconnecting in N s". A bug is logged with its
traceback to the log file, and the screen only names the file.
"""

from __future__ import annotations

import logging
from pathlib import Path

from libbatchat import (
    Chat,
    Join,
    LocalProtocolError,
    Login,
    Nick,
    Part,
    Ping,
    Register,
    Reply,
    Rooms,
    Who,
)
from libbatchat.client import Client, ClientError, explain, fold

from .commands import Command, Input, help_lines, parse_input
from .render import Line, Painter, Sink

__all__ = ["Actions"]

log = logging.getLogger("batchat.repl")


def _sentence(exc: Exception) -> str:
    """A LocalProtocolError's reason without the field it names."""
    return str(exc).split(": ", 1)[-1]


class Actions:
    """The handlers behind the REPL's lines; ``Repl`` adds the terminal."""

    def __init__(
        self, client: Client, sink: Sink, painter: Painter, log_path: Path | None
    ) -> None:
        self.client = client
        self.sink = sink
        self.painter = painter
        self.log_path = log_path
        self.target: str | None = None  # None: everyone
        self.recent: dict[str, str] = {}  # who spoke lately, for completion
        self.known_rooms: dict[str, str] = {}  # from /rooms, for completion
        self.done = False
        self.exit_code = 0

    def show(self, line: Line) -> None:
        self.sink.show(line)

    def error(self, text: str) -> None:
        self.show(self.painter.error(text))

    def info(self, text: str) -> None:
        self.show(self.painter.info(text))

    def switch(self, target: str | None) -> None:
        self.target = None if target in (None, "*") else target

    async def handle(self, line: str) -> None:
        """Carry out one typed line; never raises."""
        parsed = parse_input(line)
        try:
            await self._dispatch(parsed)
        except ClientError as exc:
            self.error(str(exc) + ("; not sent" if "not connected" in str(exc) else ""))
        except LocalProtocolError as exc:
            self.error(_sentence(exc))
        except ValueError as exc:
            self.error(str(exc))
        except Exception as exc:
            log.exception("handling a line failed")
            where = f"; details in {self.log_path}" if self.log_path else ""
            self.error(f"internal error ({type(exc).__name__}: {exc}){where}")

    async def _dispatch(self, parsed: Input) -> None:
        if parsed.kind == "empty":
            return
        if parsed.kind == "text":
            await self.say(self.target or "*", parsed.args)
        elif parsed.kind == "dm":
            await self.say(parsed.target, parsed.args)
        elif parsed.kind == "protocol":
            self.shown_reply(await self.client.send_line(parsed.line))
        elif parsed.kind == "unknown":
            self.error(
                f"unknown command /{parsed.args}; /help lists them "
                "(start a line with // to send one that begins with /)"
            )
        else:
            assert parsed.command is not None
            await self.command(parsed.command, parsed.args)

    async def say(self, target: str, text: str) -> None:
        reply = await self.client.say(target, text)
        if reply.ok:
            me = self.client.me or "me"
            for line in text.splitlines():
                if line.strip():
                    self.show(self.painter.mine(target, line, me))
        else:
            self.error(explain(reply))

    def shown_reply(self, reply: Reply | None) -> None:
        """Show the reply to a protocol line typed as it is."""
        if reply is None:
            self.info("sent (it gets no reply)")
            return
        if not reply.ok:
            self.error(explain(reply))
            return
        command = reply.command
        if isinstance(command, Chat):
            self.show(
                self.painter.mine(command.target, command.text, self.client.me or "")
            )
        elif isinstance(command, Who):
            self.show_names(command.room, reply.names)
        elif isinstance(command, Rooms):
            self.show_rooms(reply.rooms)
        elif isinstance(command, Register):
            self.info(f"account {command.user} created; log in with ENTRAR")
        elif isinstance(command, Ping):
            self.info(f"{reply.tag}-{reply.code} {reply.text}".rstrip())
        elif not isinstance(command, Join | Part | Login | Nick):
            # Joins, parts and logins show as the notices they cause.
            self.info(f"{reply.tag}-{reply.code} {reply.text}".rstrip())

    def show_names(self, room: str | None, names: tuple[str, ...]) -> None:
        where = room or "online"
        if not names:
            self.info(f"{where}: nobody" if room else "nobody is online")
            return
        self.info(f"{where} ({len(names)}): {', '.join(names)}")

    def show_rooms(self, rooms: tuple[tuple[str, int], ...]) -> None:
        for room, _ in rooms:
            self.known_rooms[fold(room)] = room
        if not rooms:
            self.info("no rooms yet; /join #name creates one")
            return
        listed = ", ".join(f"{room} {n}" for room, n in rooms)
        self.info(f"rooms ({len(rooms)}): {listed}")

    # -- the REPL's verbs -------------------------------------------------------

    async def command(self, command: Command, args: str) -> None:
        handler = getattr(self, "do_" + command.name)
        await handler(command, args)

    def usage(self, command: Command) -> None:
        self.error(f"usage: {command.usage}")

    async def do_msg(self, command: Command, args: str) -> None:
        target, _, text = args.partition(" ")
        if not target or not text.strip():
            self.usage(command)
            return
        await self.say(target, text)

    async def do_say(self, command: Command, args: str) -> None:
        if not args:
            self.usage(command)
            return
        await self.say(self.target or "*", args)

    async def do_room(self, command: Command, args: str) -> None:
        if not args:
            self.info(f"talking to {self.target or '* (everyone)'}")
            return
        target = Chat(target=args.split(maxsplit=1)[0], text="x").target  # validates
        self.switch(target)
        if target.startswith("#") and self.client.state.room(target) is None:
            self.info(f"talking to {target}, but you are not in it: /join {target}")
        else:
            self.info(f"talking to {self.target or '* (everyone)'}")

    async def do_who(self, command: Command, args: str) -> None:
        room = _room(args) if args else None
        reply = await self.client.who(room)
        self.shown_reply(reply)

    async def do_join(self, command: Command, args: str) -> None:
        if not args:
            self.usage(command)
            return
        room = Join(room=_room(args)).room
        before = self.target
        # Switch now, so lines typed after /join go to the room (the send
        # queue puts them after the JUNTAR).
        self.switch(room)
        reply = await self.client.join(room)
        if not reply.ok:
            self.switch(before)
            self.error(explain(reply))
        else:
            self.target = reply.text

    async def do_part(self, command: Command, args: str) -> None:
        room = _room(args) if args else self.target
        if room is None or not room.startswith("#"):
            self.usage(command)
            return
        reply = await self.client.part(Part(room=room).room)
        if not reply.ok:
            self.error(explain(reply))
        elif self.target is not None and fold(self.target) == fold(room):
            rooms = self.client.state.rooms
            self.switch(rooms[0].name if rooms else None)
            self.info(f"talking to {self.target or '* (everyone)'}")

    async def do_rooms(self, command: Command, args: str) -> None:
        self.shown_reply(await self.client.rooms())

    async def do_ping(self, command: Command, args: str) -> None:
        lag = await self.client.ping()
        self.info(f"lag: {lag * 1000:.1f} ms")

    async def do_raw(self, command: Command, args: str) -> None:
        self.client.wire = not self.client.wire
        if self.client.wire:
            self.info(
                "wire view on: >> sent, << received (passwords masked); /raw ends it"
            )
        else:
            self.info("wire view off")

    async def do_quote(self, command: Command, args: str) -> None:
        if not args:
            self.usage(command)
            return
        self.shown_reply(await self.client.send_line(args))

    async def do_help(self, command: Command, args: str) -> None:
        rows = help_lines(args)
        if not rows:
            self.error(f"no command {args}; /help lists them")
            return
        if not args:
            self.info("Commands (plain text goes to the current target):")
        width = max(len(usage) for usage, _ in rows)
        for usage, text in rows:
            self.show(
                Line(
                    "help",
                    [("class:help-verb", usage.ljust(width)), ("", "  " + text)],
                )
            )
        if not args:
            self.info(
                "Protocol lines are sent as typed when the verb is in capitals "
                "(CHAT ana oi, LISTA). Tab completes; Ctrl-R searches history."
            )

    async def do_quit(self, command: Command, args: str) -> None:
        await self.client.quit()


def _room(text: str) -> str:
    """A room argument; ``geral`` is taken as ``#geral``."""
    word = text.split(maxsplit=1)[0]
    return word if word.startswith("#") else "#" + word
