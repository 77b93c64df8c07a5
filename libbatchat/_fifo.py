"""A first-in first-out queue that costs next to nothing while empty.

Every session holds a few queues (commands owed a reply, lines held by flood
control, recent failed logins) that are empty nearly all the time. A
``collections.deque`` allocates a 64-slot block even when empty, over 600
bytes each; at 10,000 idle connections those blocks were most of the
server's memory. This one is a list, made on the first item, and a read
position: under 50 bytes empty, amortized O(1) per operation.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

# Taken items are dropped from the front once this many have piled up and
# they are at least half the list, so the copy is paid for by the pops.
_COMPACT = 32


class Fifo(Generic[T]):
    __slots__ = ("_head", "_items")

    def __init__(self) -> None:
        # No list until the first item: most of these never get one.
        self._items: list[T] | None = None
        self._head = 0

    def append(self, item: T) -> None:
        if self._items is None:
            self._items = [item]
        else:
            self._items.append(item)

    def popleft(self) -> T:
        """The oldest item, removed; IndexError when empty."""
        items, head = self._items or [], self._head
        item = items[head]
        head += 1
        if head == len(items):
            # Empty again: give the list back, as most queues stay empty.
            self._items = None
            head = 0
        elif head >= _COMPACT and 2 * head >= len(items):
            del items[:head]
            head = 0
        self._head = head
        return item

    def peek(self) -> T:
        """The oldest item, left in place; IndexError when empty."""
        return (self._items or [])[self._head]

    def remove(self, item: T) -> None:
        """Drop the oldest occurrence of ``item``; ValueError when absent."""
        items = self._items or []
        del items[items.index(item, self._head)]
        if len(items) == self._head:
            self.clear()

    def clear(self) -> None:
        self._items = None
        self._head = 0

    def __len__(self) -> int:
        return len(self._items or ()) - self._head

    def __bool__(self) -> bool:
        # Never an empty list: the last take, clear() and remove() give it back.
        return self._items is not None

    def __iter__(self) -> Iterator[T]:
        return iter((self._items or [])[self._head :])
