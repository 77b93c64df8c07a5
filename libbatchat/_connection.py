"""One side of one connection: bytes in, events out; events in, bytes out.

Both roles keep a FIFO of the commands still owed a reply (a reply always
answers the oldest) and move through ``_state.TRANSITIONS`` on every event
they send or receive, so client and server agree on the state at all times.
"""

from __future__ import annotations

import enum
from typing import Final, Literal

from . import _grammar, _state
from ._buffer import TOO_LONG, LineBuffer, Mark
from ._errors import LocalProtocolError, RemoteProtocolError
from ._events import (
    Closing,
    Command,
    ConnectionClosed,
    Event,
    Greeting,
    Push,
    Reply,
)
from ._fifo import Fifo
from ._state import State
from ._table import LINE_CODES, VERBS

# A client caps what it buffers of one server line; the spec sets no limit.
CLIENT_MAX_LINE = 1 << 20


class Role(enum.Enum):
    CLIENT = "client"
    SERVER = "server"


class Sentinel(enum.Enum):
    NEED_DATA = "NEED_DATA"
    NOTHING_OWED = "NOTHING_OWED"


NEED_DATA: Final = Sentinel.NEED_DATA
# In ``_owed`` while no reply is owed.
_NOTHING_OWED: Final = Sentinel.NOTHING_OWED

# Reading an Enum member off its class is a Python-level lookup in 3.11,
# about five times a global's cost; these are read for every line.
_SERVER: Final = Role.SERVER
_CLIENT: Final = Role.CLIENT
_CLOSED: Final = State.CLOSED
_QUITTING: Final = State.QUITTING
_LOGGED_IN: Final = State.LOGGED_IN
_ANONYMOUS: Final = State.ANONYMOUS
_next_state = _state.next_state
_TRANSITIONS = _state.TRANSITIONS
# A server sends a reply per command: its line start, and the table key of
# the replies that can move the state (PASS-214, say); the others move none.
_reply_line = _grammar.reply_line
_MOVING_REPLIES = {
    code: word
    for code, word in _grammar.REPLY_WORDS.items()
    if any(word in moves for moves in _TRANSITIONS.values())
}
# Likewise the verbs that can (SAIR).
_MOVING_VERBS = frozenset(
    verb for verb in VERBS if any(verb in moves for moves in _TRANSITIONS.values())
)


class Connection:
    """The protocol state of one connection, for either role.

    Call ``receive_data`` with what the socket read (``b""`` at EOF), then
    ``next_event`` until it returns ``NEED_DATA``; ``send`` turns an event
    into the bytes to write. Nothing here does I/O.
    """

    __slots__ = (
        "_buffer",
        "_eof",
        "_error",
        "_fifo",
        "_owed",
        "greeting",
        "role",
        "state",
    )

    def __init__(
        self, role: Role, *, max_line: int = 4096, max_unterminated: int = 8192
    ) -> None:
        self.role = role
        self.state = State.GREETING
        self.greeting: Greeting | None = None
        if role is Role.CLIENT:
            max_line = max_unterminated = CLIENT_MAX_LINE
        self._buffer = LineBuffer(max_line, max_unterminated)
        # What the oldest reply owed answers; None is a bad line the server
        # answers with a line-level code (protocol.md 6.2). The ones owed
        # after it wait in _fifo, which is None while there are none: a
        # command is nearly always answered before the next one is read, and
        # a server holds one Connection per client.
        self._owed: Command | Literal[Sentinel.NOTHING_OWED] | None = _NOTHING_OWED
        self._fifo: Fifo[Command | None] | None = None
        self._eof = False
        self._error: RemoteProtocolError | None = None

    @property
    def pending(self) -> tuple[Command, ...]:
        """The commands awaiting their reply, oldest first."""
        owed = self._owed
        if owed is _NOTHING_OWED:
            return ()
        return tuple(c for c in (owed, *(self._fifo or ())) if c is not None)

    @property
    def awaiting(self) -> int:
        """Replies still owed, bad lines included."""
        if self._owed is _NOTHING_OWED:
            return 0
        return 1 + len(self._fifo or ())

    @property
    def buffered(self) -> int:
        # Read several times per line by the server: one call, not two.
        data = self._buffer._data
        return 0 if data is None else len(data)

    def _owe(self, item: Command | None) -> None:
        """One more reply is owed, for ``item`` (None: a bad line)."""
        if self._owed is _NOTHING_OWED:
            self._owed = item
            return
        if self._fifo is None:
            self._fifo = Fifo()
        self._fifo.append(item)

    def _paid(self) -> None:
        """The oldest reply owed went out or came in (the callers checked
        that one is owed)."""
        fifo = self._fifo
        if fifo is None:
            self._owed = _NOTHING_OWED
        else:
            self._owed = fifo.popleft()
            if not fifo:
                self._fifo = None

    def _move(self, event: Event) -> None:
        self.state = _next_state(self.state, event)

    # -- receiving -------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        if self._eof and data:
            raise LocalProtocolError("data received after EOF")
        if data:
            self._buffer.feed(data)
        else:
            self._eof = True

    def next_event(self) -> Event | Literal[Sentinel.NEED_DATA]:
        if self._error is not None:
            raise self._error
        buffer = self._buffer
        try:
            while True:
                if self.state is _CLOSED or (
                    self.role is _SERVER and self.state is _QUITTING
                ):
                    # Nothing after SAIR (or the end) is read, so it is dropped
                    # unparsed: it cannot grow the buffer or trip its limits.
                    buffer.clear()
                raw = buffer.next_line()
                if raw is None:
                    if not self._eof:
                        return NEED_DATA
                    event = ConnectionClosed()
                    self._move(event)
                    return event
                found = self._on_line(raw)
                if found is not None:
                    return found
        except RemoteProtocolError as exc:
            if exc.fatal:
                self._error = exc
            raise

    def _on_line(self, raw: bytes | Literal[Mark.TOO_LONG]) -> Event | None:
        if raw is TOO_LONG:
            # Only a server's buffer can report this: a client's two limits
            # are equal, so any overlong server line is fatal instead.
            self._owe(None)
            raise RemoteProtocolError(
                "line too long", reply_hint=Reply(code=707, text="line too long")
            )
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            if self.role is _CLIENT:
                raise RemoteProtocolError(
                    "server line is not UTF-8", fatal=True
                ) from None
            self._owe(None)
            raise RemoteProtocolError(
                "line is not UTF-8",
                reply_hint=Reply(code=708, text="line is not valid UTF-8"),
            ) from None
        if not line.strip(" "):
            return None
        if self.role is _SERVER:
            return self._command(line)
        return self._server_line(line)

    def _command(self, line: str) -> Command:
        try:
            command = _grammar.parse_command(line)
        except RemoteProtocolError:
            self._owe(None)
            raise
        self._accept(command)
        return command

    def _accept(self, command: Command) -> None:
        """A command read: its reply is owed, and SAIR moves the state."""
        if command.SPEC.has_reply:
            self._owe(command)
        if command.VERB in _MOVING_VERBS:
            self.state = _next_state(self.state, command)

    def receive_line(self, data: bytes) -> Command | None:
        """The command in ``data`` when it is one whole line that parses the
        fast way (``parse_plain``), nothing is buffered and the server still
        reads: taken in as ``receive_data`` and ``next_event`` would. Else
        None, with nothing done: ``data`` goes the general way.

        A server's usual read is one such line; this spares it the buffer.
        """
        if (
            self.role is not _SERVER
            or self._eof
            or self._error is not None
            or self.state is _CLOSED
            or self.state is _QUITTING
        ):
            return None
        raw = self._buffer.whole(data)
        if raw is None:
            return None
        try:
            command = _grammar.parse_plain(raw.decode("utf-8"))
        except UnicodeDecodeError:
            return None
        if command is not None:
            self._accept(command)
        return command

    def _server_line(self, line: str) -> Event:
        event = _grammar.parse_server_line(line)
        if self.greeting is None and not isinstance(event, Greeting | Closing):
            raise RemoteProtocolError(
                "the server's first line is not a greeting", fatal=True
            )
        if isinstance(event, Greeting):
            if self.greeting is not None:
                raise RemoteProtocolError("a second greeting", fatal=True)
            self.greeting = event
        elif isinstance(event, Reply):
            event = self._pair(event)
        self._move(event)
        return event

    def _pair(self, reply: Reply) -> Reply:
        head = self._owed
        if head is _NOTHING_OWED:
            raise RemoteProtocolError(
                f"reply {reply.tag}-{reply.code} to no command", fatal=True
            )
        assert head is not None  # a client only queues commands it sent
        if reply.code not in head.ALLOWED:
            raise RemoteProtocolError(
                f"{reply.tag}-{reply.code} cannot answer {head.VERB}", fatal=True
            )
        self._paid()
        return Reply(code=reply.code, text=reply.text, command=head)

    # -- sending ---------------------------------------------------------------

    def send(self, event: Event) -> bytes:
        if isinstance(event, Reply) and self.role is _SERVER:
            return self._send_reply(event)
        if self.state is _CLOSED:
            raise LocalProtocolError("the connection is closed")
        if self.role is _SERVER:
            self._check_server_send(event)
        else:
            self._check_client_send(event)
        data = _grammar.serialize(event)
        if (
            self.role is _CLIENT
            and self.greeting is not None
            and len(data) > self.greeting.max_line
        ):
            raise LocalProtocolError(
                f"line of {len(data)} bytes exceeds the server's max-line "
                f"{self.greeting.max_line}"
            )
        if isinstance(event, Command) and event.spec().has_reply:
            self._owe(event)
        elif isinstance(event, Greeting):
            self.greeting = event
        self.state = _next_state(self.state, event)
        return data

    def _send_reply(self, reply: Reply) -> bytes:
        # What a server sends most, once per command: send()'s checks and
        # moves for a reply alone, without its type tests and table walks.
        if self.state is _CLOSED:
            raise LocalProtocolError("the connection is closed")
        if self.greeting is None:
            raise LocalProtocolError("the greeting must be sent first")
        head, code = self._owed, reply.code
        if head is _NOTHING_OWED:
            raise LocalProtocolError("no command is waiting for a reply")
        if code not in (LINE_CODES if head is None else head.ALLOWED):
            what = "a bad line" if head is None else head.VERB
            raise LocalProtocolError(f"{code} cannot answer {what}")
        data = _reply_line(code, reply.text)
        self._paid()
        moving = _MOVING_REPLIES.get(code)
        if moving is not None:
            self.state = _TRANSITIONS[self.state].get(moving, self.state)
        return data

    def _check_client_send(self, event: Event) -> None:
        if not isinstance(event, Command):
            raise LocalProtocolError(f"a client cannot send {type(event).__name__}")
        if self.state not in _state.COMMAND_STATES:
            raise LocalProtocolError(f"no command may be sent in {self.state.name}")

    def _check_server_send(self, event: Event) -> None:
        if isinstance(event, Greeting):
            if self.greeting is not None:
                raise LocalProtocolError("the greeting was already sent")
            return
        if isinstance(event, Closing):
            return
        if self.greeting is None:
            raise LocalProtocolError("the greeting must be sent first")
        # (Replies take _send_reply.)
        if not isinstance(event, Push):
            raise LocalProtocolError(f"a server cannot send {type(event).__name__}")
