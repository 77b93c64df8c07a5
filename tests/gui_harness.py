"""Real windows for the GUI tests: Xvfb, a Tk root, servers, a headless peer.

``display`` starts its own Xvfb (``-displayfd``: Xvfb tries display numbers
itself and writes the free one it took to a pipe once it accepts clients,
so nothing has to guess or wait). Without Xvfb, or when it will not start,
the tests skip with the reason. ``pump`` runs the Tk loop until a condition
holds, bounded by a timeout: that, not sleeping, is how tests wait.

Screenshots: ``shoot(root, name)`` saves the window as a PNG into the
test's artifact directory, and also into docs/img/ when BATCHAT_SCREENSHOTS
is set (``python -m tests.gui_screenshots`` does that).
"""

from __future__ import annotations

import contextlib
import gc
import os
import select
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("tkinter", reason="this Python has no tkinter: no window tests")
import tkinter as tk

from libbatchat import Limits
from libbatchat.adapters import aio
from libbatchat.client import Client, Guest, Identity, LoopThread, Update

HOST = "127.0.0.1"
WAIT = 15.0  # real seconds one wait may take before the test fails
LIMITS = Limits(scrypt_n=16, scrypt_r=8, scrypt_p=1, burst=50, rate=50.0)
DOCS_IMG = Path(__file__).resolve().parent.parent / "docs" / "img"
SCREENSHOTS_ENV = "BATCHAT_SCREENSHOTS"
MAX_PNG = 300_000


@pytest.fixture(scope="session")
def display() -> Iterator[str]:
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        pytest.skip("Xvfb is not installed (apt-get install xvfb): no display")
    read_end, write_end = os.pipe()
    proc = subprocess.Popen(
        [
            xvfb,
            "-displayfd",
            str(write_end),
            "-screen",
            "0",
            "1280x800x24",
            "-nolisten",
            "tcp",
        ],
        pass_fds=(write_end,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_end)
    try:
        ready, _, _ = select.select([read_end], [], [], WAIT)
        number = os.read(read_end, 32).decode().strip() if ready else ""
        if not number.isdigit():
            pytest.skip("Xvfb did not start: no display to test the windows on")
        name = f":{number}"
        old = os.environ.get("DISPLAY")
        os.environ["DISPLAY"] = name
        yield name
        if old is None:
            os.environ.pop("DISPLAY", None)
        else:
            os.environ["DISPLAY"] = old
    finally:
        os.close(read_end)
        proc.terminate()
        proc.wait(WAIT)


@pytest.fixture
def root(display: str) -> Iterator[tk.Tk]:
    try:
        window = tk.Tk(className="BatChat")
    except tk.TclError as exc:
        pytest.skip(f"Tk cannot open a window on {display}: {exc}")
    yield window
    with contextlib.suppress(tk.TclError):  # the program closed its window
        window.destroy()
    # The windows' objects are cyclic garbage now; collect them here, on the
    # Tk thread: a Tk variable freed on another thread complains.
    gc.collect()


@pytest.fixture
def net() -> Iterator[Network]:
    network = Network()
    yield network
    network.stop()


@pytest.fixture
def server(net: Network) -> Iterator[aio.Server]:
    found = net.server()
    yield found
    net.run(found.close())


@pytest.fixture(scope="session")
def screens(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots are kept as test artifacts."""
    return tmp_path_factory.mktemp("screenshots")


def pump(root: tk.Misc, condition: Callable[[], object], what: str) -> None:
    """Run the Tk loop until ``condition()`` is true; fail after WAIT seconds."""
    deadline = time.monotonic() + WAIT
    interp = root.tk
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        # Handle one event, blocking until there is one; a pure-Tcl 10 ms
        # timer bounds the wait (and outlives the window being destroyed).
        interp.call("after", 10, "list")
        interp.dooneevent(0)


class Network:
    """A LoopThread for servers and peers (the GUI has its own)."""

    def __init__(self) -> None:
        self.thread = LoopThread("test-network")
        self.thread.start()

    def run(self, coro: Any) -> Any:
        return self.thread.submit(coro).result(WAIT)

    def server(self, port: int = 0) -> aio.Server:
        server = aio.Server(HOST, port, limits=LIMITS)
        self.run(server.start())
        return server

    def peer(
        self, server: aio.Server, who: Identity | str, rooms: tuple[str, ...] = ()
    ) -> Peer:
        identity = Guest(who) if isinstance(who, str) else who
        return Peer(self, f"{HOST}:{server.port}", identity, rooms)

    def stop(self) -> None:
        self.thread.stop()


class Peer:
    """A headless client-layer client; ``updates`` collects what it sees."""

    def __init__(
        self, net: Network, address: str, identity: Identity, rooms: tuple[str, ...]
    ) -> None:
        self.net = net
        self.updates: list[Update] = []
        self.client: Client = net.thread.call(
            lambda: Client(address, identity=identity, rooms=rooms)
        )
        self._changed = threading.Condition()
        net.thread.call(lambda: self.client.subscribe(self._got))
        net.run(self.client.start())

    def say(self, target: str, text: str) -> None:
        assert self.net.run(self.client.say(target, text)).code == 215

    def seen(self, test: Callable[[Update], bool]) -> bool:
        return any(test(u) for u in list(self.updates))

    def _got(self, update: Update) -> None:
        with self._changed:
            self.updates.append(update)
            self._changed.notify_all()

    def wait(self, test: Callable[[Update], bool], what: str) -> None:
        """Block until an update passes ``test`` (for tests without a Tk loop)."""
        with self._changed:
            if not self._changed.wait_for(lambda: self.seen(test), WAIT):
                raise AssertionError(f"timed out waiting for {what}")

    def quit(self) -> None:
        self.net.run(self.client.quit())


@contextlib.contextmanager
def program(args: list[str], display: str) -> Iterator[subprocess.Popen[str]]:
    """Run ``python -m args...`` on ``display``; killed if the test fails."""
    proc = subprocess.Popen(
        [sys.executable, "-m", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "DISPLAY": display},
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def ended(proc: subprocess.Popen[str], signum: int) -> str:
    """Send ``signum``, expect a clean exit 0 without a traceback; the stderr."""
    proc.send_signal(signum)
    _out, err = proc.communicate(timeout=WAIT)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    return err


def shoot(root: tk.Misc, name: str, artifacts: Path) -> Path | None:
    """Save the window as ``name.png`` (artifacts, and docs/img/ if asked)."""
    grab = shutil.which("import")
    if grab is None:
        return None  # imagemagick is not installed: no screenshots, no failure
    root.update_idletasks()
    root.update()
    x, y = root.winfo_rootx(), root.winfo_rooty()
    w, h = root.winfo_width(), root.winfo_height()
    artifacts.mkdir(parents=True, exist_ok=True)
    path = artifacts / f"{name}.png"
    subprocess.run(
        [
            grab,
            "-display",
            os.environ["DISPLAY"],
            "-window",
            "root",
            "-crop",
            f"{w}x{h}+{x}+{y}",
            "+repage",
            "-strip",
            "-define",
            "png:compression-level=9",
            str(path),
        ],
        check=True,
        timeout=WAIT,
    )
    assert path.stat().st_size < MAX_PNG, f"{path} is too large"
    if os.environ.get(SCREENSHOTS_ENV):
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS_IMG / path.name)
    return path
