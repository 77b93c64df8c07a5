"""A read-only picture of a server at one moment, for monitors.

``ServerCore.stats()`` fills the core's part; an adapter adds what only it
knows (bytes queued per connection, whether it is listening). Plain frozen
values, so a monitor on another thread can hold them without locks.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CoreStats", "RoomStats", "SessionStats"]


@dataclass(frozen=True, slots=True)
class SessionStats:
    id: int
    peer: str  # "host:port"
    name: str | None  # None until logged in
    rooms: tuple[str, ...]  # as displayed
    queued: int = 0  # bytes waiting to be written to it (the adapter's count)


@dataclass(frozen=True, slots=True)
class RoomStats:
    name: str
    members: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CoreStats:
    """``connections`` and ``messages`` count up from the server's start."""

    sessions: tuple[SessionStats, ...]  # oldest first
    rooms: tuple[RoomStats, ...]  # by folded name
    connections: int  # connections accepted (refused ones not counted)
    messages: int  # CHAT lines delivered (CHAT-215)
