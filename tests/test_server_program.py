"""The real batchat-server program, run as a process on both adapters."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

import pytest

from libbatchat import Closing, Greeting, Login, Nick, Register, Reply, Who
from libbatchat._config import describe
from libbatchat._names import fold
from libbatchat.adapters import threaded
from tests.adapters_harness import ADAPTERS, HOST, WAIT, RawClient, adapter_flags


def program_command(script: str, module: str) -> list[str]:
    """The installed console script, or the module's main() run by this Python."""
    installed = Path(sys.executable).with_name(script)
    if installed.exists():
        return [str(installed)]
    code = f"import sys; from {module} import main; sys.exit(main())"
    return [sys.executable, "-c", code]


COMMAND = program_command("batchat-server", "frontends.server")
# Fast hashing and no flood control: these tests are about the process.
FAST_FLAGS = [
    "--scrypt-n", "16",
    "--burst", "100000",
    "--rate", "1000000",
    "--lines-before-login", "100000",
]  # fmt: skip
LISTENING = re.compile(r"listening on \S+:(\d+)")


def _lines(stream: IO[str], into: queue.Queue[str | None]) -> None:
    for line in stream:
        into.put(line)
    into.put(None)


class Program:
    """One batchat-server process; stderr goes to a file so it never blocks."""

    def __init__(
        self,
        tmp_path: Path,
        *args: str,
        env: dict[str, str] | None = None,
        prefix: Sequence[str] = (),
        command: list[str] = COMMAND,
    ) -> None:
        self.stderr_path = tmp_path / f"stderr-{os.urandom(4).hex()}.log"
        self._stderr = self.stderr_path.open("w")
        self.proc = subprocess.Popen(
            [*prefix, *command, *args],
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            env={**os.environ, **(env or {})},
        )
        assert self.proc.stdout is not None
        self._stdout: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(
            target=_lines, args=(self.proc.stdout, self._stdout), daemon=True
        )
        self._reader.start()
        self.port = 0

    def listening(self) -> int:
        """Wait for the 'listening' line; the port it names."""
        line = self._stdout.get(timeout=WAIT)
        assert line is not None, f"exited: {self.stderr()}"
        found = LISTENING.search(line)
        assert found, line
        self.port = int(found.group(1))
        return self.port

    def wait(self) -> int:
        return self.proc.wait(WAIT)

    def stderr(self) -> str:
        self._stderr.flush()
        return self.stderr_path.read_text()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(WAIT)
        # The process is gone, so its stdout ends and the reader returns.
        self._reader.join(WAIT)
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        self._stderr.close()
        # uvloop's warning (shown under PYTHONDEVMODE, as tox runs) for a
        # libuv handle freed or left open at the loop's close: nothing of the
        # server's may outlive its loop, on --uvloop as on asyncio's own.
        assert "unclosed resource" not in self.stderr_path.read_text()


@pytest.fixture
def programs(tmp_path: Path) -> Iterator[list[Program]]:
    started: list[Program] = []
    yield started
    for program in started:
        program.stop()


@pytest.fixture(params=ADAPTERS)
def adapter(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def launch(
    programs: list[Program], tmp_path: Path, adapter: str, db: Path, *extra: str
) -> Program:
    program = Program(
        tmp_path,
        "--port", "0",
        "--db", str(db),
        *adapter_flags(adapter),
        *FAST_FLAGS,
        *extra,
    )  # fmt: skip
    programs.append(program)
    program.listening()
    return program


def test_help_lists_every_limit() -> None:
    done = subprocess.run(
        [*COMMAND, "--help"], capture_output=True, text=True, timeout=WAIT, check=True
    )
    for text in ("--host", "0.0.0.0", "--max-line", "BATCHAT_MAX_LINE", "--uvloop"):
        assert text in done.stdout
    assert "--ping-interval" in done.stdout and "--no-exempt-loopback" in done.stdout


def test_server_doc_lists_every_limit() -> None:
    doc = (Path(__file__).resolve().parent.parent / "docs" / "server.md").read_text()
    for name, default, _help in describe():
        flag = "--" + name.replace("_", "-")
        assert f"`{flag}`" in doc or f"`{flag}` /" in doc, flag
        assert f"`BATCHAT_{name.upper()}`" in doc
        assert f"| {default} |" in doc


def test_flag_beats_environment_beats_default(
    programs: list[Program], tmp_path: Path
) -> None:
    env = {"BATCHAT_MAX_LINE": "2048", "BATCHAT_PING_INTERVAL": "70"}
    program = Program(
        tmp_path, "--port", "0", "--db", ":memory:", "--max-line", "1024", env=env
    )
    programs.append(program)
    with threaded.Client.connect(HOST, program.listening()) as client:
        greeting = client.greeting
    assert (greeting.max_line, greeting.ping) == (1024, 70.0)
    bad = subprocess.run(
        [*COMMAND, "--port", "0", "--db", ":memory:"],
        capture_output=True,
        check=False,
        text=True,
        timeout=WAIT,
        env={**os.environ, "BATCHAT_BURST": "lots"},
    )
    assert bad.returncode == 2
    assert "BATCHAT_BURST" in bad.stderr and "Traceback" not in bad.stderr


def test_uvloop_flag_falls_back_when_missing(
    programs: list[Program], tmp_path: Path
) -> None:
    program = launch(programs, tmp_path, "asyncio", tmp_path / "a.db", "--uvloop")
    with threaded.Client.connect(HOST, program.port) as client:
        assert client.request(Nick(nick="ana")).code == 218
    program.proc.send_signal(signal.SIGINT)
    assert program.wait() == 0
    log = program.stderr()
    assert "Traceback" not in log
    try:
        import uvloop  # noqa: F401
    except ImportError:
        assert "uvloop is not installed" in log


def test_sigterm_tells_every_client_and_exits_cleanly(
    programs: list[Program], tmp_path: Path, adapter: str
) -> None:
    program = launch(programs, tmp_path, adapter, tmp_path / "accounts.db")
    clients = [threaded.Client.connect(HOST, program.port) for _ in range(5)]
    try:
        assert clients[0].request(Register(user="ana", password="hunter2 x")).ok
        assert clients[0].request(Login(user="ana", password="hunter2 x")).ok
        for i, client in enumerate(clients[1:]):
            assert client.request(Nick(nick=f"guest{i}")).ok
        program.proc.send_signal(signal.SIGTERM)
        told = 0
        for client in clients:
            last = None
            for _ in range(100):
                push = client.pushes.get(timeout=WAIT)
                if push is None:
                    break
                last = push
            if last == Closing(reason="shutdown", text="server shutting down"):
                told += 1
        assert program.wait() == 0
    finally:
        for client in clients:
            client.close()
    log = program.stderr()
    print(f"[{adapter}] SIGTERM: {told} of {len(clients)} clients told CLOSING")
    assert told == len(clients)
    assert "Traceback" not in log
    assert "ana logged in" in log
    assert "hunter2" not in log
    # Every line is timestamped.
    stamp = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ")
    assert all(stamp.match(line) for line in log.splitlines())


def test_restart_keeps_every_account(
    programs: list[Program], tmp_path: Path, adapter: str
) -> None:
    db = tmp_path / "accounts.db"
    names = [f"user{i}" for i in range(20)]
    program = launch(programs, tmp_path, adapter, db)
    with threaded.Client.connect(HOST, program.port) as client:
        for name in names:
            assert client.request(Register(user=name, password=f"pw {name}")).ok
    program.proc.send_signal(signal.SIGTERM)
    assert program.wait() == 0
    program = launch(programs, tmp_path, adapter, db)
    with threaded.Client.connect(HOST, program.port) as client:
        for name in names:
            assert client.request(Register(user=name, password="x")).code == 703
        reply = client.request(Login(user="user7", password="pw user7"))
        assert (reply.code, reply.text) == (214, "user7")


def test_sigkill_loses_no_acknowledged_registration(
    programs: list[Program], tmp_path: Path, adapter: str
) -> None:
    db = tmp_path / "accounts.db"
    acknowledged: list[str] = []
    for round_ in range(5):
        program = launch(programs, tmp_path, adapter, db)
        raw = RawClient(program.port)
        sum_before = len(acknowledged)
        names = [f"r{round_}n{i}" for i in range(400)]
        raw.send(*(Register(user=name, password="pw") for name in names))
        assert isinstance(raw.next_event(), Greeting)
        kill_at = 20 + 10 * round_
        replies = (raw.next_event() for _ in range(len(names) + 1))
        killed = False
        for name, event in zip(names, replies, strict=False):
            if event is None:
                break  # the stream ended: the process is gone
            assert isinstance(event, Reply) and event.code == 213
            acknowledged.append(name)
            if len(acknowledged) == sum_before + kill_at:
                program.proc.send_signal(signal.SIGKILL)
                killed = True
        if not killed:
            pytest.fail("every registration finished before the kill")
        raw.close()
        program.wait()
    with sqlite3.connect(db) as conn:
        stored = {row[0] for row in conn.execute("SELECT key FROM accounts")}
    found = [name for name in acknowledged if fold(name) in stored]
    print(
        f"[{adapter}] SIGKILL x5: {len(acknowledged)} acknowledged, "
        f"{len(found)} found, {len(stored)} stored"
    )
    assert found == acknowledged


def test_port_in_use_is_one_clear_line(
    programs: list[Program], tmp_path: Path, adapter: str
) -> None:
    with socket.socket() as taken:
        taken.bind((HOST, 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [
                *COMMAND,
                "--port",
                str(port),
                "--db",
                ":memory:",
                *adapter_flags(adapter),
            ],
            capture_output=True,
            check=False,
            text=True,
            timeout=WAIT,
        )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "cannot listen" in lines[0] and str(port) in lines[0]


@pytest.mark.parametrize("where", ["a directory", "under a file"])
def test_unwritable_database_is_one_clear_line(
    tmp_path: Path, adapter: str, where: str
) -> None:
    if where == "a directory":
        db = tmp_path
    else:
        (tmp_path / "file").write_text("")
        db = tmp_path / "file" / "accounts.db"
    done = subprocess.run(
        [*COMMAND, "--port", "0", "--db", str(db), *adapter_flags(adapter)],
        capture_output=True,
        check=False,
        text=True,
        timeout=WAIT,
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert str(db) in lines[0]


def test_every_dialect_listener_beside_the_canonical_one(
    programs: list[Program], tmp_path: Path, adapter: str
) -> None:
    dialects = ("batchat1", "minichat", "slashchat", "chatsocket")
    listen = [arg for d in dialects for arg in ("--listen", f"{d}@{HOST}:0")]
    program = Program(
        tmp_path, "--port", "0", "--db", ":memory:", *adapter_flags(adapter),
        *FAST_FLAGS, *listen,
    )  # fmt: skip
    programs.append(program)
    ports = {}
    for d in dialects:
        line = program._stdout.get(timeout=WAIT)
        assert line is not None and f"{d}@{HOST}:" in line and f"(dialect {d})" in line
        found = LISTENING.search(line)
        assert found
        ports[d] = int(found.group(1))
    canonical = program.listening()
    with socket.create_connection((HOST, ports["minichat"]), WAIT) as mini:
        mini.sendall(b"mia")
        want = "New User. Você está conectado!SYSTEM: mia entrou no chat.".encode()
        got = b""
        while len(got) < len(want):
            got += mini.recv(4096)
        assert got == want
        with threaded.Client.connect(HOST, canonical) as client:
            assert client.request(Nick(nick="rita")).code == 218
            assert client.request(Who()).names == ("mia", "rita")


@pytest.mark.parametrize(
    "spec", ["minichat", "irc@127.0.0.1:1", "minichat@127.0.0.1:x", "minichat@:1"]
)
def test_a_bad_listen_is_a_usage_error(spec: str) -> None:
    done = subprocess.run(
        [*COMMAND, "--db", ":memory:", "--listen", spec],
        capture_output=True,
        check=False,
        text=True,
        timeout=WAIT,
    )
    assert done.returncode == 2
    assert "--listen" in done.stderr and "Traceback" not in done.stderr


def test_a_taken_dialect_port_is_one_clear_line(adapter: str) -> None:
    with socket.socket() as taken:
        taken.bind((HOST, 0))
        taken.listen()
        port = taken.getsockname()[1]
        spec = f"minichat@{HOST}:{port}"
        done = subprocess.run(
            [*COMMAND, "--port", "0", "--db", ":memory:", *adapter_flags(adapter),
             "--listen", spec],
            capture_output=True,
            check=False,
            text=True,
            timeout=WAIT,
        )  # fmt: skip
    assert done.returncode == 1
    # The canonical listener bound first (and logged so); the error is one line.
    errors = [line for line in done.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and "Traceback" not in done.stderr, done.stderr
    assert "cannot listen" in errors[0] and spec in errors[0]
