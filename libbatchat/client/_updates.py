"""What a client layer reports: its own events, besides the server's pushes.

A subscriber receives ``Update`` values: the server's pushes as the core
parses them (``Message``, ``Joined``, ``Left``, ``Online``, ``Offline``,
``Closing``) and the ``ClientEvent`` subclasses below, which say what the
client itself did or saw (connected, logged in, reconnecting in N s ...).
State (``client.state``) is already updated when an update is delivered.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Literal

from libbatchat._events import Closing, Event, Greeting, Push, Reply

from ._settings import Address

__all__ = [
    "ClientEvent",
    "ConnectFailed",
    "Connected",
    "Connecting",
    "Disconnected",
    "LagChanged",
    "LoggedIn",
    "LoginFailed",
    "Reconnecting",
    "RoomJoined",
    "RoomLeft",
    "Status",
    "Stopped",
    "Update",
    "Wire",
]


class Status(enum.Enum):
    """Where the client is in its life; ``client.status``."""

    IDLE = "idle"  # not started
    CONNECTING = "connecting"  # opening a connection
    CONNECTED = "connected"  # greeted, not (yet) logged in
    LOGGED_IN = "logged in"  # logged in, rooms rejoined after a reconnect
    RECONNECTING = "reconnecting"  # waiting out a backoff delay
    STOPPED = "stopped"  # closed for good; no more reconnects


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientEvent:
    """Base class of the client layer's own events."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Connecting(ClientEvent):
    server: Address
    attempt: int  # 1 for the first try after a drop (or at start)


@dataclass(frozen=True, slots=True, kw_only=True)
class Connected(ClientEvent):
    server: Address
    greeting: Greeting


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectFailed(ClientEvent):
    server: Address
    error: str  # one line, for people


@dataclass(frozen=True, slots=True, kw_only=True)
class LoggedIn(ClientEvent):
    name: str  # as the server displays it
    guest: bool
    again: bool  # logged in again by itself after a reconnect


@dataclass(frozen=True, slots=True, kw_only=True)
class LoginFailed(ClientEvent):
    """Logging in again after a reconnect was refused.

    ``retry_in`` is the delay before the next try (the name is still online:
    the server has not yet noticed the old connection is gone), or ``None``
    when the refusal is final (wrong password, name now registered) and the
    client stops.
    """

    reply: Reply
    retry_in: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class RoomJoined(ClientEvent):
    room: str
    members: tuple[str, ...]
    rejoined: bool  # joined again by itself after a reconnect


@dataclass(frozen=True, slots=True, kw_only=True)
class RoomLeft(ClientEvent):
    room: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Disconnected(ClientEvent):
    """The connection ended; ``closing`` is the server's reason if it gave one.

    ``reconnecting`` says whether a ``Reconnecting`` follows (else the
    client is stopping: a ``Stopped`` follows).
    """

    reason: str
    closing: Closing | None = None
    reconnecting: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class Reconnecting(ClientEvent):
    """The next attempt goes to ``server`` after ``delay`` seconds."""

    delay: float
    server: Address
    attempt: int


@dataclass(frozen=True, slots=True, kw_only=True)
class LagChanged(ClientEvent):
    lag: float  # seconds from PING written to PONG-224 read


@dataclass(frozen=True, slots=True, kw_only=True)
class Stopped(ClientEvent):
    """The client closed for good: quit, close(), or a final login refusal."""

    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Wire(ClientEvent):
    """A line that crossed the wire (only while ``client.wire`` is on).

    ``line`` is the line as the library writes it, without the LF, with any
    password masked; ``event`` is the parsed event. The keep-alive PING the
    server sends and the PONG the adapter answers it with are not shown.
    """

    direction: Literal["in", "out"]
    time: float  # the client's clock
    line: str
    event: Event = field(repr=False)


Update = ClientEvent | Push
