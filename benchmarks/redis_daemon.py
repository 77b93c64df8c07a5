"""A redis-server of our own on loopback, for the cluster runs and the tests.

redis-server refuses ``--port 0``, so it is given a reserved port
(``libbatchat.conformance.ports``), and a password of its own
(``requirepass``, in a config file rather than on the command line),
carried by ``url``: a client of ours cannot talk to another run's Redis
that took the port, and another run's client cannot talk to ours. Nothing
is persisted.
"""

from __future__ import annotations

import secrets
import signal
import socket
from pathlib import Path

from libbatchat.conformance import ports
from libbatchat.conformance.ports import HOST


class RedisDaemon(ports.Daemon):
    what = "redis-server"

    def __init__(self, binary: str, workdir: Path) -> None:
        super().__init__(workdir / "redis-server.log")
        self.binary = binary
        self.workdir = workdir
        self.password = secrets.token_hex(16)

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@{HOST}:{self.port}/0"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def argv(self, port: int) -> list[str]:
        # The password goes in a file only we can read, not on the command
        # line, where ps shows it to every user of the machine.
        config = self.workdir / "redis.conf"
        config.touch(mode=0o600)
        config.chmod(0o600)
        config.write_text(f"requirepass {self.password}\n")
        return [
            self.binary,
            str(config),
            "--bind", HOST,
            "--port", str(port),
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.workdir),
        ]  # fmt: skip

    def answers(self, port: int) -> bool | None:
        """True if our password is taken there, False if another server
        answers, None while nothing does."""
        data = b""
        try:
            with socket.create_connection((HOST, port), 1.0) as s:
                s.sendall(f"AUTH {self.password}\r\nPING\r\n".encode())
                for _ in range(16):  # two short replies; each read times out
                    chunk = s.recv(256)
                    data += chunk
                    if not chunk or data.count(b"\r\n") >= 2:
                        break
        except OSError:
            pass
        if data.startswith(b"+OK\r\n+PONG\r\n"):
            return True
        return False if data else None

    def pause(self, frozen: bool = True) -> None:
        """Freeze it (SIGSTOP: it holds its connections and answers nothing,
        as an unreachable host), or thaw it (SIGCONT)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP if frozen else signal.SIGCONT)

    def died(self) -> int | None:
        """Its exit status if it exited on its own."""
        return None if self.proc is None else self.proc.poll()
