"""batchat-server's collector settings (``server_config.tune_gc``).

Each check runs in a fresh interpreter: the settings are the whole
process's, and this one's belong to pytest.
"""

from __future__ import annotations

import subprocess
import sys

from frontends.server_config import GC_YOUNG_THRESHOLD

_CHECK = """
import gc, weakref
from frontends.server_config import tune_gc

frozen_before = gc.get_freeze_count()
tune_gc()
print(gc.get_threshold()[0], frozen_before, gc.get_freeze_count() > 0)

# A cycle made after the tuning is still collected without being asked for:
# enough live allocations set off a young collection.
class Node:
    pass

a, b = Node(), Node()
a.other, b.other = b, a
dead = []
probe = weakref.ref(a, lambda _ref: dead.append(True))
del a, b
keep = [[] for _ in range(3 * %d)]
print(bool(dead))
"""


def test_tune_gc_raises_the_young_threshold_and_still_collects_cycles() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _CHECK % GC_YOUNG_THRESHOLD],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    threshold, frozen_before, frozen_after = result.stdout.split("\n")[0].split()
    assert int(threshold) == GC_YOUNG_THRESHOLD
    assert frozen_before == "0"
    assert frozen_after == "True"
    assert result.stdout.split("\n")[1] == "True"
