"""Real servers with every dialect listener, and a byte-exact wire client.

``Wire`` is what the original classroom clients are on the wire: one
``send()`` per message, no terminator unless the test adds one, and replies
checked byte for byte. TCP may join or split what the server wrote, so
``expect`` compares the stream, not the reads; a test that must see that
nothing else arrived sends a message with a known answer and expects that
answer next (the server answers each session in order).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from adapters_harness import ADAPTERS, FAST, HOST, WAIT, Running, start

from libbatchat import Limits
from libbatchat._dialects import DIALECTS
from libbatchat.adapters._common import Listen

LISTEN = tuple(Listen(name, HOST, 0) for name in DIALECTS)


class Wire:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection((HOST, port), timeout=WAIT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""
        self.eof = False

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _read(self) -> None:
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
        self.buffer += data

    def expect(self, want: bytes) -> None:
        """The next bytes from the server are exactly ``want``."""
        while len(self.buffer) < len(want) and not self.eof:
            if not want.startswith(self.buffer):
                break
            self._read()
        got, self.buffer = self.buffer[: len(want)], self.buffer[len(want) :]
        assert got == want, f"expected {want!r}, got {got!r} (then {self.buffer!r})"

    def expect_eof(self) -> None:
        """The server closes with nothing more to say."""
        while not self.eof:
            self._read()
        assert self.buffer == b"", f"unexpected {self.buffer!r} before EOF"

    def close(self) -> None:
        self.sock.close()


class Dialects:
    """A running server with every dialect listener; clients are closed after."""

    def __init__(self, running: Running) -> None:
        self.running = running
        self.wires: list[Wire] = []

    def wire(self, dialect: str) -> Wire:
        port = self.running.port_of(dialect) if dialect != "canonical" else None
        wire = Wire(port if port is not None else self.running.port)
        self.wires.append(wire)
        return wire

    def cleanup(self) -> None:
        for wire in self.wires:
            wire.close()
        self.running.cleanup()


def launch(adapter: str, limits: Limits = FAST) -> Dialects:
    return Dialects(start(adapter, limits, listen=LISTEN))


@pytest.fixture(params=ADAPTERS)
def dialects(request: pytest.FixtureRequest) -> Iterator[Dialects]:
    running = launch(request.param)
    yield running
    running.cleanup()
