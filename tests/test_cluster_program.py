"""batchat-server --cluster as processes: flags, SIGKILL, a Redis restart."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from libbatchat import Join, Joined, Left, Login, Nick, Offline, Online, Register, Who
from libbatchat.adapters import aio
from libbatchat.conformance.ports import Reservation
from tests.services import (  # noqa: F401
    PostgresServer,
    RedisServer,
    postgres_server,
    redis_server,
)
from tests.test_cluster_redis import PW, ask, barrier, cluster, login, push, quiet, run
from tests.test_server_program import (
    COMMAND,
    FAST_FLAGS,
    Program,
    programs,  # noqa: F401
)

CLUSTER_FLAGS = ["--cluster-heartbeat", "0.25", "--cluster-ttl", "2.5"]


def nodes(
    redis: RedisServer,
    started: list[Program],
    tmp_path: Path,
    n: int,
    db: str | None = None,
    *,
    fast: bool = True,
) -> list[int]:
    """``n`` batchat-server nodes on ``redis`` sharing the accounts in ``db``
    (default: one SQLite file); their ports."""
    ports = []
    for _ in range(n):
        p = Program(
            tmp_path,
            "--port", "0",
            "--db", db or str(tmp_path / "accounts.db"),
            "--cluster", redis.url,
            *CLUSTER_FLAGS,
            *(FAST_FLAGS if fast else []),
        )  # fmt: skip
        started.append(p)
        ports.append(p.listening())
    return ports


def usage(*args: str) -> tuple[int, str]:
    import subprocess

    done = subprocess.run(
        [*COMMAND, "--port", "0", "--db", ":memory:", *args],
        capture_output=True,
        check=False,
        text=True,
        timeout=30,
    )
    return done.returncode, done.stderr


class At:
    """A node by its port: what login() needs of one."""

    opened: list[aio.Client] = []

    def __init__(self, port: int) -> None:
        self.port = port

    async def client(self) -> aio.Client:
        client = await aio.Client.connect("127.0.0.1", self.port)
        self.opened.append(client)
        return client

    @classmethod
    async def close_all(cls) -> None:
        while cls.opened:
            await cls.opened.pop().close()


async def ana_bob_cy(ports: list[int]) -> tuple[list[At], list[aio.Client]]:
    """Ana, Bob and Cy logged in on the three nodes at ``ports``; Bob, then
    Ana, in #R. The nodes, and the three clients."""
    at = [At(port) for port in ports]
    ana = await login(at[0], "Ana")  # type: ignore[arg-type]
    bob = await login(at[1], "Bob", ana)  # type: ignore[arg-type]
    cy = await login(at[2], "Cy", ana, bob)  # type: ignore[arg-type]
    await ask(bob, Join(room="#R"))
    await barrier(bob, ana, cy)
    await ask(ana, Join(room="#R"))
    assert await push(bob) == Joined(room="#R", user="Ana")
    return at, [ana, bob, cy]


def test_cluster_flags_are_checked() -> None:
    code, err = usage("--cluster", "redis://127.0.0.1:1/0", "--adapter", "threaded")
    assert code == 2 and "--cluster needs --adapter asyncio" in err
    code, err = usage("--cluster", "http://:secret@x")
    assert code == 2 and "redis://HOST:PORT/DB" in err
    assert "secret" not in err and "http://:***@x" in err
    code, err = usage("--cluster", "redis://127.0.0.1:1/0", "--cluster-ttl", "0.1")
    assert code == 2 and "--cluster-ttl must exceed" in err


def test_unreachable_redis_is_one_clear_line() -> None:
    # A port nobody listens on, held so that nobody starts to meanwhile.
    with Reservation() as nothing:
        url = f"redis://:pw@127.0.0.1:{nothing.port}/0"
        code, err = usage("--cluster", url)
    assert code == 1
    assert "cannot join the cluster: cannot reach Redis at redis://:***@" in err
    assert ":pw@" not in err
    assert "Traceback" not in err


def test_the_url_may_come_from_the_environment(
    redis_server: RedisServer,  # noqa: F811
    programs: list[Program],  # noqa: F811
    tmp_path: Path,
) -> None:
    """BATCHAT_CLUSTER instead of --cluster: the password stays off the
    command line, and the node joins the same chat."""
    (flagged,) = nodes(redis_server, programs, tmp_path, 1)
    quiet_node = Program(
        tmp_path,
        "--port", "0",
        "--db", str(tmp_path / "accounts.db"),
        *CLUSTER_FLAGS,
        *FAST_FLAGS,
        env={"BATCHAT_CLUSTER": redis_server.url},
    )  # fmt: skip
    programs.append(quiet_node)
    port = quiet_node.listening()
    cmdline = Path(f"/proc/{quiet_node.proc.pid}/cmdline").read_bytes()
    assert redis_server.password.encode() not in cmdline

    async def test(url: str) -> None:
        try:
            ana = await login(At(flagged), "Ana")  # type: ignore[arg-type]
            bob = await login(At(port), "Bob", ana)  # type: ignore[arg-type]
            assert await ask(bob, Who()) == "Ana Bob"
        finally:
            await At.close_all()

    run(redis_server, test)


def test_sigkill_of_a_node(
    redis_server: RedisServer,  # noqa: F811
    programs: list[Program],  # noqa: F811
    tmp_path: Path,
) -> None:
    ports = nodes(redis_server, programs, tmp_path, 3)

    async def test(url: str) -> None:
        try:
            (a, b, c), (ana, _, cy) = await ana_bob_cy(ports)
            await barrier(ana, cy)
            await ask(cy, Join(room="#R"))
            assert await push(ana) == Joined(room="#R", user="Cy")
            gus = await b.client()
            assert (await gus.request(Nick(nick="Gus"))).code == 218
            for x in (ana, cy):
                assert await push(x) == Online(user="Gus")
            os.kill(programs[1].proc.pid, signal.SIGKILL)
            # Within ttl + heartbeat (2.75 s here), seen by both survivors.
            for x in (ana, cy):
                assert await push(x) == Left(room="#R", user="Bob")
                assert await push(x) == Offline(user="Bob")
                assert await push(x) == Offline(user="Gus")
                assert await ask(x, Who()) == "Ana Cy"
                assert await ask(x, Who(room="#R")) == "Ana Cy"
            # Their names are free: an account's and a guest's.
            again = await c.client()
            assert (await again.request(Login(user="bob", password=PW))).code == 214
            assert await push(ana) == Online(user="Bob")
            guest = await a.client()
            assert (await guest.request(Nick(nick="gus"))).code == 218
            assert await push(ana) == Online(user="gus")
            assert await push(cy) == Online(user="Bob")
            assert await push(cy) == Online(user="gus")
            for x in (ana, cy):
                await quiet(x)
        finally:
            await At.close_all()

    run(redis_server, test)


def test_redis_restart(
    redis_server: RedisServer,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def test(url: str) -> None:
        async with cluster(url, 2) as (a, b):
            ana = await login(a, "Ana")
            amy = await login(a, "Amy", ana)
            bob = await login(b, "Bob", ana, amy)
            ben = await login(b, "Ben", ana, amy, bob)
            redis_server.stop()
            # Each node serves its own clients meanwhile.
            assert await ask(ana, Who()) == "Amy Ana Ben Bob"
            await ask(ana, Join(room="#Local"))
            await ask(amy, Join(room="#Local"))
            assert await push(ana) == Joined(room="#Local", user="Amy")
            late = await a.client()
            assert (await late.request(Nick(nick="Late"))).code == 710
            await ben.close()  # its OFFLINE cannot cross now
            assert await push(bob) == Offline(user="Ben")
            redis_server.start()
            # Resynchronized: Ben is gone everywhere, nobody else went.
            assert await push(ana) == Offline(user="Ben")
            assert await push(amy) == Offline(user="Ben")
            assert await ask(bob, Who()) == "Amy Ana Bob"
            assert await ask(bob, Who(room="#local")) == "Amy Ana"
            # Names are claimed again: none can be taken twice.
            other = await b.client()
            assert (await other.request(Nick(nick="ana"))).code == 705
            login_ben = Login(user="Ben", password=PW)
            assert (await other.request(login_ben)).code == 214
            for x in (ana, amy, bob):
                assert await push(x) == Online(user="Ben")
                await quiet(x)

    run(redis_server, test)
    # Connections pooled before the restart are dropped, not tried: trying
    # one made Redis seem lost again right after it was back. (Before the
    # restart a pooled connection may well be how a node learns Redis went.)
    back = caplog.text.find("Redis is back")
    assert back != -1
    assert "Connection closed by server" not in caplog.text[back:]


def test_two_nodes_share_accounts_in_postgresql(
    redis_server: RedisServer,  # noqa: F811
    postgres_server: PostgresServer,  # noqa: F811
    programs: list[Program],  # noqa: F811
    tmp_path: Path,
) -> None:
    url = postgres_server.url.replace("postgres@", "postgres:s3cr3t@")
    ports = nodes(redis_server, programs, tmp_path, 2, url)

    async def test(_url: str) -> None:
        a = await aio.Client.connect("127.0.0.1", ports[0])
        b = await aio.Client.connect("127.0.0.1", ports[1])
        try:
            assert (await a.request(Register(user="Ana", password=PW))).code == 213
            assert (await b.request(Register(user="ana", password=PW))).code == 703
            assert (await b.request(Login(user="ANA", password=PW))).code == 214
            # Logging in again on the other node takes b's session over.
            assert (await a.request(Login(user="ana", password=PW))).code == 214
        finally:
            await a.close()
            await b.close()

    run(redis_server, test)
    for p in programs:
        p.proc.send_signal(signal.SIGTERM)
        assert p.wait() == 0
        err = p.stderr()
        assert "s3cr3t" not in err
        # Redis's password, in the --cluster URL, is not logged either.
        assert "joined the cluster at redis://:***@" in err
        assert redis_server.password not in err


def test_conformance_across_two_nodes(
    redis_server: RedisServer,  # noqa: F811
    programs: list[Program],  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from libbatchat.conformance.cli import main as conformance

    ports = nodes(redis_server, programs, tmp_path, 2, fast=False)
    code = conformance(
        [f"127.0.0.1:{ports[0]}", "--also", f"127.0.0.1:{ports[1]}", "-q"]
    )
    out = capsys.readouterr().out
    assert code == 0, out
