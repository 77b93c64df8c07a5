"""The real batchat-bot program, as a process, against a real batchat-server."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from libbatchat import Chat, Join, Message, Nick, Ping, Push, Who
from libbatchat.adapters import threaded
from tests.adapters_harness import HOST, WAIT
from tests.client_harness import closed_port
from tests.test_server_program import FAST_FLAGS, Program, program_command

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
BOT = program_command("batchat-bot", "frontends.bot")
STARTUP = 6 * WAIT
NAMES = ["dice", "echo", "greeter", "logger", "poll", "bridge"]


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[list[Program]]:
    started: list[Program] = []
    yield started
    for program in started:
        program.stop()


def server(processes: list[Program], tmp_path: Path) -> Program:
    program = Program(
        tmp_path, "--port", "0", "--db", str(tmp_path / "accounts.db"), *FAST_FLAGS
    )
    processes.append(program)
    program.listening()
    return program


def bot(
    processes: list[Program],
    tmp_path: Path,
    *args: str,
    env: dict[str, str] | None = None,
) -> Program:
    program = Program(tmp_path, *args, env=env, command=BOT)
    processes.append(program)
    return program


def running(program: Program) -> str:
    """Wait for the bot's 'running as' line; its name."""
    # Several interpreters start at once on a shared machine: allow longer.
    line = program._stdout.get(timeout=STARTUP)
    assert line is not None, f"exited: {program.stderr()}"
    assert line.startswith("batchat-bot running as "), line
    return line.split()[3]


def barrier(srv: Program) -> None:
    """A round trip on a new connection: the server has handled what came before."""
    with threaded.Client.connect(HOST, srv.port) as probe:
        assert probe.request(Ping(token="barrier")).text == "barrier"


def wait_push(client: threaded.Client, test: Callable[[Push], bool]) -> Push:
    while True:
        push = client.pushes.get(timeout=WAIT)
        assert push is not None, "the connection ended"
        if test(push):
            return push


def said(sender: str, text: str) -> Callable[[Push], bool]:
    return lambda p: isinstance(p, Message) and p.sender == sender and text in p.text


def test_every_example_runs_with_batchat_bot_against_batchat_server(
    processes: list[Program], tmp_path: Path
) -> None:
    srv = server(processes, tmp_path)
    env = {
        "BATCHAT_HOST": HOST,
        "BATCHAT_PORT": str(srv.port),
        "BATCHAT_LOG_FILE": str(tmp_path / "room.log"),
        "BRIDGE_ROOMS": "#geral,#outra",
    }
    bots = {
        name: bot(processes, tmp_path, str(EXAMPLES / f"{name}.py"), env=env)
        for name in NAMES
    }
    assert sorted(running(p) for p in bots.values()) == sorted(NAMES)
    with (
        threaded.Client.connect(HOST, srv.port) as ana,
        threaded.Client.connect(HOST, srv.port) as bruno,
    ):
        assert bruno.request(Nick(nick="bruno")).ok
        assert bruno.request(Join(room="#outra")).ok
        assert ana.request(Nick(nick="ana")).ok
        assert set(NAMES) <= set(ana.request(Who()).names)
        assert ana.request(Join(room="#geral")).ok
        wait_push(ana, said("greeter", "welcome to #geral, ana"))
        ana.request(Chat(target="#geral", text="!roll 2d6"))
        wait_push(ana, said("dice", "ana rolled 2d6:"))
        wait_push(bruno, said("bridge", "[#geral] <ana> !roll 2d6"))
        ana.request(Chat(target="echo", text="eco?"))
        wait_push(ana, said("echo", "eco?"))
        ana.request(Chat(target="#geral", text="!last 5"))
        wait_push(ana, said("logger", "<ana> !roll 2d6"))
        ana.request(Chat(target="#geral", text="!poll ok? | sim | não"))
        wait_push(ana, said("poll", "poll: ok? 1) sim, 2) não"))
        # SIGINT and SIGTERM both say goodbye and exit 0, without a traceback.
        for name, program in bots.items():
            program.proc.send_signal(
                signal.SIGINT if name == "dice" else signal.SIGTERM
            )
            assert program.wait() == 0, program.stderr()
            assert "Traceback" not in program.stderr()
    barrier(srv)
    log = srv.stderr()
    for name in NAMES:
        assert f"{name} logged out (quit)" in log


def test_account_identity_from_flags_and_environment(
    processes: list[Program], tmp_path: Path
) -> None:
    srv = server(processes, tmp_path)
    env = {"BATCHAT_PASSWORD": "correct horse", "BATCHAT_JOIN": "#um,#dois"}
    echo = str(EXAMPLES / "echo.py")
    program = bot(
        processes, tmp_path, echo, "--server", f"{HOST}:{srv.port}",
        "--user", "robo", "--register", "--join", "#tres", env=env,
    )  # fmt: skip
    assert running(program) == "robo"
    with threaded.Client.connect(HOST, srv.port) as ana:
        ana.request(Nick(nick="ana"))
        for room in ("#um", "#dois", "#tres", "#geral"):
            assert "robo" in ana.request(Who(room=room)).names
    program.proc.send_signal(signal.SIGTERM)
    assert program.wait() == 0


def run_bot(
    *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BATCHAT_")}
    return subprocess.run(
        [*BOT, *args],
        capture_output=True,
        check=False,
        text=True,
        timeout=WAIT,
        env={**clean, **(env or {})},
    )


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    # Log lines may come before; the error itself is one line, and the last.
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("batchat-bot: error: ")]
    assert errors == lines[-1:], done.stderr
    return errors[0]


def test_a_file_with_no_bot_is_one_clear_line(tmp_path: Path) -> None:
    empty = tmp_path / "nothing.py"
    empty.write_text("x = 1\n")
    done = run_bot(str(empty))
    assert done.returncode == 2
    assert one_line(done).endswith("nothing.py: no bot in it (define bot = Bot(...))")
    done = run_bot(str(tmp_path / "missing.py"))
    assert done.returncode == 2 and "no such file" in one_line(done)
    done = run_bot("examples.nope_not_here")
    assert done.returncode == 2 and "no such module" in one_line(done)
    broken = tmp_path / "broken.py"
    broken.write_text("from libbatchat.bot import Bot\nbot = Bot(\n")
    done = run_bot(str(broken))
    assert done.returncode == 1
    assert re.search(r"broken\.py:\d+: '\(' was never closed$", one_line(done))
    failing = tmp_path / "failing.py"
    failing.write_text("from libbatchat.bot import Bot\n\nbot = Bot(prefix='')\n")
    done = run_bot(str(failing))
    assert done.returncode == 1
    assert re.search(r"failing\.py:3: ValueError: the prefix", one_line(done))


def test_bad_identity_and_unreachable_server_are_one_line(tmp_path: Path) -> None:
    echo = str(EXAMPLES / "echo.py")
    done = run_bot(echo, "--user", "robo")
    assert done.returncode == 1 and "BATCHAT_PASSWORD" in one_line(done)
    done = run_bot(echo, "--server", f"{HOST}:{closed_port()}")
    assert done.returncode == 1 and "cannot reach" in one_line(done)
    done = run_bot(echo, "--server", "[::1")
    assert done.returncode == 1 and "missing ']'" in one_line(done)


def test_a_bot_file_runs_by_itself_with_run_forever(
    processes: list[Program], tmp_path: Path
) -> None:
    srv = server(processes, tmp_path)
    script = tmp_path / "alone.py"
    script.write_text(
        "import sys\n"
        "from libbatchat.bot import Bot\n"
        "bot = Bot('alone', rooms=['#geral'])\n"
        "@bot.on_ready\n"
        "def ready(event):\n"
        "    print('batchat-bot running as', event.name, flush=True)\n"
        "@bot.command('ping')\n"
        "def ping(ctx):\n"
        "    return 'pong'\n"
        "print(bot.run_forever(sys.argv[1]), flush=True)\n"
    )
    program = Program(
        tmp_path, str(script), f"{HOST}:{srv.port}", command=[sys.executable]
    )
    processes.append(program)
    assert running(program) == "alone"
    with threaded.Client.connect(HOST, srv.port) as ana:
        ana.request(Nick(nick="ana"))
        ana.request(Join(room="#geral"))
        ana.request(Chat(target="#geral", text="!ping"))
        wait_push(ana, said("alone", "pong"))
    program.proc.send_signal(signal.SIGTERM)
    assert program.wait() == 0
    assert program._stdout.get(timeout=WAIT) == "quit\n"
    assert "Traceback" not in program.stderr()
    barrier(srv)
    assert "alone logged out (quit)" in srv.stderr()


def test_cafile_without_tls_is_one_line() -> None:
    done = run_bot(str(EXAMPLES / "echo.py"), "--cafile", "x.pem")
    assert done.returncode == 1 and "--cafile needs --tls" in one_line(done)
