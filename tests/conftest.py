"""What every test run shares: Tk's objects are freed on the Tk thread.

A window test leaves its Tk root, widgets and variables as cyclic garbage
once pytest drops the test's arguments. Left to the collector, they are freed
by whichever thread next allocates enough to start a collection: an event
loop or server thread of a later test. Tcl cannot take that: a Tk variable
freed there raises "main thread is not in main loop", and the interpreter
itself aborts the process ("Tcl_AsyncDelete: async handler deleted by the
wrong thread", then "Fatal Python error: Aborted" while garbage-collecting;
CI saw it on a uvloop loop thread, in aio.Server.close, right after the
window tests). So a window test runs with automatic collection off, and
once pytest has let go of its arguments its garbage is collected here, on
the main thread, Tk's.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

# The fixtures (tests/gui_harness.py) through which a test gets Tk objects.
TK_FIXTURES = {"root", "display"}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    if not TK_FIXTURES & set(getattr(item, "fixturenames", ())):
        yield
        return
    # No automatic collection while the test runs: a window it destroys
    # midway is garbage at once, and the test's loop threads allocate too.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
        # The item's arguments are gone now (runtestprotocol clears them
        # after teardown): its windows are unreachable, freed here.
        gc.collect()
    finally:
        if was_enabled:
            gc.enable()
