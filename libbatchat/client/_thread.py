"""An event loop on its own thread, for programs whose main thread is taken.

A Tk program owns its main thread; the client layer needs an asyncio loop.
``LoopThread`` runs the loop on a daemon thread: ``submit()`` hands it a
coroutine from any thread and returns a ``concurrent.futures.Future``;
updates travel the other way through a ``queue.Queue`` the UI polls
(``client.subscribe(thread.queue.put)``, or ``forward()``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from ._events import Events
from ._updates import Update

__all__ = ["LoopThread"]

T = TypeVar("T")


class LoopThread:
    """``with LoopThread() as thread: thread.submit(coro).result()``."""

    def __init__(self, name: str = "batchat-client") -> None:
        self.name = name
        self.queue: queue.Queue[Update] = queue.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("the loop thread is not running")
        return self._loop

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("already started")
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        self._started.wait()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        loop.call_soon(self._started.set)
        try:
            loop.run_forever()
        finally:
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run ``coro`` on the loop; callable from any thread."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def call(self, fn: Callable[[], T], timeout: float | None = 10.0) -> T:
        """Run the plain function ``fn`` on the loop thread and return its result.

        For reading the client's state from another thread without a race.
        """

        async def wrapper() -> T:
            return fn()

        return self.submit(wrapper()).result(timeout)

    def forward(self, events: Events) -> Callable[[], None]:
        """Put every update of ``events`` (a client) into ``self.queue``."""
        return events.subscribe(self.queue.put)

    def stop(self, timeout: float | None = 10.0) -> None:
        """Stop the loop (cancelling what still runs on it) and join the thread."""
        if self._thread is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)
        self._thread = None

    def __enter__(self) -> LoopThread:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
