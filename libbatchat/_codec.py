"""The shared base of the classroom dialect codecs (docs/dialects.md).

A codec stands where a server-role ``Connection`` stands for the canonical
protocol: the server core calls ``receive_data``, ``next_event``,
``buffered`` and ``send`` on it exactly as it does on a ``Connection``, so
the core runs every dialect's sessions with the one registry, rooms,
presence, accounts and limits. A codec turns its wire format into the core's
commands and the core's replies and pushes back into that wire format.

Framing (docs/dialects.md section 1): the classroom protocols have none; their
servers took each ``recv()`` as one message. So ``receive_data`` must be
called with exactly one read's bytes, and a codec treats the end of every
call as the end of a message, as well as every LF inside it (a CR before the
LF is dropped). The one exception: a read that ends inside a UTF-8 character
is held until the rest of the character arrives, since no message can end
there. Blank messages are ignored, as blank lines are in the canonical
protocol.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, ClassVar, Final, Literal, NamedTuple

from ._connection import NEED_DATA, Connection, Sentinel
from ._errors import LocalProtocolError, RemoteProtocolError
from ._events import (
    Closing,
    Command,
    ConnectionClosed,
    Event,
    Greeting,
    Joined,
    Left,
    Message,
    Offline,
    Online,
    Push,
    Reply,
    ServerPing,
)
from ._grammar import serialize

if TYPE_CHECKING:
    from ._session import Session


class Ctx(NamedTuple):
    """What a codec must remember to spell the reply to one message."""

    kind: str
    arg: str = ""


class _TooLong:
    __slots__ = ()


_TOO_LONG: Final = _TooLong()

# Reply codes of the line itself (protocol.md 6.2) and how each codec's
# ``Ctx`` names them, so every dialect renders them through ``render_reply``.
LINE_TOO_LONG = Ctx("too-long")
BAD_ENCODING = Ctx("bad-encoding")


def incomplete_tail(data: bytes | bytearray) -> bool:
    """Whether ``data`` ends in the first bytes of an unfinished UTF-8 character."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 == 0x80:
            continue  # a continuation byte: look further back for the lead
        if byte & 0xE0 == 0xC0:
            need = 2
        elif byte & 0xF0 == 0xE0:
            need = 3
        elif byte & 0xF8 == 0xF0:
            need = 4
        else:
            need = 1
        return need > back
    return False


# Seconds a codec that is ``waiting`` waits: far longer than a program takes
# between two sends, far shorter than the login timeout.
PATIENCE = 2.0


class Codec:
    """One session of one dialect, for the server role only.

    Subclasses set ``name``, parse a message in ``message`` (calling
    ``command`` or ``error`` once or more) and spell the core's output in
    ``render_reply``, ``render`` and the greeting/closing hooks.
    """

    name: ClassVar[str]
    # Whether the dialect can carry the core's PING/PONG; none of the four
    # classroom protocols can, so the core must not ping or idle-close them.
    keepalive: ClassVar[bool] = False
    # Whether each output message must go out in a write of its own (the
    # originals' clients took each read as one message).
    segmented: ClassVar[bool] = True
    # Verbs that need a login in protocol 2 but not in this dialect.
    open_verbs: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, *, max_line: int = 4096, max_unterminated: int = 8192) -> None:
        self.max_line = max_line
        self.max_unterminated = max_unterminated
        self._held = bytearray()  # a read that ended inside a character
        # Each message, and whether an LF ended it (else a read boundary did).
        self._messages: deque[tuple[bytes | _TooLong, bool]] = deque()
        self._queued = 0  # bytes in _messages
        self._events: deque[tuple[Command | Reply, Ctx]] = deque()
        self._fifo: deque[Ctx] = deque()
        self._eof = False
        self._ended = False  # ConnectionClosed was returned
        self.done = False  # nothing more is read (quit, or the codec hangs up)
        # Set by ``send``: the server must end the session after that write.
        self.hangup = False
        # Set while the codec waits for a message that a program sends right
        # after the last one (Chat Socket's name after its room): if it has
        # not come within ``PATIENCE`` seconds, the two were read as one.
        self.waiting = False
        # Whether an LF ended the message being parsed.
        self.terminated = False

    @property
    def buffered(self) -> int:
        return len(self._held) + self._queued

    # -- receiving -------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """One read's bytes (``b""`` at EOF): its end ends a message."""
        if self._eof and data:
            raise LocalProtocolError("data received after EOF")
        if not data:
            self._eof = True
            self._held.clear()
            return
        if self.done:
            return
        buf = self._held + data
        self._held = bytearray()
        start = 0
        while True:
            end = buf.find(b"\n", start)
            if end < 0:
                break
            self._add(bytes(buf[start:end]), True)
            start = end + 1
        rest = bytes(buf[start:])
        if rest and incomplete_tail(rest):
            self._held = bytearray(rest)
        elif rest:
            self._add(rest, False)

    def _add(self, raw: bytes, terminated: bool) -> None:
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if len(raw) + 1 > self.max_line:
            self._messages.append((_TOO_LONG, terminated))
        else:
            self._messages.append((raw, terminated))
            self._queued += len(raw)

    def next_event(self) -> Event | Literal[Sentinel.NEED_DATA]:
        while not self._events:
            if self.done:
                self._messages.clear()
                self._queued = 0
            if not self._messages:
                if len(self._held) >= self.max_unterminated:
                    raise RemoteProtocolError(
                        f"{len(self._held)} bytes of a broken character",
                        fatal=True,
                        reason="line-too-long",
                    )
                if self._eof and not self._ended:
                    self._ended = True
                    return ConnectionClosed()
                return NEED_DATA
            raw, self.terminated = self._messages.popleft()
            if isinstance(raw, _TooLong):
                self.error(707, LINE_TOO_LONG)
                continue
            self._queued -= len(raw)
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                self.error(708, BAD_ENCODING)
                continue
            text = text.strip()
            if text:
                self.message(text)
        item, ctx = self._events.popleft()
        self._fifo.append(ctx)
        if isinstance(item, Reply):
            raise RemoteProtocolError(f"{self.name}: {ctx.kind}", reply_hint=item)
        return item

    # -- what subclasses call while parsing ------------------------------------

    def command(self, build: Callable[[], Command], ctx: Ctx, bad: Ctx) -> bool:
        """Queue the command ``build`` makes, or ``bad`` (ERRO-702) if its
        arguments are invalid; True if the command was queued."""
        try:
            cmd = build()
        except LocalProtocolError:
            self.error(702, bad)
            return False
        self._events.append((cmd, ctx))
        return True

    def error(self, code: int, ctx: Ctx) -> None:
        """Queue an error reply for the message itself (it has no command)."""
        self._events.append((Reply(code=code), ctx))

    # -- sending ---------------------------------------------------------------

    def send(self, event: Event) -> bytes:
        """The bytes for an event the core addresses to this session alone."""
        if isinstance(event, Reply):
            return self.render_reply(event, self._fifo.popleft()).encode()
        if isinstance(event, Greeting):
            return self.render_greeting().encode()
        if isinstance(event, Closing):
            self.done = True
            return self.render_closing(event).encode()
        if isinstance(event, ServerPing):
            return b""
        assert isinstance(event, Push)
        return self.render(event)

    def give_up(self) -> bytes:
        """What to write before hanging up when ``waiting`` ran out."""
        self.hangup = self.done = True
        return self.render_give_up().encode()

    def hang_up(self, data: str) -> str:
        """``data`` as the last thing written before the session ends."""
        self.hangup = self.done = True
        return data

    # -- the dialect -------------------------------------------------------------

    def message(self, text: str) -> None:
        """Parse one message (decoded, stripped, not empty)."""
        raise NotImplementedError

    def render_reply(self, reply: Reply, ctx: Ctx) -> str:
        raise NotImplementedError

    def render_greeting(self) -> str:
        return ""

    def render_give_up(self) -> str:
        return ""

    def render_closing(self, closing: Closing) -> str:
        return ""

    def render(self, push: Push) -> bytes:
        """A push's bytes: the same for every session of this dialect, so the
        core spells a broadcast once per dialect, not once per recipient."""
        if isinstance(push, Message):
            return self.message_line(push).encode()
        if isinstance(push, Joined):
            return self.joined_line(push.room, push.user).encode()
        if isinstance(push, Left):
            return self.left_line(push.room, push.user).encode()
        if isinstance(push, Online):
            return self.online_line(push.user).encode()
        if isinstance(push, Offline):
            return self.offline_line(push.user).encode()
        return b""

    def message_line(self, msg: Message) -> str:
        raise NotImplementedError

    def joined_line(self, room: str, user: str) -> str:
        return ""

    def left_line(self, room: str, user: str) -> str:
        return ""

    def online_line(self, user: str) -> str:
        return ""

    def offline_line(self, user: str) -> str:
        return ""


def deliver(
    sends: list[tuple[Session, bytes]], push: Push, recipients: Iterable[Session]
) -> None:
    """Queue ``push`` for ``recipients``, spelled once per wire format: the
    canonical line is shared by every canonical session, and each dialect's
    spelling by every session of that dialect."""
    line = serialize(push)
    spelled: dict[type[Codec], bytes] = {}
    for recipient in recipients:
        conn = recipient.connection
        if type(conn) is Connection:
            sends.append((recipient, line))
            continue
        assert isinstance(conn, Codec)
        kind = type(conn)
        data = spelled.get(kind)
        if data is None:
            data = spelled[kind] = conn.render(push)
        if data:
            sends.append((recipient, data))


__all__ = ["BAD_ENCODING", "LINE_TOO_LONG", "NEED_DATA", "Codec", "Ctx", "deliver"]
