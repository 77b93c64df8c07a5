"""While a GUI's bridge runs, garbage is collected on the Tk thread only."""

from __future__ import annotations

import gc
import threading
import tkinter as tk

from frontends.gui.bridge import Bridge, collect_due
from tests.gui_harness import display, root


class Cycle:
    freed_on: list[str] = []

    def __init__(self) -> None:
        self.me = self

    def __del__(self) -> None:
        Cycle.freed_on.append(threading.current_thread().name)


def test_garbage_is_collected_on_the_tk_thread(root: tk.Tk) -> None:
    gc.enable()  # as in the programs (the test harness turns it off)
    try:
        bridge = Bridge(root, lambda _u: None)
        bridge.start()
        try:
            assert not gc.isenabled()
            Cycle()

            def allocate() -> list[list[int]]:
                # Enough for the interpreter to collect, were it allowed to.
                return [[] for _ in range(10 * gc.get_threshold()[0])]

            kept = bridge.call(allocate)
            assert Cycle.freed_on == []  # not on the network thread
            collect_due()  # what each tick does
            assert Cycle.freed_on == [threading.current_thread().name]
            del kept
        finally:
            bridge.stop()
        assert gc.isenabled()
    finally:
        gc.disable()
