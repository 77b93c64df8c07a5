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
from ._table import LINE_CODES

# A client caps what it buffers of one server line; the spec sets no limit.
CLIENT_MAX_LINE = 1 << 20


class Role(enum.Enum):
    CLIENT = "client"
    SERVER = "server"


class Sentinel(enum.Enum):
    NEED_DATA = "NEED_DATA"


NEED_DATA: Final = Sentinel.NEED_DATA

# Reading an Enum member off its class is a Python-level lookup in 3.11,
# about five times a global's cost; these are read for every line.
_SERVER: Final = Role.SERVER
_CLIENT: Final = Role.CLIENT
_CLOSED: Final = State.CLOSED
_QUITTING: Final = State.QUITTING
_next_state = _state.next_state


class Connection:
    """The protocol state of one connection, for either role.

    Call ``receive_data`` with what the socket read (``b""`` at EOF), then
    ``next_event`` until it returns ``NEED_DATA``; ``send`` turns an event
    into the bytes to write. Nothing here does I/O.
    """

    __slots__ = ("_buffer", "_eof", "_error", "_fifo", "greeting", "role", "state")

    def __init__(
        self, role: Role, *, max_line: int = 4096, max_unterminated: int = 8192
    ) -> None:
        self.role = role
        self.state = State.GREETING
        self.greeting: Greeting | None = None
        if role is Role.CLIENT:
            max_line = max_unterminated = CLIENT_MAX_LINE
        self._buffer = LineBuffer(max_line, max_unterminated)
        # A slot per reply owed; None is a bad line the server answers with a
        # line-level code (protocol.md 6.2). No Fifo while none is owed, as
        # between commands: a server holds one Connection per idle client.
        self._fifo: Fifo[Command | None] | None = None
        self._eof = False
        self._error: RemoteProtocolError | None = None

    @property
    def pending(self) -> tuple[Command, ...]:
        """The commands awaiting their reply, oldest first."""
        return tuple(c for c in self._fifo or () if c is not None)

    @property
    def awaiting(self) -> int:
        """Replies still owed, bad lines included."""
        return len(self._fifo or ())

    @property
    def buffered(self) -> int:
        # Read several times per line by the server: one call, not two.
        data = self._buffer._data
        return 0 if data is None else len(data)

    def _owe(self, item: Command | None) -> None:
        """One more reply is owed, for ``item`` (None: a bad line)."""
        if self._fifo is None:
            self._fifo = Fifo()
        self._fifo.append(item)

    def _paid(self) -> None:
        """The oldest reply owed went out or came in."""
        fifo = self._fifo
        assert fifo is not None  # the callers checked that one is owed
        fifo.popleft()
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
        if command.SPEC.has_reply:
            self._owe(command)
        self.state = _next_state(self.state, command)
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
        if not self._fifo:
            raise RemoteProtocolError(
                f"reply {reply.tag}-{reply.code} to no command", fatal=True
            )
        head = self._fifo.peek()
        assert head is not None  # a client only queues commands it sent
        if reply.code not in head.ALLOWED:
            raise RemoteProtocolError(
                f"{reply.tag}-{reply.code} cannot answer {head.VERB}", fatal=True
            )
        self._paid()
        return Reply(code=reply.code, text=reply.text, command=head)

    # -- sending ---------------------------------------------------------------

    def send(self, event: Event) -> bytes:
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
        if isinstance(event, Reply):
            self._paid()
        elif isinstance(event, Command) and event.spec().has_reply:
            self._owe(event)
        elif isinstance(event, Greeting):
            self.greeting = event
        self.state = _next_state(self.state, event)
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
        if isinstance(event, Reply):
            if not self._fifo:
                raise LocalProtocolError("no command is waiting for a reply")
            head = self._fifo.peek()
            allowed = LINE_CODES if head is None else head.ALLOWED
            if event.code not in allowed:
                what = "a bad line" if head is None else head.VERB
                raise LocalProtocolError(f"{event.code} cannot answer {what}")
        elif not isinstance(event, Push):
            raise LocalProtocolError(f"a server cannot send {type(event).__name__}")
