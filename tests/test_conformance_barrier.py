"""The suite's barrier in a dialect without PING: a WHO, where its answer
can be told apart, then the quiet period."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from libbatchat.conformance._engine import Trial
from libbatchat.conformance._model import Online
from libbatchat.conformance._target import Target
from libbatchat.conformance._timing import Timing
from libbatchat.conformance.dialects import load

PREFIX = "t1x"
LATE = f"{PREFIX}late9"


def _serve(listener: socket.socket) -> None:
    """A slash-command server that tells of a login only when asked who is
    online, just before its answer: only a barrier waits for that notice."""
    conn, _ = listener.accept()
    with conn, conn.makefile("rb") as lines:
        conn.sendall("Digite seu nome de usuário: ".encode())
        name = lines.readline().decode().strip()
        conn.sendall(f"[Servidor] {name} entrou no chat.\n".encode())
        for line in lines:
            if line.strip() == b"/online":
                conn.sendall(f"[Servidor] {LATE} entrou no chat.\n".encode())
                conn.sendall(f"Online: {name}, {LATE}\n".encode())


@pytest.fixture
def port() -> Iterator[int]:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        thread = threading.Thread(target=_serve, args=(listener,), daemon=True)
        thread.start()
        yield listener.getsockname()[1]
    thread.join(10)


def test_a_push_queued_before_the_who_is_read_by_the_barrier(port: int) -> None:
    trial = Trial(
        target=Target("127.0.0.1", port),
        dialect=load("slashchat"),
        timing=Timing(),
        prefix=PREFIX,
        budget=10.0,
    )
    try:
        session = trial.guest("a")
        session.sync()
        assert session.pushes() == [Online(user=LATE)]
        assert session.quiet_used  # the quiet period still follows it
    finally:
        trial.dispose()
