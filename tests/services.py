"""Real Redis and PostgreSQL servers for the tests, on loopback, in a tmp dir.

Each starts on a reserved free port (``libbatchat.conformance.ports``:
redis-server refuses ``--port 0``), moved to a fresh one if another process
took it first, and answers only as ours: Redis to its own password (in
``url``), PostgreSQL from its own data directory. A restart keeps the port,
held while the server is down. Each is stopped when the test ends. A test
that needs a missing binary is skipped, saying which.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.redis_daemon import RedisDaemon
from benchmarks.servers import redis_server_path
from libbatchat.conformance import ports
from libbatchat.conformance.ports import HOST


class RedisServer(RedisDaemon):
    stop_signal = signal.SIGKILL  # at once, even when paused

    def __init__(self, workdir: Path) -> None:
        binary = redis_server_path()
        if binary is None:
            pytest.skip("redis-server is not installed (apt-get install redis-server)")
        super().__init__(binary, workdir)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.close()


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


class PostgresServer(ports.Daemon):
    what = "postgres"
    stop_signal = signal.SIGINT  # PostgreSQL's fast shutdown; SIGKILL: a crash

    def __init__(self) -> None:
        self.initdb = _pg_binary("initdb")
        self.postgres = _pg_binary("postgres")
        self.prefix = _as_user()
        # Not under pytest's tmp_path: its parents are private to root.
        self.workdir = Path(tempfile.mkdtemp(prefix="batchat-pg-"))
        if self.prefix:
            shutil.chown(self.workdir, PG_USER)
        self.data = self.workdir / "data"
        super().__init__(self.workdir / "postgres.log")
        subprocess.run(
            [*self.prefix, self.initdb, "-D", str(self.data), "-U", "postgres",
             "--auth=trust", "-E", "UTF8", "--no-sync"],
            check=True,
            capture_output=True,
            timeout=120,
        )  # fmt: skip

    @property
    def url(self) -> str:
        return self._url(self.port)

    @staticmethod
    def _url(port: int) -> str:
        return f"postgresql://postgres@{HOST}:{port}/postgres"

    def argv(self, port: int) -> list[str]:
        return [*self.prefix, self.postgres, "-D", str(self.data),
                "-h", HOST, "-p", str(port), "-k", str(self.workdir)]  # fmt: skip

    def answers(self, port: int) -> bool | None:
        """True once ours takes queries, False if another PostgreSQL (trust
        login, as another run's) answers there, None meanwhile."""
        import psycopg

        try:
            with psycopg.connect(self._url(port), connect_timeout=2) as conn:
                row = conn.execute("SHOW data_directory").fetchone()
        except psycopg.Error:  # not listening, starting up, or not ours
            return None
        where = os.path.realpath(str(row[0])) if row else ""
        return where == os.path.realpath(self.data)

    def signalled(self) -> int:
        # postgres itself: runuser does not pass every signal on.
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return super().signalled()

    def remove(self) -> None:
        self.close()
        shutil.rmtree(self.workdir, ignore_errors=True)


@pytest.fixture
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer()
    server.start()
    try:
        yield server
    finally:
        server.remove()
