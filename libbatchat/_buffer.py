"""A bounded receive buffer that turns bytes into lines."""

from __future__ import annotations

import enum
from typing import Final, Literal

from ._errors import RemoteProtocolError


class Mark(enum.Enum):
    TOO_LONG = "TOO_LONG"


# next_line() returns this for a line that ended but exceeded max_line; the
# line's bytes are already gone, so the caller can only report it.
TOO_LONG: Final = Mark.TOO_LONG


class LineBuffer:
    """Bytes in, complete LF-terminated lines out, in bounded memory.

    ``max_line`` bounds a line including its terminator; a longer one is
    reported as ``TOO_LONG`` and dropped. ``max_unterminated`` bytes with no
    LF among them is fatal: whatever the peer is sending, it is not lines.
    Both limits are decided by the byte stream alone, so the way the bytes
    were split into ``feed`` calls never changes the outcome.
    """

    __slots__ = ("_data", "_scanned", "max_line", "max_unterminated")

    def __init__(self, max_line: int, max_unterminated: int) -> None:
        if not 0 < max_line <= max_unterminated:
            raise ValueError("need 0 < max_line <= max_unterminated")
        self.max_line = max_line
        self.max_unterminated = max_unterminated
        # None while empty, as it is between reads nearly always: an idle
        # connection then holds no bytearray (56 bytes, times thousands).
        self._data: bytearray | None = None
        # How many bytes at the front are known to hold no LF, so a line
        # arriving a byte at a time is searched once, not once per byte.
        self._scanned = 0

    def __len__(self) -> int:
        return 0 if self._data is None else len(self._data)

    def feed(self, data: bytes) -> None:
        if self._data is None:
            self._data = bytearray(data)
        else:
            self._data += data

    def clear(self) -> None:
        self._data = None
        self._scanned = 0

    def whole(self, data: bytes) -> bytes | None:
        """``data``'s line without its LF (or CRLF), when nothing is buffered
        and ``data`` is one whole line within ``max_line``, as ``feed(data)``
        then ``next_line()`` would give it, leaving the buffer empty; else
        None, and nothing is done."""
        end = len(data) - 1
        if (
            self._data is not None
            or not 0 <= end < self.max_line
            or data.find(b"\n") != end
        ):
            return None
        return data[: end - 1 if end and data[end - 1] == 13 else end]

    def next_line(self) -> bytes | Literal[Mark.TOO_LONG] | None:
        """The next line without its LF (or CRLF), TOO_LONG, or None for more."""
        data = self._data
        if data is None:
            return None
        end = data.find(b"\n", self._scanned, self.max_unterminated)
        if end < 0:
            if len(data) >= self.max_unterminated:
                raise RemoteProtocolError(
                    f"{self.max_unterminated} bytes without a line end",
                    fatal=True,
                    reason="line-too-long",
                )
            self._scanned = len(data)
            return None
        self._scanned = 0
        # One copy: the line without its CR, if it has one.
        line = (
            bytes(data[: end - 1 if end and data[end - 1] == 13 else end])
            if end < self.max_line
            else None
        )
        del data[: end + 1]
        if not data:
            self._data = None
        return TOO_LONG if line is None else line
