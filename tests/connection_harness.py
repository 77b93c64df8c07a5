"""Client and server Connections wired back to back, for the
tests/test_connection_*.py."""

from __future__ import annotations

import pytest

from libbatchat import (
    NEED_DATA,
    Closing,
    Connection,
    ConnectionClosed,
    Event,
    Greeting,
    RemoteProtocolError,
    Role,
    State,
)

GREETING = Greeting(
    max_line=64, burst=10, rate=5, ping=90, ping_timeout=150, login_timeout=30
)
CLOSING = Closing(reason="shutdown", text="bye")


def drain(conn: Connection) -> list[Event]:
    out: list[Event] = []
    while (event := conn.next_event()) is not NEED_DATA:
        out.append(event)
        if isinstance(event, ConnectionClosed):
            break
    return out


class Pair:
    """A client and a server whose bytes go straight to each other."""

    def __init__(self, *, greet: bool = True, **server_limits: int) -> None:
        self.client = Connection(Role.CLIENT)
        self.server = Connection(Role.SERVER, **server_limits)
        if greet:
            assert self.s2c(GREETING) == [GREETING]

    def c2s(self, *events: Event) -> list[Event]:
        self.server.receive_data(b"".join(self.client.send(e) for e in events))
        return drain(self.server)

    def s2c(self, *events: Event) -> list[Event]:
        self.client.receive_data(b"".join(self.server.send(e) for e in events))
        return drain(self.client)

    def states(self) -> tuple[State, State]:
        return self.client.state, self.server.state


def bad_line(conn: Connection, data: bytes) -> RemoteProtocolError:
    conn.receive_data(data)
    with pytest.raises(RemoteProtocolError) as exc:
        conn.next_event()
    return exc.value
