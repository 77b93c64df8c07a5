"""Handing updates to the program: callbacks, async iterators, one-shot waits.

Every subscriber sees every update, in order, after the state was updated.
Callbacks run on the client's event loop and should return quickly; one
that raises is logged and the others still run.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import TypeVar, overload

from ._updates import Update

__all__ = ["Events", "Subscription"]

log = logging.getLogger("libbatchat.client")

U = TypeVar("U", bound=Update)

Callback = Callable[[Update], object]


class Subscription:
    """``async for update in client.updates():`` every update until the end.

    The iteration ends after ``Stopped``. Created by ``client.updates()``,
    it collects from that moment on, before the first ``async for`` step.
    """

    def __init__(self, events: Events) -> None:
        self._events = events
        self._queue: asyncio.Queue[Update | None] = asyncio.Queue()
        self._done = False
        events._callbacks.append(self._queue.put_nowait)
        events._ends.append(self._end)

    def _end(self) -> None:
        self._queue.put_nowait(None)

    def __aiter__(self) -> AsyncIterator[Update]:
        return self

    async def __anext__(self) -> Update:
        if self._done:
            raise StopAsyncIteration
        item = await self._queue.get()
        if item is None:
            self._done = True
            self.close()
            raise StopAsyncIteration
        return item

    def pending(self) -> int:
        """Updates received and not yet taken."""
        return self._queue.qsize()

    def close(self) -> None:
        """Stop collecting."""
        self._events._forget(self._queue.put_nowait)
        if self._end in self._events._ends:
            self._events._ends.remove(self._end)


class Events:
    """The update plumbing of ``Client``."""

    def __init__(self) -> None:
        self._callbacks: list[Callback] = []
        self._ends: list[Callable[[], None]] = []
        self._ended = False

    def subscribe(self, callback: Callback) -> Callable[[], None]:
        """Call ``callback(update)`` for every update; returns an unsubscribe."""
        self._callbacks.append(callback)
        return lambda: self._forget(callback)

    def _forget(self, callback: Callback) -> None:
        if callback in self._callbacks:
            self._callbacks.remove(callback)

    def updates(self) -> Subscription:
        """An async iterator of every update from now until the client stops."""
        subscription = Subscription(self)
        if self._ended:
            subscription._end()
        return subscription

    @overload
    def expect(self, match: type[U]) -> asyncio.Future[U]: ...
    @overload
    def expect(self, match: Callable[[Update], bool]) -> asyncio.Future[Update]: ...

    def expect(
        self, match: type[U] | Callable[[Update], bool]
    ) -> asyncio.Future[U] | asyncio.Future[Update]:
        """A future of the first update from now on that ``match`` accepts.

        ``match`` is an update class or a predicate. Registered at once, so
        call it before doing what should cause the update.
        """
        future: asyncio.Future[Update] = asyncio.get_running_loop().create_future()
        test: Callable[[Update], bool]
        if isinstance(match, type):
            kind = match
            test = lambda update: isinstance(update, kind)  # noqa: E731
        else:
            test = match

        def check(update: Update) -> None:
            if not future.done() and test(update):
                future.set_result(update)
            if future.done():
                self._forget(check)

        self._callbacks.append(check)
        future.add_done_callback(lambda _: self._forget(check))
        return future

    def emit(self, update: Update) -> None:
        """Hand ``update`` to every subscriber."""
        for callback in list(self._callbacks):
            try:
                callback(update)
            except Exception:
                log.exception("an update callback failed on %r", update)

    def end_updates(self) -> None:
        """No more updates will come: end every ``updates()`` iterator."""
        self._ended = True
        for end in list(self._ends):
            end()
