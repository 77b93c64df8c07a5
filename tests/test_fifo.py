"""The cheap FIFO behind every per-session queue behaves as a deque does."""

from __future__ import annotations

from collections import deque

import pytest
from hypothesis import given
from hypothesis import strategies as st

from libbatchat._fifo import Fifo

OPS = st.lists(st.one_of(st.integers(0, 9), st.just("pop"), st.just("clear")))


@given(OPS)
def test_fifo_matches_deque(ops: list[int | str]) -> None:
    fifo: Fifo[int] = Fifo()
    model: deque[int] = deque()
    for op in ops:
        if op == "pop":
            if model:
                assert fifo.peek() == model[0]
                assert fifo.popleft() == model.popleft()
            else:
                with pytest.raises(IndexError):
                    fifo.popleft()
        elif op == "clear":
            fifo.clear()
            model.clear()
        else:
            assert isinstance(op, int)
            fifo.append(op)
            model.append(op)
        assert len(fifo) == len(model)
        assert bool(fifo) == bool(model)
        assert list(fifo) == list(model)


def test_fifo_compacts_a_long_queue_as_it_drains() -> None:
    fifo: Fifo[int] = Fifo()
    for i in range(100):
        fifo.append(i)
    taken = [fifo.popleft() for _ in range(60)]
    assert taken == list(range(60))
    # The taken items were dropped from the front along the way.
    assert len(fifo._items) < 100
    assert list(fifo) == list(range(60, 100))
    with pytest.raises(IndexError):
        Fifo[int]().peek()


def test_remove_takes_the_oldest_live_occurrence() -> None:
    fifo: Fifo[int] = Fifo()
    for item in (1, 2, 1, 3):
        fifo.append(item)
    assert fifo.popleft() == 1
    fifo.remove(1)
    assert list(fifo) == [2, 3]
    with pytest.raises(ValueError):
        fifo.remove(1)
    fifo.remove(2)
    fifo.remove(3)
    assert not fifo
    fifo.append(4)
    assert list(fifo) == [4]
