"""Tab completion from the live state: commands, nicks online, rooms."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Iterator

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

from libbatchat.client import fold

from .commands import COMMANDS, lookup, protocol_spellings

__all__ = ["ChatCompleter"]

# How long Tab waits for the server's room list before using the last one.
ROOMS_WAIT = 1.0


def _matching(prefix: str, words: Iterable[str]) -> list[str]:
    key = fold(prefix)
    seen: set[str] = set()
    found: list[str] = []
    for word in words:
        if fold(word).startswith(key) and fold(word) not in seen:
            seen.add(fold(word))
            found.append(word)
    return found


class ChatCompleter(Completer):
    """Completes the word before the cursor.

    ``nicks`` and ``rooms`` are read at every Tab, so what is offered is
    what the client knows at that moment.
    """

    def __init__(
        self,
        nicks: Callable[[], Iterable[str]],
        rooms: Callable[[], Iterable[str]],
        refresh_rooms: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.nicks = nicks
        self.rooms = rooms
        self.refresh_rooms = refresh_rooms

    async def get_completions_async(
        self, document: Document, complete_event: CompleteEvent
    ) -> AsyncGenerator[Completion, None]:
        """As ``get_completions``, after a fresh room list when a room is wanted."""
        if self.refresh_rooms is not None and self._wants_room(document):
            try:
                async with asyncio.timeout(ROOMS_WAIT):
                    await self.refresh_rooms()
            except (TimeoutError, OSError):
                pass  # complete from what is known
        for completion in self.get_completions(document, complete_event):
            yield completion

    def _wants_room(self, document: Document) -> bool:
        before = document.text_before_cursor
        word = before.split(" ")[-1]
        if word.startswith("#"):
            return True
        command = lookup(before.split(" ", 1)[0]) if before.startswith("/") else None
        return command is not None and command.completes == "room" and not word

    def get_completions(
        self, document: Document, complete_event: CompleteEvent
    ) -> Iterator[Completion]:
        before = document.text_before_cursor
        word = before.split(" ")[-1]
        first_word = " " not in before
        for text, meta in self._candidates(before, word, first_word):
            yield Completion(text, start_position=-len(word), display_meta=meta)

    def _candidates(
        self, before: str, word: str, first_word: bool
    ) -> Iterator[tuple[str, str]]:
        if first_word and word.startswith("/"):
            names = [f"/{n}" for c in COMMANDS for n in (c.name, *c.aliases)]
            for name in _matching(word, names):
                command = lookup(name)
                yield name + " ", command.help if command is not None else ""
            return
        if first_word and word[:1].isupper():
            spellings = protocol_spellings()
            for verb in _matching(word, spellings):
                if verb.startswith(word):  # capitals only: lower case is text
                    yield verb, f"protocol: {spellings[verb]}"
        if word.startswith("@") and first_word:
            for nick in _matching(word[1:], self.nicks()):
                yield f"@{nick} ", "direct message"
            return
        if word.startswith("#"):
            for room in _matching(word, self.rooms()):
                yield room, "room"
            return
        if first_word and not word:
            return
        command = lookup(before.split(" ", 1)[0]) if before.startswith("/") else None
        wants = command.completes if command is not None else "nick"
        if wants == "room" and not word:
            for room in self.rooms():
                yield room, "room"
            return
        for nick in _matching(word, self.nicks()):
            # A nick first in a line is addressed, WeeChat style: "ana: ".
            suffix = ": " if first_word else " "
            yield nick + suffix, "online"
