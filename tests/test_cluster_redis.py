"""Three asyncio nodes on one real Redis, as one chat (in one process)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError

from libbatchat import (
    Chat,
    Closing,
    Join,
    Joined,
    Left,
    Login,
    MemoryStore,
    Message,
    Nick,
    Offline,
    Online,
    Part,
    Ping,
    Push,
    Quit,
    Register,
    Rooms,
    Who,
)
from libbatchat._cluster import Cluster
from libbatchat.adapters import aio
from libbatchat.adapters.redis_bus import RedisBus, node_id
from tests.adapters_harness import FAST
from tests.services import RedisServer, redis_server  # noqa: F401

WAIT = 10.0
PW = "pw pw"
NAMES: dict[aio.Client, str] = {}


class Node:
    def __init__(self, url: str, store: MemoryStore) -> None:
        self.server = aio.Server(
            "127.0.0.1", 0, limits=FAST, accounts=store, cluster=Cluster(node_id())
        )
        self.bus = RedisBus(url, self.server, heartbeat=0.25, ttl=2.5)
        self.clients: list[aio.Client] = []

    async def start(self) -> None:
        await self.bus.start()
        await self.server.start()

    async def close(self) -> None:
        for client in self.clients:
            await client.close()
        await self.server.close()
        await self.bus.close()

    async def client(self) -> aio.Client:
        client = await aio.Client.connect("127.0.0.1", self.server.port)
        self.clients.append(client)
        return client


@contextlib.asynccontextmanager
async def cluster(url: str, n: int = 3) -> AsyncIterator[list[Node]]:
    store = MemoryStore()
    nodes = [Node(url, store) for _ in range(n)]
    for node in nodes:
        await node.start()
    try:
        yield nodes
    finally:
        for node in nodes:
            await node.close()


def run(redis: RedisServer, test: Callable[[str], Awaitable[None]]) -> None:
    async def main() -> None:
        async with asyncio.timeout(60):
            await test(redis.url)

    asyncio.run(main())


async def push(client: aio.Client) -> Push:
    async with asyncio.timeout(WAIT):
        item = await client.pushes.get()
    assert item is not None, "connection ended"
    return item


async def messages(client: aio.Client, n: int) -> list[str]:
    got = []
    for _ in range(n):
        p = await push(client)
        assert isinstance(p, Message), p
        got.append(p.text)
    return got


async def quiet(client: aio.Client) -> None:
    """Nothing is queued for ``client`` once its PING is answered."""
    await client.request(Ping(token="q"))
    assert client.pushes.empty(), client.pushes


async def login(node: Node, name: str, *others: aio.Client) -> aio.Client:
    c = await node.client()
    assert (await c.request(Register(user=name, password=PW))).code == 213
    assert (await c.request(Login(user=name, password=PW))).code == 214
    for other in others:
        assert await push(other) == Online(user=name)
    NAMES[c] = name
    return c


async def barrier(sender: aio.Client, *others: aio.Client) -> None:
    """Once a DM from ``sender`` reached ``others``, so did every event its
    node published before it (one node's events arrive in order)."""
    for other in others:
        chat = Chat(target=NAMES[other], text="barrier")
        assert (await sender.request(chat)).code == 215
        assert await messages(other, 1) == ["barrier"]


async def ask(client: aio.Client, command: Any) -> str:
    return (await client.request(command)).text


def test_names_are_the_cluster_s(redis_server: RedisServer) -> None:  # noqa: F811
    async def test(url: str) -> None:
        async with cluster(url) as (a, b, c):
            clients = [await n.client() for n in (a, b, c) for _ in range(3)]
            replies = await asyncio.gather(
                *(x.request(Nick(nick="Zed")) for x in clients)
            )
            assert sorted(r.code for r in replies) == [218] + [705] * 8
            winner = clients[[r.code for r in replies].index(218)]
            watch = await c.client()
            assert (await watch.request(Nick(nick="Watch"))).code == 218
            await winner.request(Quit())
            # Released before its OFFLINE is published: once that is seen,
            # the name is free anywhere.
            assert await push(watch) == Offline(user="Zed")
            late = await c.client()
            assert (await late.request(Nick(nick="zed"))).code == 218

    run(redis_server, test)


def test_one_chat_across_three_nodes(redis_server: RedisServer) -> None:  # noqa: F811
    async def test(url: str) -> None:
        async with cluster(url) as (a, b, c):
            ana = await login(a, "Ana")
            bob = await login(b, "Bob", ana)
            cy = await login(c, "Cy", ana, bob)
            for x in (ana, bob, cy):
                assert await ask(x, Who()) == "Ana Bob Cy"
            assert await ask(ana, Join(room="#Sala")) == "#Sala"
            await barrier(ana, bob, cy)
            assert await ask(bob, Join(room="#sala")) == "#Sala"
            assert await push(ana) == Joined(room="#Sala", user="Bob")
            assert await ask(cy, Join(room="#SALA")) == "#Sala"
            assert await push(ana) == Joined(room="#Sala", user="Cy")
            assert await push(bob) == Joined(room="#Sala", user="Cy")
            for x in (ana, bob, cy):
                assert await ask(x, Rooms()) == "#Sala=3"
                assert await ask(x, Who(room="#sala")) == "Ana Bob Cy"

            for i in range(50):
                assert (
                    await ana.request(Chat(target="#Sala", text=f"a{i}"))
                ).code == 215
                assert (
                    await bob.request(Chat(target="#Sala", text=f"b{i}"))
                ).code == 215
            got_cy = await messages(cy, 100)
            assert [t for t in got_cy if t[0] == "a"] == [f"a{i}" for i in range(50)]
            assert [t for t in got_cy if t[0] == "b"] == [f"b{i}" for i in range(50)]
            assert await messages(ana, 50) == [f"b{i}" for i in range(50)]
            assert await messages(bob, 50) == [f"a{i}" for i in range(50)]

            assert (await cy.request(Chat(target="*", text="all"))).code == 215
            assert (await ana.request(Chat(target="cy", text="dm"))).code == 215
            assert await messages(ana, 1) == await messages(bob, 1) == ["all"]
            dm = await push(cy)
            assert isinstance(dm, Message) and (dm.sender, dm.address) == ("Ana", "@")
            assert (await ana.request(Chat(target="nobody", text="x"))).code == 216
            for x in (ana, bob, cy):
                await quiet(x)  # every message came once

            assert await ask(cy, Part(room="#sala")) == "#Sala"
            assert await push(ana) == Left(room="#Sala", user="Cy")
            assert await push(bob) == Left(room="#Sala", user="Cy")
            await bob.close()  # a dropped connection: the notices of SAIR
            assert await push(ana) == Left(room="#Sala", user="Bob")
            assert await push(ana) == Offline(user="Bob")
            assert await push(cy) == Offline(user="Bob")
            assert await ask(cy, Rooms()) == "#Sala=1"
            assert await ask(cy, Who()) == "Ana Cy"

    run(redis_server, test)


def test_a_node_that_shuts_down_lets_its_users_go(
    redis_server: RedisServer,  # noqa: F811
) -> None:
    async def test(url: str) -> None:
        async with cluster(url, 2) as (a, b):
            ana = await login(a, "Ana")
            bob = await login(b, "Bob", ana)
            await ask(bob, Join(room="#R"))
            await barrier(bob, ana)
            await ask(ana, Join(room="#R"))
            assert await push(bob) == Joined(room="#R", user="Ana")
            closing = asyncio.create_task(b.server.close())
            assert isinstance(await push(bob), Closing)
            await bob.close()
            await closing
            await b.bus.close()
            assert await push(ana) == Left(room="#R", user="Bob")
            assert await push(ana) == Offline(user="Bob")
            assert await ask(ana, Who()) == "Ana"
            assert await ask(ana, Rooms()) == "#R=1"
            assert (await ana.request(Chat(target="bob", text="x"))).code == 216
            c = await a.client()
            assert (await c.request(Login(user="bob", password=PW))).code == 214

    run(redis_server, test)


def test_close_ends_when_redis_turns_a_cancel_into_an_error(
    redis_server: RedisServer,  # noqa: F811
) -> None:
    async def test(url: str) -> None:
        node = Node(url, MemoryStore())
        real = node.bus._redis.pubsub

        def pubsub() -> Any:
            ps = real()

            async def get_message(**_: Any) -> None:
                try:
                    await asyncio.Event().wait()
                except asyncio.CancelledError:
                    # What redis-py does at times (its issues 2028, 2551).
                    raise RedisConnectionError("cancelled while reading") from None

            ps.get_message = get_message
            return ps

        node.bus._redis.pubsub = pubsub
        await node.start()
        # Waited for without cancelling it: a swallowed cancel cannot hide a hang.
        done, _ = await asyncio.wait([asyncio.create_task(node.close())], timeout=30)
        assert done, "close() did not end"

    run(redis_server, test)


def test_a_takeover_whose_take_redis_drops_ends_on_a_heartbeat(
    redis_server: RedisServer,  # noqa: F811
) -> None:
    async def test(url: str) -> None:
        async with cluster(url, 2) as (a, b):
            ana = await login(a, "Ana")
            real = b.bus._publish
            dropped: list[bytes] = []

            async def lose_the_first_take(batch: list[bytes]) -> None:
                # PUB/SUB is at most once: this "take" never reaches node a.
                if not dropped:
                    dropped.extend(d for d in batch if b'"k": "take"' in d)
                    batch = [d for d in batch if d not in dropped]
                await real(batch)

            b.bus._publish = lose_the_first_take  # type: ignore[method-assign]
            again = await b.client()
            reply = await asyncio.wait_for(
                again.request(Login(user="ana", password=PW)), WAIT
            )
            assert reply.code == 214
            assert len(dropped) == 1
            closing = await push(ana)
            assert isinstance(closing, Closing) and closing.reason == "taken-over"

    run(redis_server, test)
