"""Real Redis and PostgreSQL servers for the tests, on loopback, in a tmp dir.

Each starts on a free port (found by binding port 0: redis-server refuses
``--port 0``) and is stopped when the test ends. A test that needs a missing
binary is skipped, saying which.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

HOST = "127.0.0.1"
START_WAIT = 20.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _wait_connectable(port: int, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + START_WAIT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), 0.2):
            return
        # Polling a process we started until it listens: there is no event
        # to wait on, and the loop is bounded.
        time.sleep(0.02)
    raise RuntimeError(f"{what} did not listen on {port} in {START_WAIT}s")


class RedisServer:
    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not os.path.exists(binary):
            pytest.skip("redis-server is not installed (apt-get install redis-server)")
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--bind", HOST,
                "--port", str(self.port),
                "--save", "",
                "--appendonly", "no",
                "--dir", str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        _wait_connectable(self.port, self.proc, "redis-server")

    def pause(self, frozen: bool = True) -> None:
        """Freeze it (SIGSTOP: it holds its connections and answers nothing,
        as an unreachable host), or thaw it (SIGCONT)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP if frozen else signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


# Debian keeps PostgreSQL's server programs off PATH, one directory per
# major version (15 on bookworm, 17 on trixie): the newest is used.
PG_LIBS = Path("/usr/lib/postgresql")
PG_USER = "batchat-test"


def _pg_version(path: Path) -> tuple[int, ...]:
    parts = path.parent.parent.name.split(".")
    return tuple(int(p) for p in parts) if all(p.isdigit() for p in parts) else ()


def _pg_binary(name: str) -> str:
    found = sorted(PG_LIBS.glob(f"*/bin/{name}"), key=_pg_version)
    if found:
        return str(found[-1])
    which = shutil.which(name)
    if which is None:
        pytest.skip(
            f"PostgreSQL's {name} is not installed (apt-get install postgresql)"
        )
    return which


def _as_user() -> list[str]:
    """PostgreSQL refuses to run as root: as root, run it as ``PG_USER``."""
    if os.geteuid() != 0:
        return []
    check = subprocess.run(["id", "-u", PG_USER], capture_output=True, check=False)
    if check.returncode != 0:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", PG_USER],
            check=True,
            capture_output=True,
        )
    return ["runuser", "-u", PG_USER, "--"]


class PostgresServer:
    def __init__(self) -> None:
        self.initdb = _pg_binary("initdb")
        self.postgres = _pg_binary("postgres")
        self.prefix = _as_user()
        # Not under pytest's tmp_path: its parents are private to root.
        self.workdir = Path(tempfile.mkdtemp(prefix="batchat-pg-"))
        if self.prefix:
            shutil.chown(self.workdir, PG_USER)
        self.data = self.workdir / "data"
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        subprocess.run(
            [*self.prefix, self.initdb, "-D", str(self.data), "-U", "postgres",
             "--auth=trust", "-E", "UTF8", "--no-sync"],
            check=True,
            capture_output=True,
            timeout=120,
        )  # fmt: skip

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [*self.prefix, self.postgres, "-D", str(self.data),
             "-h", HOST, "-p", str(self.port), "-k", str(self.workdir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        _wait_connectable(self.port, self.proc, "postgres")
        # Listening is not yet accepting logins: wait for a query to work.
        import psycopg

        deadline = time.monotonic() + START_WAIT
        while True:
            try:
                psycopg.connect(self.url, connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)  # bounded poll of a starting server

    def stop(self, sig: int = signal.SIGINT) -> None:
        """Stop it (SIGINT: PostgreSQL's fast shutdown; SIGKILL: a crash)."""
        if self.proc is not None and self.proc.poll() is None:
            # To postgres itself: runuser does not pass every signal on.
            pidfile = self.data / "postmaster.pid"
            try:
                pid = int(pidfile.read_text().split()[0])
            except (OSError, ValueError, IndexError):
                pid = self.proc.pid
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
            self.proc.wait(30)
        self.proc = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


@pytest.fixture
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer()
    server.start()
    try:
        yield server
    finally:
        server.remove()
