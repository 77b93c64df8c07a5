"""Where the client layer gets its time: the event loop's clock, or a virtual one.

Everything in the client layer that waits (backoff, pacing, lag pings, their
timeouts) asks a ``Clock`` for the time and for sleeps, so a test can drive
it with ``VirtualClock.advance()`` and never sleep for real.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from typing import Protocol

__all__ = ["Clock", "LoopClock", "VirtualClock"]


class Clock(Protocol):
    """A monotonic time source in seconds, and a way to wait on it."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class LoopClock:
    """The running event loop's clock (``loop.time()``) and ``asyncio.sleep``."""

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class VirtualClock:
    """Time that moves only when a test says so.

    ``sleep()`` waits until ``advance()`` carries the clock past its due time.
    Sleepers wake in due order, each at its own due time (``now()`` reads that
    time while it runs), and the loop gets a few turns after each so that code
    woken by one timer can arm the next before the clock moves on. Code that
    does real I/O before sleeping again (a round trip to a server) arms its
    timer later, from whatever ``now()`` is by then: wait for the event that
    says it happened before advancing further.
    """

    # Loop turns given to woken code after each wake-up: enough for a chain of
    # plain awaits (queue hand-offs, locks) to reach its next sleep.
    SETTLE_TURNS = 20

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._heap: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        self._watchers: list[asyncio.Future[None]] = []

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._heap, (self._now + seconds, next(self._seq), future))
        watchers, self._watchers = self._watchers, []
        for watcher in watchers:
            if not watcher.done():
                watcher.set_result(None)
        await future

    @property
    def sleepers(self) -> int:
        """How many sleeps are waiting (cancelled ones not counted)."""
        return sum(1 for _, _, f in self._heap if not f.done())

    def next_due(self) -> float | None:
        """When the earliest waiting sleep is due, if any."""
        self._drop_cancelled()
        return self._heap[0][0] if self._heap else None

    def _drop_cancelled(self) -> None:
        while self._heap and self._heap[0][2].done():
            heapq.heappop(self._heap)

    async def sleeping(self, within: float) -> float:
        """Wait until some sleep is due within ``within`` seconds; its due time.

        For tests that let real I/O run until the code under test next waits
        on the clock (a paced send), then advance exactly to that moment.
        """
        while True:
            due = self.next_due()
            if due is not None and due <= self._now + within:
                return due
            watcher: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._watchers.append(watcher)
            await watcher

    async def settle(self) -> None:
        """Give the event loop a few turns without moving time."""
        for _ in range(self.SETTLE_TURNS):
            await asyncio.sleep(0)

    async def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, waking every sleep due by then."""
        if seconds < 0:
            raise ValueError("time cannot go back")
        target = self._now + seconds
        await self.settle()
        while (due := self.next_due()) is not None and due <= target:
            _, _, future = heapq.heappop(self._heap)
            self._now = max(self._now, due)
            future.set_result(None)
            await self.settle()
        self._now = target
