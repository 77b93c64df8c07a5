"""The one seam between the Tk thread and the network thread.

The client layer runs on an asyncio loop in a ``LoopThread``. Tk widgets may
only be touched from the thread that created them, so nothing crosses back
but values put into queues: the client's updates (``LoopThread.forward``)
and the outcomes of submitted coroutines. ``poll()`` drains both on the Tk
thread every ``POLL_MS`` milliseconds, through ``after()``.

Garbage is collected on the Tk thread too. Tcl aborts the whole process when
one of its objects is freed on another thread ("Tcl_AsyncDelete: async
handler deleted by the wrong thread"), and the interpreter's automatic
collection runs on whichever thread happens to allocate: here, often the
network thread. So while a bridge runs, automatic collection is off and each
tick runs the collection the interpreter would have run by then.
"""

from __future__ import annotations

import concurrent.futures
import gc
import logging
import queue
import tkinter as tk
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from libbatchat.client import LoopThread, Update

__all__ = ["Bridge"]

log = logging.getLogger("batchat.gui")

T = TypeVar("T")

POLL_MS = 30


class Bridge:
    """Runs coroutines on the network thread; hands results to Tk callbacks."""

    def __init__(self, root: tk.Misc, on_update: Callable[[Update], None]) -> None:
        self.root = root
        self.on_update = on_update
        self.thread = LoopThread("batchat-gui-network")
        self._done: queue.Queue[Callable[[], None]] = queue.Queue()
        self._job: str | None = None
        self._unforward: Callable[[], None] | None = None
        self._running = False
        self._gc_was_enabled = False

    def start(self) -> None:
        self._gc_was_enabled = gc.isenabled()
        gc.disable()
        self.thread.start()
        self._running = True
        self._job = self.root.after(POLL_MS, self._tick)

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the network thread now and return what it returns."""
        return self.thread.call(fn)

    def follow(self, events: Any) -> None:
        """Forward every update of ``events`` (a client) to ``on_update``."""
        if self._unforward is not None:
            self.thread.call(self._unforward)
        self._unforward = self.thread.call(lambda: self.thread.forward(events))

    def run(
        self,
        coro: Coroutine[Any, Any, T],
        on_done: Callable[[T], object] | None = None,
        on_error: Callable[[BaseException], object] | None = None,
    ) -> concurrent.futures.Future[T]:
        """Run ``coro`` on the network thread; its outcome comes back on Tk's.

        Without ``on_error`` a failure is logged (and otherwise dropped).
        """
        future = self.thread.submit(coro)

        def finished(f: concurrent.futures.Future[T]) -> None:
            # Runs on the network thread: only a queue put, no widgets.
            self._done.put(lambda: self._deliver(f, on_done, on_error))

        future.add_done_callback(finished)
        return future

    @staticmethod
    def _deliver(
        future: concurrent.futures.Future[T],
        on_done: Callable[[T], object] | None,
        on_error: Callable[[BaseException], object] | None,
    ) -> None:
        if future.cancelled():
            return
        exc = future.exception()
        if exc is not None:
            if on_error is not None:
                on_error(exc)
            else:
                log.warning("background task failed: %s", exc)
        elif on_done is not None:
            on_done(future.result())

    def poll(self) -> None:
        """Hand what the network thread produced to Tk (on the Tk thread)."""
        for _ in range(500):  # bounded, so a flood cannot freeze the window
            try:
                update = self.thread.queue.get_nowait()
            except queue.Empty:
                break
            self.on_update(update)
        while True:
            try:
                callback = self._done.get_nowait()
            except queue.Empty:
                break
            callback()

    def _tick(self) -> None:
        self._job = None
        try:
            self.poll()
            collect_due()
        finally:
            if self._running:
                self._job = self.root.after(POLL_MS, self._tick)

    def stop(self) -> None:
        self._running = False
        if self._job is not None:
            self.root.after_cancel(self._job)
            self._job = None
        self.thread.stop()
        if self._gc_was_enabled:
            gc.enable()


def collect_due() -> None:
    """Collect the generations the interpreter would have collected by now."""
    count0, count1, count2 = gc.get_count()
    threshold0, threshold1, threshold2 = gc.get_threshold()
    if count0 < threshold0:
        return
    generation = 0
    if count1 >= threshold1:
        generation = 2 if count2 >= threshold2 else 1
    gc.collect(generation)
