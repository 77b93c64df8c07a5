"""The server monitor (batchat-server --monitor) in a real window (Xvfb)."""

from __future__ import annotations

import logging
import os
import selectors
import signal
import socket
import subprocess
import sys
import tkinter as tk
from collections.abc import Iterator
from pathlib import Path

import pytest

from frontends.gui.bridge import Bridge
from frontends.gui.monitor import LogQueue, Monitor
from libbatchat.client import Account, Closing, Message
from tests.gui_harness import (
    HOST,
    WAIT,
    Network,
    display,
    ended,
    net,
    program,
    pump,
    root,
    screens,
    shoot,
)

SECRET = "hunter2-very-secret"


@pytest.fixture
def monitor(root: tk.Tk, net: Network) -> Iterator[Monitor]:
    server = net.server()
    log_queue = LogQueue(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    logging.getLogger().addHandler(log_queue)
    old_level = logging.getLogger().level
    logging.getLogger().setLevel(logging.INFO)
    bridge = Bridge(root, lambda _u: None)
    bridge.start()
    shown = Monitor(root, server, bridge, log_queue)
    shown.pack(fill="both", expand=True)
    root.geometry("980x640")
    try:
        yield shown
    finally:
        if not shown.closed:
            shown.close()
            pump(root, lambda: shown.closed, "the monitor to close")
        logging.getLogger().removeHandler(log_queue)
        logging.getLogger().setLevel(old_level)


def refused(port: int) -> bool:
    try:
        socket.create_connection((HOST, port), timeout=WAIT).close()
    except ConnectionRefusedError:
        return True
    return False


def greeted(port: int) -> bytes:
    with socket.create_connection((HOST, port), timeout=WAIT) as sock:
        return sock.makefile("rb").readline()


def rows(tree: tk.Misc) -> list[tuple[str, ...]]:
    assert hasattr(tree, "get_children")
    return [
        (tree.item(i, "text"), *(str(v) for v in tree.item(i, "values")))  # type: ignore[attr-defined]
        for i in tree.get_children()
    ]


def test_monitor_shows_the_server_live_and_stops_listening(
    root: tk.Tk, net: Network, monitor: Monitor, screens: Path
) -> None:
    server = monitor.server
    port = server.port
    hugo = net.peer(server, Account("hugo", SECRET, register=True), rooms=("#sala",))
    iris = net.peer(server, "iris", rooms=("#sala", "#outra"))
    pump(
        root,
        lambda: [r[2] for r in rows(monitor.sessions)] == ["hugo", "iris"],
        "both sessions with their names",
    )
    session = rows(monitor.sessions)[0]
    assert session[1].startswith("127.0.0.1:")
    pump(
        root,
        lambda: rows(monitor.rooms) == [("#outra", "iris"), ("#sala", "hugo, iris")],
        "the rooms with their members",
    )
    iris.say("#sala", "oi")
    iris.say("hugo", "tudo bem?")
    pump(root, lambda: "messages: 2 " in monitor.counters_text.get(), "the counter")
    assert "2 open, 2 logged in, 2 since start" in monitor.counters_text.get()
    pump(
        root,
        lambda: any("iris joined #outra" in line for line in monitor.log_lines()),
        "the log",
    )
    log_text = "\n".join(monitor.log_lines())
    assert "account hugo registered from 127.0.0.1:" in log_text
    assert "hugo logged in (account)" in log_text
    assert SECRET not in log_text
    assert monitor.address_text.get() == f"listening on {HOST}:{port}"
    shoot(root, "monitor", screens)

    monitor.stop_button.invoke()
    pump(
        root,
        lambda: monitor.stats is not None and not monitor.stats.listening,
        "listening to stop",
    )
    assert refused(port)
    assert "NOT listening" in monitor.address_text.get()
    assert str(monitor.stop_button.cget("state")) == "disabled"
    # The sessions already open carry on.
    hugo.say("#sala", "ainda aqui")
    pump(
        root,
        lambda: iris.seen(lambda u: isinstance(u, Message) and u.text == "ainda aqui"),
        "a message while stopped",
    )
    pump(
        root,
        lambda: any("stopped listening" in line for line in monitor.log_lines()),
        "the log line",
    )

    monitor.start_button.invoke()
    pump(
        root,
        lambda: monitor.stats is not None and monitor.stats.listening,
        "listening again",
    )
    assert greeted(port).startswith(b"OLA-100 ")

    monitor.close()
    pump(root, lambda: monitor.closed, "the monitor to close")
    pump(root, lambda: hugo.seen(lambda u: isinstance(u, Closing)), "CLOSING shutdown")


def _line(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        assert sel.select(WAIT), "no announcement from the server"
    return proc.stdout.readline()


MONITOR = ["frontends.server", "--monitor", "--port", "0", "--db", ":memory:"]


def test_batchat_server_monitor_program(display: str) -> None:
    with program(MONITOR, display) as proc:
        line = _line(proc)
        assert line.startswith("batchat-server listening on 127.0.0.1:"), line
        port = int(line.split()[3].rsplit(":", 1)[1])
        assert greeted(port).startswith(b"OLA-100 ")
        err = ended(proc, signal.SIGTERM)
    assert "monitor closed: shutting down" in err


def test_monitor_needs_the_asyncio_adapter_and_a_display() -> None:
    bad = subprocess.run(  # noqa: PLW1510 (the exit status is the point)
        [
            sys.executable,
            "-m",
            "frontends.server",
            "--monitor",
            "--adapter",
            "threaded",
        ],
        capture_output=True,
        text=True,
        timeout=WAIT,
    )
    assert bad.returncode == 2
    assert "--monitor runs the asyncio adapter" in bad.stderr
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    nodisplay = subprocess.run(  # noqa: PLW1510
        [sys.executable, "-m", *MONITOR],
        capture_output=True,
        text=True,
        timeout=WAIT,
        env=env,
    )
    assert nodisplay.returncode == 1
    assert "cannot open the monitor window" in nodisplay.stderr
    assert "Traceback" not in nodisplay.stderr
