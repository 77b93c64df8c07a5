"""Tk's objects left by a window test are not freed on another thread.

The abort CI once saw with uvloop, reproduced: a test leaves a Tcl
interpreter in a reference cycle, and a later test's thread runs a
collection. Without tests/conftest.py's hook Tcl aborts the process
("Tcl_AsyncDelete: async handler deleted by the wrong thread"); with it the
run passes. A Tcl interpreter needs no display, so this runs everywhere.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("tkinter", reason="this Python has no tkinter")

TESTS = Path(__file__).parent

WINDOW_THEN_THREAD = """
import gc
import threading
import tkinter

import pytest


@pytest.fixture
def root():
    app = tkinter.Tcl()
    cycle = {"app": app}
    cycle["self"] = cycle  # freed only by a collection
    yield app


def test_a_window(root):
    assert root.eval("expr 1 + 1") == "2"


def test_then_a_collection_on_another_thread():
    thread = threading.Thread(target=gc.collect)
    thread.start()
    thread.join(10)
"""


def run(tmp_path: Path, *, hook: bool) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_window.py").write_text(WINDOW_THEN_THREAD)
    if hook:
        shutil.copy(TESTS / "conftest.py", tmp_path / "conftest.py")
    return subprocess.run(
        # --capture=sys: Tcl's own message goes to file descriptor 2, which
        # pytest's default capture swallows when the process dies (as in CI).
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "--capture=sys", str(tmp_path)],
        check=False, capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip


def test_without_the_hook_tcl_aborts(tmp_path: Path) -> None:
    result = run(tmp_path, hook=False)
    assert result.returncode < 0
    out = result.stdout + result.stderr
    assert "Tcl_AsyncDelete: async handler deleted by the wrong thread" in out, out
    assert "Fatal Python error: Aborted" in out and "Garbage-collecting" in out


def test_with_the_hook_the_run_passes(tmp_path: Path) -> None:
    result = run(tmp_path, hook=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
