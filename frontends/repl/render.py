"""How the REPL shows things: one styled line per event, and where lines go.

Everything the REPL prints is a ``Line``: styled fragments, a kind (for
tests and for the unread counts), and whether it rings the bell. A ``Sink``
takes the lines: ``TerminalSink`` prints them above the prompt, tests pass
a ``ListSink`` and read what was shown.
"""

from __future__ import annotations

import asyncio
import collections
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from prompt_toolkit.application import Application, get_app_or_none
from prompt_toolkit.formatted_text import FormattedText, StyleAndTextTuples
from prompt_toolkit.renderer import print_formatted_text as render_print
from prompt_toolkit.shortcuts import print_formatted_text
from prompt_toolkit.styles import Style

from libbatchat.client import fold

# Readable on dark and light terminals alike; the hash of a folded name picks
# one, so a nick keeps its colour across sessions and machines.
NICK_COLOURS = (
    "ansired",
    "ansigreen",
    "ansiyellow",
    "ansiblue",
    "ansimagenta",
    "ansicyan",
    "ansibrightred",
    "ansibrightgreen",
    "ansibrightyellow",
    "ansibrightblue",
    "ansibrightmagenta",
    "ansibrightcyan",
)

STYLE = Style.from_dict(
    {
        "time": "ansibrightblack",
        "room": "bold ansicyan",
        "everyone": "bold ansiyellow",
        "dm": "bold ansimagenta",
        "me": "bold",
        "notice": "ansibrightblack",
        "info": "",
        "error": "ansired",
        "mention": "reverse",
        "wire-in": "ansigreen",
        "wire-out": "ansiyellow",
        "wire-event": "ansibrightblack italic",
        "help-verb": "bold",
        "toolbar": "reverse",
        "toolbar.bad": "reverse ansired",
        "toolbar.good": "reverse ansigreen",
    }
)


@dataclass(frozen=True, slots=True)
class Line:
    kind: str  # message, dm, broadcast, mine, notice, info, error, wire, help
    fragments: StyleAndTextTuples = field(default_factory=list)
    bell: bool = False

    @property
    def text(self) -> str:
        return "".join(text for _, text, *_ in self.fragments)


class Sink(Protocol):
    def show(self, line: Line) -> None: ...


class TerminalSink:
    """Prints above the running prompt, which is redrawn below the lines.

    Not through ``run_in_terminal`` (what ``print_formatted_text`` does
    while a prompt runs): that puts the terminal in cooked mode for the
    print, and keys typed in that instant are echoed by the terminal and
    stay on screen. Here the lines wait for the terminal's answer to the
    last cursor-position request, then the prompt is erased, the lines
    printed and the prompt redrawn in one step, in raw mode throughout.
    """

    def __init__(self) -> None:
        self._queue: collections.deque[Line] = collections.deque()
        self._drain: asyncio.Task[None] | None = None

    def show(self, line: Line) -> None:
        app = get_app_or_none()
        if app is None or not app.is_running:
            self._print_now(line)
            return
        self._queue.append(line)
        if self._drain is None or self._drain.done():
            self._drain = asyncio.ensure_future(self._print_above(app))

    def _print_now(self, line: Line) -> None:
        print_formatted_text(FormattedText(line.fragments), style=STYLE)
        if line.bell:
            print("\a", end="", flush=True)

    async def _print_above(self, app: Application[Any]) -> None:
        while self._queue:
            if app.output.responds_to_cpr:
                await app.renderer.wait_for_cpr_responses()
            if not app.is_running:
                while self._queue:
                    self._print_now(self._queue.popleft())
                return
            app.renderer.erase()
            while self._queue:
                line = self._queue.popleft()
                render_print(
                    app.output, FormattedText([*line.fragments, ("", "\n")]), STYLE
                )
                if line.bell:
                    app.output.bell()
            app.output.flush()
            app.renderer.request_absolute_cursor_position()
            app.invalidate()


class ListSink:
    """Keeps every line, for tests; ``wait()`` for one to be shown."""

    def __init__(self) -> None:
        self.lines: list[Line] = []
        self.bells = 0
        self._waiters: list[tuple[Callable[[Line], bool], asyncio.Future[Line]]] = []

    def show(self, line: Line) -> None:
        self.lines.append(line)
        self.bells += line.bell
        for waiter in list(self._waiters):
            test, future = waiter
            if not future.done() and test(line):
                future.set_result(line)
            if future.done():
                self._waiters.remove(waiter)

    async def wait(
        self, match: str | Callable[[Line], bool], *, since: int = 0
    ) -> Line:
        """The first line from index ``since`` on that ``match`` accepts.

        A string matches a line that contains it.
        """
        test = (lambda line: match in line.text) if isinstance(match, str) else match
        for line in self.lines[since:]:
            if test(line):
                return line
        future: asyncio.Future[Line] = asyncio.get_running_loop().create_future()
        self._waiters.append((test, future))
        return await future

    @property
    def texts(self) -> list[str]:
        return [line.text for line in self.lines]

    def of(self, kind: str) -> list[str]:
        return [line.text for line in self.lines if line.kind == kind]


def nick_style(name: str) -> str:
    return NICK_COLOURS[zlib.crc32(fold(name).encode("utf-8")) % len(NICK_COLOURS)]


def mentions(text: str, me: str | None) -> bool:
    """Whether ``text`` names ``me`` as a word (any case, with or without @)."""
    if not me:
        return False
    pattern = r"(?<![\w.-])@?" + re.escape(fold(me)) + r"(?![\w-])"
    return re.search(pattern, fold(text)) is not None


class Painter:
    """Builds the lines; ``wall`` is the local clock for lines without a time."""

    def __init__(self, wall: Callable[[], datetime] | None = None) -> None:
        self.wall = wall or (lambda: datetime.now().astimezone())

    def stamp(self, when: datetime | None = None) -> tuple[str, str]:
        when = (when or self.wall()).astimezone()
        return ("class:time", when.strftime("%H:%M:%S") + " ")

    def nick(self, name: str, *, me: bool = False) -> tuple[str, str]:
        return (nick_style(name) + (" bold" if me else ""), name)

    def message(
        self, sender: str, address: str, text: str, when: datetime, me: str | None
    ) -> Line:
        """A message someone sent me, to me, a room or everyone."""
        mentioned = mentions(text, me) and fold(sender) != fold(me or "")
        body: tuple[str, str] = ("class:mention" if mentioned else "", text)
        if address == "@":
            kind: str = "dm"
            head: StyleAndTextTuples = [("class:dm", "*"), self.nick(sender)]
            head.append(("class:dm", "* "))
        elif address == "*":
            kind = "broadcast"
            head = [("class:everyone", "[all] "), ("", "<"), self.nick(sender)]
            head.append(("", "> "))
        else:
            kind = "message"
            head = [("class:room", address + " "), ("", "<"), self.nick(sender)]
            head.append(("", "> "))
        return Line(kind, [self.stamp(when), *head, body], bell=mentioned)

    def mine(self, target: str, text: str, me: str) -> Line:
        """What I sent, once the server confirmed it (no echo comes back)."""
        if target.startswith("#"):
            head: StyleAndTextTuples = [("class:room", target + " "), ("", "<")]
            head += [self.nick(me, me=True), ("", "> ")]
        elif target == "*":
            head = [("class:everyone", "[all] "), ("", "<")]
            head += [self.nick(me, me=True), ("", "> ")]
        else:
            head = [("class:dm", "-> *"), self.nick(target), ("class:dm", "* ")]
        return Line("mine", [self.stamp(), *head, ("", text)])

    def notice(self, text: str, who: str | None = None) -> Line:
        """Presence, rooms, connection: dim, with the name in its colour."""
        parts: StyleAndTextTuples = [self.stamp(), ("class:notice", "-- ")]
        if who is not None:
            parts.append(self.nick(who))
            parts.append(("class:notice", " "))
        parts.append(("class:notice", text))
        return Line("notice", parts)

    def info(self, text: str) -> Line:
        return Line("info", [("class:info", text)])

    def error(self, text: str) -> Line:
        return Line("error", [self.stamp(), ("class:error", "!! " + text)])

    def wire(self, direction: str, line: str, event: object) -> Line:
        arrow = ">>" if direction == "out" else "<<"
        style = "class:wire-out" if direction == "out" else "class:wire-in"
        return Line(
            "wire",
            [
                ("class:time", self.wall().strftime("%H:%M:%S.%f")[:-3] + " "),
                (style, f"{arrow} {line}"),
                ("class:wire-event", f"   {event!r}"),
            ],
        )
