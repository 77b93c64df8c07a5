"""Racing account creations, for every store's one-winner test."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from libbatchat._accounts import AccountStore

RACERS = 8


def create_at_once(stores: Sequence[AccountStore], names: Sequence[str]) -> list[bool]:
    """What ``create`` returned to each of ``RACERS`` threads released together,
    thread ``i`` creating ``names[i % len(names)]`` on
    ``stores[i % len(stores)]``."""
    results: list[bool] = []
    barrier = threading.Barrier(RACERS)

    def worker(i: int) -> None:
        barrier.wait()
        store = stores[i % len(stores)]
        results.append(store.create(names[i % len(names)], f"r{i}"))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(RACERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results
