"""Faults a cluster lives through: Redis frozen, PostgreSQL killed mid-work."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

import pytest

from libbatchat import (
    Chat,
    Join,
    Joined,
    Left,
    Login,
    Message,
    Nick,
    Offline,
    Online,
    Register,
    Who,
)
from libbatchat.adapters import aio
from tests.services import (  # noqa: F401
    PostgresServer,
    RedisServer,
    postgres_server,
    redis_server,
)
from tests.test_cluster_program import At, ana_bob_cy, nodes
from tests.test_cluster_redis import (
    PW,
    WAIT,
    ask,
    barrier,
    cluster,
    login,
    push,
    quiet,
    run,
)
from tests.test_server_program import Program, programs  # noqa: F401

HOST = "127.0.0.1"


def test_redis_unreachable_then_back(
    redis_server: RedisServer,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def test(url: str) -> None:
        async with cluster(url, 3) as (a, b, c):
            ana = await login(a, "Ana")
            amy = await login(a, "Amy", ana)
            bob = await login(b, "Bob", ana, amy)
            cy = await login(c, "Cy", ana, amy, bob)
            await ask(cy, Join(room="#R"))
            await barrier(cy, ana)
            await ask(ana, Join(room="#R"))
            assert await push(cy) == Joined(room="#R", user="Ana")
            redis_server.pause()
            # A name cannot be checked against the other nodes: refused.
            late = await a.client()
            assert (await late.request(Nick(nick="Late"))).code == 710
            # Node A serves its own clients; the others' are out of reach.
            assert (await ana.request(Chat(target="amy", text="local"))).code == 215
            got = await push(amy)
            assert isinstance(got, Message) and got.text == "local"
            assert (await ana.request(Chat(target="cy", text="far"))).code == 216
            await bob.close()  # its OFFLINE cannot cross now
            redis_server.pause(False)
            # Back: the nodes trade states; Bob is gone everywhere, once.
            for x in (ana, amy, cy):
                assert await push(x) == Offline(user="Bob")
            for x in (ana, amy, cy):
                assert await ask(x, Who()) == "Amy Ana Cy"
                assert await ask(x, Who(room="#r")) == "Ana Cy"
            # No name is online twice: each was claimed again in Redis.
            for node in (a, b, c):
                await node.bus.reachable()  # each found Redis again itself
            for node, name in ((c, "ana"), (a, "cy"), (b, "AMY")):
                other = await node.client()
                assert (await other.request(Nick(nick=name))).code == 705
            assert (await late.request(Nick(nick="Late"))).code == 218
            for x in (ana, amy, cy):
                got = await push(x)
                assert got.user == "Late", got  # type: ignore[union-attr]
            assert (await ana.request(Chat(target="cy", text="far"))).code == 215
            assert (await push(cy)).text == "far"  # type: ignore[union-attr]
            for x in (ana, amy, cy):
                await quiet(x)  # and nobody flickered offline and back

    with caplog.at_level(logging.WARNING, logger="libbatchat.adapters.redis"):
        run(redis_server, test)
    said = [r.getMessage() for r in caplog.records]
    assert any("Redis unreachable" in m and "serving this node's" in m for m in said)
    assert any("Redis is back: resynchronizing" in m for m in said)


def test_a_frozen_node_is_judged_gone_then_comes_back(
    redis_server: RedisServer,  # noqa: F811
    programs: list[Program],  # noqa: F811
    tmp_path: Path,
) -> None:
    """A node stopped (SIGSTOP, a frozen VM) beyond the ttl: the others see
    its users go; thawed, it finds itself forgotten and they come back."""
    ports = nodes(redis_server, programs, tmp_path, 3)

    async def test(_url: str) -> None:
        try:
            (_, _, c), (ana, bob, cy) = await ana_bob_cy(ports)
            programs[1].proc.send_signal(signal.SIGSTOP)
            assert await push(ana) == Left(room="#R", user="Bob")
            for x in (ana, cy):
                assert await push(x) == Offline(user="Bob")
            programs[1].proc.send_signal(signal.SIGCONT)
            for x in (ana, cy):
                assert await push(x) == Online(user="Bob")
            assert await push(ana) == Joined(room="#R", user="Bob")
            for x in (ana, bob, cy):
                assert await ask(x, Who()) == "Ana Bob Cy"
                assert await ask(x, Who(room="#r")) == "Ana Bob"
            # Bob's name is his node's again in Redis, and he is reachable.
            other = await c.client()
            assert (await other.request(Nick(nick="bob"))).code == 705
            assert (await cy.request(Chat(target="bob", text="back?"))).code == 215
            assert (await push(bob)).text == "back?"  # type: ignore[union-attr]
            for x in (ana, bob, cy):
                await quiet(x)
        finally:
            await At.close_all()

    run(redis_server, test)


def test_one_account_registered_on_two_nodes_at_once(
    redis_server: RedisServer,  # noqa: F811
    postgres_server: PostgresServer,  # noqa: F811
    programs: list[Program],  # noqa: F811
    tmp_path: Path,
) -> None:
    ports = nodes(redis_server, programs, tmp_path, 2, postgres_server.url)

    async def test(_url: str) -> None:
        clients = [await aio.Client.connect(HOST, p) for p in ports for _ in range(3)]
        try:
            for round in range(5):
                name = f"Same{round}"
                replies = await asyncio.gather(
                    *(c.request(Register(user=name, password=PW)) for c in clients)
                )
                # One creates it; the others are told it is taken.
                assert sorted(r.code for r in replies) == [213] + [703] * 5
        finally:
            for c in clients:
                await c.close()

    run(redis_server, test)


def test_postgresql_killed_while_nodes_register(
    redis_server: RedisServer,  # noqa: F811
    postgres_server: PostgresServer,  # noqa: F811
    programs: list[Program],  # noqa: F811
    tmp_path: Path,
) -> None:
    """Registrations on two nodes while PostgreSQL is killed (-9): each is
    answered (213 or ERRO-710), and every 213 survives the restart."""
    from libbatchat.adapters.postgres import PostgresStore

    ports = nodes(redis_server, programs, tmp_path, 2, postgres_server.url)
    acknowledged: list[str] = []
    enough = asyncio.Event()

    async def register(client: aio.Client, who: str) -> list[int]:
        codes = []
        for i in range(10_000):
            name = f"{who}{i}"
            reply = await client.request(Register(user=name, password=PW))
            assert reply.code in (213, 710), reply
            codes.append(reply.code)
            if reply.code == 213:
                acknowledged.append(name)
                if len(acknowledged) == 20:
                    enough.set()
            elif codes.count(710) == 3:
                break
        return codes

    async def test(_url: str) -> None:
        clients = [await aio.Client.connect(HOST, p) for p in ports]
        try:
            work = [
                asyncio.ensure_future(register(c, f"u{n}x"))
                for n, c in enumerate(clients)
            ]
            async with asyncio.timeout(WAIT):
                await enough.wait()
            await asyncio.to_thread(postgres_server.stop, signal.SIGKILL)
            results = await asyncio.gather(*work)
            assert all(710 in codes for codes in results), results
            await asyncio.to_thread(postgres_server.start)
            # The next registration and login work again, on either node.
            for n, c in enumerate(clients):
                name = f"After{n}"
                assert (await c.request(Register(user=name, password=PW))).code == 213
                acknowledged.append(name)
            assert (
                await clients[1].request(Login(user=acknowledged[0], password=PW))
            ).code == 214
        finally:
            for c in clients:
                await c.close()

    run(redis_server, test)
    store = PostgresStore(postgres_server.url)
    try:
        assert set(acknowledged) <= set(store.names())
    finally:
        store.close()
