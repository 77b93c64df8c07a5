"""batchat-repl and batchat-bot given two cluster nodes: a kill -9 of one.

The REPL (``batchat-repl A B``, run in this process on a pipe) and the bot
program (``batchat-bot --server A --server B``, a process) both start on
node A. A is killed with SIGKILL; both come back on B, logged in and in
their room, and a user on B talks to them there.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from frontends.repl.cli import Terminal, run
from frontends.repl.history import SafeHistory
from frontends.repl.render import ListSink
from libbatchat import Chat, Join, Joined, Message, Nick, Offline, Online
from libbatchat.adapters import aio
from tests.services import RedisServer, redis_server  # noqa: F401
from tests.test_bot_program import BOT, EXAMPLES, running
from tests.test_cluster_failover import HOST
from tests.test_cluster_program import nodes
from tests.test_cluster_redis import WAIT, push
from tests.test_cluster_redis import run as run_async
from tests.test_server_program import Program, programs  # noqa: F401


async def until(watch: aio.Client, want: object) -> None:
    """Skip ``watch``'s pushes until ``want`` (bounded by push()'s timeout)."""
    while await push(watch) != want:
        pass


def test_repl_and_bot_programs_fail_over_to_the_next_server(
    redis_server: RedisServer,  # noqa: F811
    programs: list[Program],  # noqa: F811
    tmp_path: Path,
) -> None:
    a, b = nodes(redis_server, programs, tmp_path, 2)
    given = [f"{HOST}:{a}", f"{HOST}:{b}"]
    robot = Program(
        tmp_path,
        str(EXAMPLES / "echo.py"),
        "--server", given[0],
        "--server", given[1],
        "--user", "robo",
        "--register",
        env={"BATCHAT_PASSWORD": "robo's secret", "XDG_DATA_HOME": str(tmp_path)},
        command=BOT,
    )  # fmt: skip
    programs.append(robot)

    async def test(_url: str) -> None:
        watch = await aio.Client.connect(HOST, b)
        assert (await watch.request(Nick(nick="Wes"))).code == 218
        assert (await watch.request(Join(room="#geral"))).code == 222
        sink = ListSink()
        with create_pipe_input() as pipe:
            terminal = Terminal(
                input=pipe, output=DummyOutput(), sink=sink, patch=False
            )
            repl = asyncio.ensure_future(
                run(
                    [*given, "--nick", "ana", "--join", "geral"],
                    environ={"XDG_DATA_HOME": str(tmp_path)},
                    terminal=terminal,
                    history=SafeHistory(tmp_path / "history"),
                    log_path=tmp_path / "repl.log",
                )
            )
            try:
                async with asyncio.timeout(WAIT):
                    await sink.wait(f"connected to {given[0]}")
                    await sink.wait("you joined #geral")
                await asyncio.to_thread(running, robot)
                await until(watch, Online(user="robo"))
                since = len(sink.lines)
                os.kill(programs[0].proc.pid, signal.SIGKILL)
                async with asyncio.timeout(WAIT):
                    await sink.wait(f"connected to {given[1]}", since=since)
                    await sink.wait("logged in again as guest ana", since=since)
                    await sink.wait("rejoined #geral", since=since)
                # The bot's account comes back on B too, and answers there.
                await until(watch, Offline(user="robo"))
                await until(watch, Online(user="robo"))
                await until(watch, Joined(room="#geral", user="robo"))
                chat = Chat(target="#geral", text="!echo still here")
                assert (await watch.request(chat)).code == 215
                p = await push(watch)
                while not (isinstance(p, Message) and p.sender == "robo"):
                    p = await push(watch)  # Ana's notices may come between
                assert p.text == "still here"
                dm = Chat(target="ana", text="hello again")
                assert (await watch.request(dm)).code == 215
                async with asyncio.timeout(WAIT):
                    await sink.wait("hello again", since=since)
                pipe.send_text("/quit\r")
                assert await asyncio.wait_for(repl, WAIT) == 0
            finally:
                repl.cancel()
                await watch.close()
        robot.proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(robot.wait) == 0

    run_async(redis_server, test)
