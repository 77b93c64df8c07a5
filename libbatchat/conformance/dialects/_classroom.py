"""What the four classroom dialect drivers share: no framing, no PING.

Their servers take each read as one message and write theirs with no
terminator, so two messages may arrive as one read. ``split`` takes
everything read so far as whole messages (holding only a character cut in
two) and cuts it again where a message of the dialect starts: at its fixed
prefixes, and before ``name: `` for names the suite makes (this run's, and
another run's sharing the server: ``SUITE_NAME``).

Replies are recognized by what is pending: a driver is per connection
(``session``) and remembers the actions it encoded that await an answer.
Written from the research page alone, not on libbatchat's codecs, so a bug
shared by the server and the suite cannot hide itself.
"""

from __future__ import annotations

import copy
import re
from collections import deque
from typing import ClassVar

from libbatchat.conformance._model import (
    SUITE_NAME,
    Action,
    Event,
    Guest,
    Login,
    Malformed,
    Outcome,
    Reply,
    Unsupported,
)

from . import Dialect


def _incomplete(data: bytearray) -> int:
    """How many trailing bytes start a UTF-8 character not yet complete."""
    for back in range(1, min(3, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 == 0x80:
            continue
        need = 2 if byte >= 0xC0 else 1
        need = 3 if byte >= 0xE0 else need
        need = 4 if byte >= 0xF0 else need
        return back if need > back else 0
    return 0


class Classroom(Dialect):
    """Base of the classroom drivers; subclasses set ``starts`` and spell
    actions in ``spell`` and server messages in ``read``."""

    # Where a message starts, as a regular expression (no groups).
    starts: ClassVar[str] = ""
    # Whether an LF also ends a message (Chat Socket's lines, say).
    lf_ends: ClassVar[bool] = True

    def __init__(self, prefix: str = "", family: str = "") -> None:
        self.prefix = prefix
        self.me = ""
        self.pending: deque[Action] = deque()
        starts = [self.starts] if self.starts else []
        if family or prefix:
            starts.append(re.escape(family or prefix) + r"[\w.-]*: ")
        starts.append(SUITE_NAME + ": ")
        self._cut = re.compile("|".join(f"(?:{s})" for s in starts))

    def session(self, prefix: str, family: str = "") -> Dialect:
        fresh = copy.copy(self)
        type(self).__init__(fresh, prefix, family)
        return fresh

    # -- framing -----------------------------------------------------------------

    def split(self, buffer: bytearray) -> list[bytes]:
        keep = _incomplete(buffer)
        data = bytes(buffer[: len(buffer) - keep])
        del buffer[: len(buffer) - keep]
        pieces = data.split(b"\n") if self.lf_ends else [data]
        out: list[bytes] = []
        for piece in pieces:
            text = piece.decode("utf-8", "surrogateescape")
            cuts = [0]
            cuts += [m.start() for m in self._cut.finditer(text) if m.start()]
            for begin, end in zip(cuts, [*cuts[1:], len(text)], strict=True):
                part = text[begin:end].encode("utf-8", "surrogateescape")
                if part.strip():
                    out.append(part)
        return out

    # -- actions and messages ---------------------------------------------------

    def encode(self, action: Action) -> bytes:
        data = self.spell(action)
        if self.has_reply(action):
            self.pending.append(action)
        return data

    def spell(self, action: Action) -> bytes:
        raise Unsupported(repr(action))

    def decode(self, line: bytes) -> Event:
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            return Malformed(repr(line), "not valid UTF-8")
        head = self.pending[0] if self.pending else None
        event = self.read(text.strip("\r"), head)
        if isinstance(event, Reply) and self.pending:
            self.pending.popleft()
            if event.outcome in (Outcome.NICK_OK, Outcome.LOGGED_IN):
                self.me = event.text
        return event

    def read(self, text: str, head: Action | None) -> Event:
        raise NotImplementedError

    def skip(self) -> None:
        self.pending.popleft()

    # -- helpers ------------------------------------------------------------------

    def reply(
        self, outcome: Outcome | None, text: str, *, users: tuple[str, ...] = ()
    ) -> Reply:
        """A reply; its ``code`` is the message itself, for the report."""
        return Reply(outcome=outcome, text=text, code=text[:60], users=users)

    def welcome(self, head: Action | None, text: str) -> Reply:
        """The reply to a login, naming who logged in (the dialect's own
        answer may not: the suite checks the name it asked for)."""
        name = ""
        if isinstance(head, Guest):
            name = head.nick
        elif isinstance(head, Login):
            name = head.user
        outcome = Outcome.NICK_OK if isinstance(head, Guest) else Outcome.LOGGED_IN
        return Reply(outcome=outcome, text=name, code=text[:60])

    @staticmethod
    def names(text: str) -> tuple[str, ...]:
        """``ana, bruno`` as names."""
        return tuple(n.strip() for n in text.split(",") if n.strip())
