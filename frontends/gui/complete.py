"""Tab completion of nicks in the message entry, cycling on repeated Tab."""

from __future__ import annotations

from collections.abc import Iterable

from libbatchat.client import fold

__all__ = ["NickCompleter"]

# What a nick completed at the start of the line is followed by, as in IRC
# clients: "ana: hello".
ADDRESS_SUFFIX = ": "


class NickCompleter:
    """``complete(text, cursor, names)`` -> ``(text, cursor)`` after one Tab.

    A Tab right after a completion moves on to the next matching name;
    anything else typed in between starts over from the word at the cursor.
    """

    def __init__(self) -> None:
        self._last: tuple[str, int] | None = None
        self._matches: list[str] = []
        self._index = 0
        self._start = 0
        self._tail = ""

    def complete(self, text: str, cursor: int, names: Iterable[str]) -> tuple[str, int]:
        if self._last != (text, cursor) or not self._matches:
            head = text[:cursor]
            self._start = len(head) - len(head.split(" ")[-1])
            word = fold(head[self._start :].lstrip("@"))
            seen: dict[str, str] = {}
            for name in names:
                if fold(name).startswith(word):
                    seen.setdefault(fold(name), name)
            self._matches = sorted(seen.values(), key=fold)
            self._index = 0
            self._tail = text[cursor:]
            if not self._matches:
                self._last = None
                return text, cursor
        else:
            self._index = (self._index + 1) % len(self._matches)
        name = self._matches[self._index]
        prefix = text[: self._start]
        if text[self._start : self._start + 1] == "@":
            prefix += "@"
        suffix = ADDRESS_SUFFIX if not prefix.strip() else " "
        completed = prefix + name + suffix
        result = completed + self._tail.lstrip(" ")
        self._last = (result, len(completed))
        return self._last
