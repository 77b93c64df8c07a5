"""The real ``batchat-repl`` in a real terminal (tmux), chatting with a client.

The program's output is streamed out of tmux through a FIFO and read with
a deadline, and the other side is a library client whose pushes say what
arrived: no sleeps. The rendered screen (``capture-pane``) is the
transcript; it is written to ``repl-transcript.txt`` in the test's
directory and printed with ``-s``.
"""

from __future__ import annotations

import os
import re
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from libbatchat import Chat, Join, Message, Nick, Offline, Push
from libbatchat.adapters import threaded
from tests.adapters_harness import FAST, HOST

ROOT = Path(__file__).resolve().parent.parent
WAIT = 20.0
ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07|\x1b[()=>][0-9A-Za-z]?"
)

pytestmark = pytest.mark.skipif(
    shutil.which("tmux") is None, reason="tmux is not installed"
)


class Pane:
    """One tmux server of our own (``-S``), one session, its output as a stream."""

    def __init__(self, tmp: Path, command: str) -> None:
        self.socket = str(tmp / "tmux.sock")
        self.fifo = tmp / "pane.fifo"
        os.mkfifo(self.fifo)
        # The program waits for a line first, so the stream is attached
        # before it prints anything; it signals "done" when it exits.
        script = (
            f"read go; printf '\\033[H\\033[2J'; {command}; echo $? > {tmp / 'rc'}; "
            f"tmux -S {self.socket} wait-for -S done"
        )
        self.tmux("new-session", "-d", "-x", "100", "-y", "30", "sh", "-c", script)
        self.reader = os.open(self.fifo, os.O_RDONLY | os.O_NONBLOCK)
        self.tmux("pipe-pane", "-o", f"cat > {self.fifo}")
        self.seen = ""
        self.keys("go", "Enter")

    def tmux(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-S", self.socket, "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            timeout=WAIT,
            check=True,
        )
        return done.stdout

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "0", *keys)

    def expect(self, text: str, after: int = 0) -> int:
        """Read the output until ``text`` is shown (past ``after``); where it ends."""
        deadline = time.monotonic() + WAIT
        while text not in self.plain()[after:]:
            left = deadline - time.monotonic()
            assert left > 0, f"{text!r} never shown; saw {self.plain()[-800:]!r}"
            ready, _, _ = select.select([self.reader], [], [], left)
            if ready:
                chunk = os.read(self.reader, 65536)
                self.seen += chunk.decode("utf-8", errors="replace")
        return self.plain().index(text, after) + len(text)

    def plain(self) -> str:
        return ESCAPES.sub("", self.seen)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "0")

    def wait_exit(self) -> None:
        self.tmux("wait-for", "done")

    def close(self) -> None:
        subprocess.run(
            ["tmux", "-S", self.socket, "kill-server"], capture_output=True, check=False
        )
        os.close(self.reader)


def next_push(client: threaded.Client, kind: type[Push]) -> Push:
    for _ in range(100):
        push = client.pushes.get(timeout=WAIT)
        assert push is not None, "connection ended"
        if isinstance(push, kind):
            return push
    raise AssertionError(f"no {kind.__name__}")


def test_the_real_program_chats_in_a_terminal(tmp_path: Path) -> None:
    with threaded.Server(HOST, 0, limits=FAST) as server:
        bruno = threaded.Client.connect(HOST, server.port)
        assert bruno.request(Nick(nick="bruno")).code == 218
        assert bruno.request(Join(room="#geral")).ok
        env = f"XDG_DATA_HOME={tmp_path} PYTHONPATH={ROOT}"
        command = (
            f"env {env} {sys.executable} -m frontends.repl "
            f"{HOST}:{server.port} --nick ana --join '#geral'"
        )
        pane = Pane(tmp_path, command)
        try:
            pane.expect("logged in as guest ana")
            pane.expect("you joined #geral (2: ana, bruno)")
            bruno.request(Chat(target="#geral", text="oi ana!"))
            pane.expect("#geral <bruno> oi ana!")
            pane.keys("bom dia, bruno", "Enter")
            message = next_push(bruno, Message)
            assert (message.address, message.text) == ("#geral", "bom dia, bruno")
            pane.keys("@bruno só para você", "Enter")
            message = next_push(bruno, Message)
            assert (message.address, message.text) == ("@", "só para você")
            pane.expect("-> *bruno* só para você")
            pane.keys("/who", "Enter")
            shown = pane.expect("online (2): ana, bruno")
            pane.expect("ana -> #geral", shown)  # the toolbar, redrawn below it
            screen = pane.screen()
            (tmp_path / "repl-transcript.txt").write_text(screen, encoding="utf-8")
            print(screen)
            assert "#geral <ana> bom dia, bruno" in screen
            assert "online  ana -> #geral" in screen  # the toolbar
            pane.keys("/quit", "Enter")
            assert next_push(bruno, Offline) == Offline(user="ana")
            pane.wait_exit()
            assert (tmp_path / "rc").read_text().strip() == "0"
            assert "Traceback" not in pane.plain()
        finally:
            pane.close()
            bruno.close()
