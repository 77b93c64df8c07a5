"""batchat-repl's program: login flows, passwords, one-line failures."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from prompt_toolkit.input import PipeInput, create_pipe_input
from prompt_toolkit.output import DummyOutput

from frontends.repl.cli import Terminal, run
from frontends.repl.history import SafeHistory, data_dir, is_secret
from frontends.repl.render import ListSink
from libbatchat import Nick, Register
from libbatchat.adapters import aio
from libbatchat.client import Address
from tests.client_harness import (
    HOST,
    Servers,
    async_test,
    closed_port,
    within,
)

ROOT = Path(__file__).resolve().parent.parent


class Program:
    """``run()`` on a pipe: typed answers in, the sink and stderr out."""

    def __init__(self, tmp: Path, pipe: PipeInput) -> None:
        self.pipe = pipe
        self.sink = ListSink()
        self.stderr = io.StringIO()
        self.history = tmp / "history"
        self.terminal = Terminal(
            input=pipe,
            output=DummyOutput(),
            sink=self.sink,
            stderr=self.stderr,
            patch=False,
        )

    async def run(
        self,
        argv: Sequence[str],
        env: dict[str, str] | None = None,
        typed: str = "",
        then: str = "/quit\r",
    ) -> int:
        """Run with ``typed`` as the answers; ``then`` once logged in."""
        self.pipe.send_text(typed)
        started = self.sink.wait(lambda line: "logged in" in line.text)
        task = asyncio.ensure_future(
            run(
                argv,
                environ=env or {},
                terminal=self.terminal,
                history=SafeHistory(self.history),
            )
        )
        done, _ = await within(
            asyncio.wait(
                {task, asyncio.ensure_future(started)},
                return_when="FIRST_COMPLETED",
            )
        )
        if task not in done:
            self.pipe.send_text(then)
        return await within(task)


def where(address: Address) -> str:
    return f"{address.host}:{address.port}"


@async_test
async def test_guest_from_the_flag(tmp_path: Path) -> None:
    async with Servers() as servers:
        address = await servers.start()
        with create_pipe_input() as pipe:
            p = Program(tmp_path, pipe)
            assert (
                await p.run([where(address), "--nick", "ana", "--join", "geral"]) == 0
            )
            texts = p.sink.texts
            assert any("logged in as guest ana" in t for t in texts)
            assert any("you joined #geral" in t for t in texts)
            assert any("disconnected (quit)" in t for t in texts)
            assert p.stderr.getvalue() == ""


@async_test
async def test_account_with_the_password_from_the_environment(tmp_path: Path) -> None:
    async with Servers(tmp_path) as servers:
        address = await servers.start()
        env = {"BATCHAT_PASSWORD": "correct horse"}
        with create_pipe_input() as pipe:
            p = Program(tmp_path, pipe)
            argv = [where(address), "--user", "ana", "--register"]
            assert await p.run(argv, env) == 0
            assert any("logged in as ana" in t for t in p.sink.texts)
        with create_pipe_input() as pipe:
            p = Program(tmp_path, pipe)
            assert await p.run([where(address), "--user", "ana"], env) == 0
        with create_pipe_input() as pipe:
            p = Program(tmp_path, pipe)
            bad = {"BATCHAT_PASSWORD": "wrong"}
            assert await p.run([where(address), "--user", "ana"], bad) == 1
            assert p.stderr.getvalue() == (
                "batchat-repl: cannot log in: wrong user name or password\n"
            )


@async_test
async def test_masked_prompt_and_no_password_in_history(tmp_path: Path) -> None:
    async with Servers(tmp_path) as servers:
        address = await servers.start()
        with create_pipe_input() as pipe:
            p = Program(tmp_path, pipe)
            argv = [where(address), "--user", "bia", "--register"]
            # Registering asks twice; a mismatch asks again.
            typed = "s3cret!\rtypo\rs3cret!\rs3cret!\r"
            then = "ENTRAR bia s3cret!\r/quote NOVO x s3cret!\rhello\r/quit\r"
            assert await p.run(argv, typed=typed, then=then) == 0
            assert any("passwords differ" in t for t in p.sink.texts)
            assert any("logged in as bia" in t for t in p.sink.texts)
            assert any("already logged in" in t for t in p.sink.texts)
        saved = p.history.read_text(encoding="utf-8")
        assert "hello" in saved and "/quit" in saved
        assert "s3cret" not in saved
        assert all("s3cret" not in t for t in p.sink.texts)


@async_test
async def test_interactive_choices(tmp_path: Path) -> None:
    async with Servers(tmp_path) as servers:
        address = await servers.start()
        flows = [
            ("x\rg\rcarla\r", "logged in as guest carla"),
            ("r\rdavi\rpw\rpw\r", "logged in as davi"),
            ("l\rdavi\rpw\r", "logged in as davi"),
        ]
        for typed, expect in flows:
            with create_pipe_input() as pipe:
                p = Program(tmp_path, pipe)
                env = {"BATCHAT_PASSWORD": "ignored when asked"}
                assert await p.run([where(address)], env, typed=typed) == 0
                assert any(expect in t for t in p.sink.texts), p.sink.texts


@async_test
async def test_interactive_refusals_ask_again(tmp_path: Path) -> None:
    async with Servers(tmp_path) as servers:
        address = await servers.start()
        holder = await within(aio.Client.connect(HOST, address.port))
        assert (await holder.request(Register(user="eva", password="pw"))).ok
        assert (await holder.request(Nick(nick="taken"))).ok
        flows = [
            # wrong password, then the right one
            ("l\reva\rnope\rpw\r", "wrong user name or password", "logged in as eva"),
            # a nick online, then a free one
            ("g\rtaken\rfree\r", "taken is already online", "as guest free"),
            # a nick an account owns, then a free one
            ("g\reva\rfree2\r", "belongs to an account", "as guest free2"),
            # registering a name that exists, then another
            ("r\reva\rx\rx\rfiona\ry\ry\r", "already exists", "logged in as fiona"),
        ]
        for typed, refusal, expect in flows:
            with create_pipe_input() as pipe:
                p = Program(tmp_path, pipe)
                assert await p.run([where(address)], typed=typed) == 0
                texts = "\n".join(p.sink.texts)
                assert refusal in texts and expect in texts, texts
        await holder.close()


@async_test
async def test_flags_that_fail_say_so_in_one_line(tmp_path: Path) -> None:
    async with Servers() as servers:
        address = await servers.start()
        holder = await within(aio.Client.connect(HOST, address.port))
        assert (await holder.request(Nick(nick="ana"))).ok
        cases = [
            ([where(address), "--nick", "ana"], "cannot log in: ana is already online"),
            ([where(address), "--register"], "--register needs --user NAME"),
            ([where(address), "--nick", "a b"], "invalid nickname: "),
            (["host:port"], "'host:port': the port must be a number"),
            ([where(address), "--nick", "x", "--join", "#a b"], "--join: "),
            (
                [f"{HOST}:{closed_port()}", "--nick", "x"],
                "cannot reach 127.0.0.1:",
            ),
        ]
        for argv, message in cases:
            with create_pipe_input() as pipe:
                p = Program(tmp_path, pipe)
                assert await p.run(argv) == 1, argv
                err = p.stderr.getvalue()
                assert err.startswith("batchat-repl: ") and message in err, err
                assert err.count("\n") == 1
        await holder.close()


@async_test
async def test_the_environment_names_the_server(tmp_path: Path) -> None:
    async with Servers() as servers:
        address = await servers.start()
        with create_pipe_input() as pipe:
            p = Program(tmp_path, pipe)
            env = {"BATCHAT_HOST": HOST, "BATCHAT_PORT": str(address.port)}
            assert await p.run(["--nick", "envy"], env) == 0


def test_secret_lines_and_the_data_dir(tmp_path: Path) -> None:
    for line in ("ENTRAR a b", "login a b", " NOVO a b", "/quote register a b"):
        assert is_secret(line)
    for line in ("hello", "", "CHAT a ENTRAR", "/who"):
        assert not is_secret(line)
    assert data_dir({"XDG_DATA_HOME": "/x"}) == Path("/x/batchat")
    assert data_dir({}) == Path.home() / ".local/share/batchat"
    history = SafeHistory(tmp_path / "deep" / "h")
    history.append_string("ENTRAR ana pw")
    history.append_string("ok")
    assert list(history.get_strings()) == ["ok"]


def test_the_real_program_exits_with_one_line_when_unreachable(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "XDG_DATA_HOME": str(tmp_path),
        "PYTHONPATH": str(ROOT),
    }
    unreachable = [f"{HOST}:{closed_port()}", "--nick", "x"]
    done = subprocess.run(
        [sys.executable, "-m", "frontends.repl", *unreachable],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("batchat-repl: cannot reach 127.0.0.1:")
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert (tmp_path / "batchat" / "repl.log").exists()
