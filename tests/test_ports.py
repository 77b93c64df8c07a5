"""Servers started on a port chosen for them (libbatchat.conformance.ports):
a port lost before the server binds it is replaced by a fresh one, and a
listener that is not ours is never taken for it. Real processes on loopback;
"another process took the port" is a listener opened on the reserved port
(SO_REUSEADDR, as a daemon would) before our server starts."""

from __future__ import annotations

import contextlib
import errno
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks import servers
from libbatchat.conformance import cli, ports
from tests.services import PostgresServer, RedisServer, redis_server  # noqa: F401

HOST = ports.HOST
SERVER_CMD = f"{sys.executable} -m frontends.server --port {{port}} --db=:memory:"


def squat(port: int) -> socket.socket:
    """Listen on ``port``, as another run's daemon that got there first."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((HOST, port))
    s.listen()
    return s


@contextlib.contextmanager
def squatters() -> Iterator[list[socket.socket]]:
    """The listeners a test opens on our ports, closed after it."""
    taken: list[socket.socket] = []
    try:
        yield taken
    finally:
        for s in taken:
            s.close()


class SquattedRedis(RedisServer):
    """Its first port is taken by a listener before redis-server starts."""

    def __init__(self, workdir: Path, taken: list[socket.socket]) -> None:
        super().__init__(workdir)
        self.taken = taken

    def _launch(self, held: ports.Reservation) -> None:
        if self.taken:
            super()._launch(held)
            return
        self.taken.append(squat(held.port))
        try:
            super()._launch(held)
        finally:
            self.lost_log = self.log.read_text()


def redis_client(url: str) -> Any:
    import redis

    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)


def test_redis_moves_off_a_port_taken_before_it_binds(tmp_path: Path) -> None:
    with squatters() as taken:
        server = SquattedRedis(tmp_path, taken)
        server.start()
        try:
            lost = taken[0].getsockname()[1]
            assert server.port != lost
            assert "Address already in use" in server.lost_log
            client = redis_client(server.url)
            assert client.ping() is True
        finally:
            server.close()


def test_the_redis_url_carries_its_password_and_none_gets_in_without(
    redis_server: RedisServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    import redis

    assert f":{redis_server.password}@" in redis_server.url
    assert redis_client(redis_server.url).ping() is True
    bare = redis_client(f"redis://{HOST}:{redis_server.port}/0")
    with pytest.raises(redis.AuthenticationError):
        bare.ping()
    # Another run's Redis on that port would not answer as ours.
    other = RedisServer(tmp_path / "other")
    assert redis_server.answers(redis_server.port) is True
    assert other.answers(redis_server.port) is False
    with ports.Reservation() as nothing:
        assert other.answers(nothing.port) is None
    # Not on its command line, which every user of the machine can read.
    cmdline = Path(f"/proc/{redis_server.pid}/cmdline").read_bytes()
    assert redis_server.password.encode() not in cmdline
    config = redis_server.workdir / "redis.conf"
    assert config.stat().st_mode & 0o077 == 0


def test_a_redis_restart_keeps_its_port_held_while_down(
    redis_server: RedisServer,  # noqa: F811
) -> None:
    port = redis_server.port
    redis_server.stop()
    with socket.socket() as s, pytest.raises(OSError) as refused:
        s.bind((HOST, port))
    assert refused.value.errno == errno.EADDRINUSE
    redis_server.start()
    assert redis_server.port == port
    assert redis_client(redis_server.url).ping() is True


def test_a_restart_whose_port_was_taken_meanwhile_says_so(
    redis_server: RedisServer,  # noqa: F811
) -> None:
    redis_server.stop()
    with squat(redis_server.port), pytest.raises(ports.StartError) as failed:
        redis_server.start()
    assert f"port {redis_server.port} was taken while its server was down" in str(
        failed.value
    )


def test_postgres_answers_only_from_its_own_data_directory() -> None:
    ours, other = PostgresServer(), PostgresServer()
    try:
        ours.start()
        assert ours.answers(ours.port) is True
        assert other.answers(ours.port) is False
    finally:
        ours.remove()
        other.remove()


def test_the_server_command_moves_off_a_port_taken_before_it_binds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = cli._start
    with squatters() as taken:

        def first_taken(
            command: str, held: ports.Reservation, startup: float
        ) -> tuple[subprocess.Popen[bytes], int]:
            if not taken:
                taken.append(squat(held.port))
            return real(command, held, startup)

        monkeypatch.setattr(cli, "_start", first_taken)
        with cli.started_server(SERVER_CMD, 20.0) as target:
            assert target.port != taken[0].getsockname()[1]
            with socket.create_connection((HOST, target.port), 5) as c:
                assert c.recv(100)  # the greeting: ours, not the silent squatter


@pytest.mark.parametrize("peer", servers.PEERS)
def test_a_benchmark_peer_moves_off_a_port_taken_before_it_binds(
    peer: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    why = servers.missing(peer)
    if why is not None:
        pytest.skip(why)
    real = servers._start_peer
    with squatters() as taken:

        def first_taken(
            name: str, held: ports.Reservation, *rest: Any
        ) -> tuple[subprocess.Popen[bytes], int]:
            if not taken:
                taken.append(squat(held.port))
            return real(name, held, *rest)

        monkeypatch.setattr(servers, "_start_peer", first_taken)
        running = servers.start(peer, tmp_path)
        try:
            assert running.port != taken[0].getsockname()[1]
            assert ports.owned_by(running.port, running.pid) is True
        finally:
            assert running.stop() is None


def test_a_listener_it_does_not_own_is_not_taken_for_the_server() -> None:
    """Up, listening nowhere, while another socket listens on its port: it
    never counts as started."""
    with ports.Reservation() as held:
        proc = subprocess.Popen(
            [sys.executable, "-c", "import sys; sys.stdin.read()"],
            stdin=subprocess.PIPE,
        )
        try:
            with squat(held.port), pytest.raises(ports.PortTaken, match="another"):
                ports.wait_ready(
                    proc,
                    held.port,
                    lambda: ports.listens_as(proc.pid, held.port),
                    lambda: "",
                    what="the reader",
                )
        finally:
            proc.kill()
            proc.wait(10)
            assert proc.stdin is not None
            proc.stdin.close()


def test_a_listener_is_owned_by_its_process_and_its_parents() -> None:
    code = (
        "import socket, sys; s = socket.socket(); s.bind(('127.0.0.1', 0)); "
        "s.listen(); print(s.getsockname()[1], flush=True); sys.stdin.read()"
    )
    # Under a shell that waits for it, as a wrapper (runuser, sh -c) runs
    # the real server as its child.
    proc = subprocess.Popen(
        ["sh", "-c", f'"{sys.executable}" -c "{code}"; true'],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        assert ports.owned_by(port, proc.pid) is True
        assert ports.listens_as(proc.pid, port) is True
        with squat(0) as mine:
            assert ports.owned_by(mine.getsockname()[1], proc.pid) is False
    finally:
        assert proc.stdin is not None
        proc.stdin.close()  # end of input: the child ends, then the shell
        proc.wait(10)
        assert proc.stdout is not None
        proc.stdout.close()


def test_a_server_command_that_fails_otherwise_is_not_retried(
    tmp_path: Path,
) -> None:
    runs = tmp_path / "runs"
    code = f"open({str(runs)!r}, 'a').write('x'); raise SystemExit(3)"
    bad = f'{sys.executable} -c "{code}" {{port}}'
    with (
        pytest.raises(cli.UsageError, match="exited with 3"),
        cli.started_server(bad, 20.0),
    ):
        pass
    assert runs.read_text() == "x"


def test_a_port_lost_every_time_ends_after_bounded_attempts() -> None:
    tried: list[int] = []

    def lose(held: ports.Reservation) -> None:
        tried.append(held.port)
        raise ports.PortTaken(f"lost {held.port}")

    with pytest.raises(ports.PortTaken, match="lost the port 5 times"):
        ports.on_free_port(lose)
    assert len(tried) == ports.ATTEMPTS
