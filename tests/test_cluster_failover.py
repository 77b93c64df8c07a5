"""The client layer across a cluster: a node killed, its clients move on.

Three ``batchat-server --cluster`` processes on one real Redis. A
``Client`` with an account and a bot (a guest, through the bot API) are
given nodes A and B; a watcher is on C. Node A is killed with SIGKILL: both
reconnect to B, log in again, rejoin their room, and the watcher sees them
leave and come back, as docs/cluster.md says, and talks to them.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable
from pathlib import Path

from libbatchat import (
    Chat,
    Join,
    Joined,
    Left,
    Login,
    Message,
    Offline,
    Online,
    Push,
    Register,
    Who,
)
from libbatchat.adapters import aio
from libbatchat.bot import Bot, Context
from libbatchat.client import (
    Account,
    Address,
    Backoff,
    Client,
    LoggedIn,
    RoomJoined,
    Update,
)
from tests.services import RedisServer, redis_server  # noqa: F401
from tests.test_cluster_program import nodes
from tests.test_cluster_redis import PW, WAIT, ask, push, run
from tests.test_server_program import Program, programs  # noqa: F401

HOST = "127.0.0.1"
# Quick retries: the test waits on events, never on these delays.
QUICK = Backoff(initial=0.05, maximum=0.2)


async def pushes_until(
    watch: aio.Client, want: dict[str, list[Push]], of: Callable[[Push], str | None]
) -> None:
    """Read ``watch``'s pushes until each user's notices in ``want`` came,
    in that order per user (two users' notices may interleave)."""
    seen: dict[str, list[Push]] = {user: [] for user in want}
    while any(len(seen[u]) < len(want[u]) for u in want):
        try:
            p = await push(watch)
        except TimeoutError:
            raise AssertionError(f"only {seen} came") from None
        user = of(p)
        assert user in seen, p
        seen[user].append(p)
    assert seen == want


def notice_user(p: Push) -> str | None:
    return p.user if isinstance(p, Online | Offline | Joined | Left) else None


def said(text: str) -> Callable[[Update], bool]:
    return lambda u: isinstance(u, Message) and u.text == text


def test_clients_given_two_nodes_fail_over_to_the_other(
    redis_server: RedisServer,  # noqa: F811
    programs: list[Program],  # noqa: F811
    tmp_path: Path,
) -> None:
    a, b, c = nodes(redis_server, programs, tmp_path, 3)
    servers = [Address(HOST, a), Address(HOST, b)]
    heard: asyncio.Queue[str] = asyncio.Queue()
    bot = Bot("Botty", rooms=["#R"])

    @bot.command("echo")
    async def echo(ctx: Context, *, text: str) -> str:
        return text

    @bot.on_message
    async def listen(ctx: Context) -> None:
        heard.put_nowait(ctx.text)

    async def test(_url: str) -> None:
        watch = await aio.Client.connect(HOST, c)
        ana = Client(
            servers,
            identity=Account("Ana", PW, register=True),
            rooms=["#R"],
            backoff=QUICK,
        )
        bot_client = bot.make_client(servers, backoff=QUICK)
        try:
            assert (await watch.request(Register(user="Cy", password=PW))).code == 213
            assert (await watch.request(Login(user="Cy", password=PW))).code == 214
            assert await ask(watch, Join(room="#R")) == "#R"
            async with asyncio.timeout(WAIT):
                await ana.start()
                await bot.start(bot_client)
            arrived = [Online(user="Ana"), Joined(room="#R", user="Ana")]
            await pushes_until(watch, {"Ana": arrived}, notice_user)
            arrived_bot = [Online(user="Botty"), Joined(room="#R", user="Botty")]
            await pushes_until(watch, {"Botty": arrived_bot}, notice_user)
            assert ana.server == bot_client.server == servers[0]

            back = [
                asyncio.ensure_future(x.wait_for(rejoined, timeout=WAIT))
                for x in (ana, bot_client)
            ]
            logged = ana.expect(LoggedIn)
            os.kill(programs[0].proc.pid, signal.SIGKILL)
            assert (await asyncio.wait_for(logged, WAIT)).again
            await asyncio.wait_for(asyncio.gather(*back), WAIT)
            assert ana.server == bot_client.server == servers[1]
            # What Cy sees of each: gone (within ttl + heartbeat), then back.
            gone_and_back = {
                user: [
                    Left(room="#R", user=user),
                    Offline(user=user),
                    Online(user=user),
                    Joined(room="#R", user=user),
                ]
                for user in ("Ana", "Botty")
            }
            await pushes_until(watch, gone_and_back, notice_user)
            assert await ask(watch, Who()) == "Ana Botty Cy"
            assert await ask(watch, Who(room="#r")) == "Ana Botty Cy"
            assert ana.snapshot().rooms  # the client's own view is rebuilt

            # Cy reaches both on their new node: a DM, the room, a command.
            dm = ana.expect(said("dm to Ana"))
            assert (
                await watch.request(Chat(target="ana", text="dm to Ana"))
            ).code == 215
            assert (await asyncio.wait_for(dm, WAIT)).address == "@"
            in_room = ana.expect(said("hello #R"))
            assert (await watch.request(Chat(target="#R", text="hello #R"))).code == 215
            assert (await asyncio.wait_for(in_room, WAIT)).address == "#R"
            assert await asyncio.wait_for(heard.get(), WAIT) == "hello #R"
            assert (
                await watch.request(Chat(target="#R", text="!echo back"))
            ).code == 215
            echoed = await messages_from(watch, "Botty")
            assert (echoed.address, echoed.text) == ("#R", "back")
            assert (await ana.say("#R", "from Ana")).code == 215
            from_ana = await messages_from(watch, "Ana")
            assert (from_ana.address, from_ana.text) == ("#R", "from Ana")
        finally:
            await bot.stop()
            await ana.close()
            await watch.close()

    run(redis_server, test)


def rejoined(u: Update) -> bool:
    return isinstance(u, RoomJoined) and u.rejoined


async def messages_from(watch: aio.Client, sender: str) -> Message:
    """The next message ``watch`` gets, which must be from ``sender``."""
    p = await push(watch)
    assert isinstance(p, Message) and p.sender == sender, p
    return p
