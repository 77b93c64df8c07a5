"""Refresh the screenshots in docs/img/: ``python -m tests.gui_screenshots``.

Runs the window tests with BATCHAT_SCREENSHOTS set, so each screen they
photograph is also copied into docs/img/ (every test run keeps its own
copies in pytest's temporary directory either way).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# Not imported from tests.gui_harness: importing it before pytest.main()
# would keep pytest from rewriting its asserts.
SCREENSHOTS_ENV = "BATCHAT_SCREENSHOTS"
DOCS_IMG = Path(__file__).resolve().parent.parent / "docs" / "img"

if __name__ == "__main__":
    os.environ[SCREENSHOTS_ENV] = "1"
    code = pytest.main(
        [
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/test_gui.py",
            "tests/test_gui_monitor.py",
        ]
    )
    print("screenshots in", DOCS_IMG)
    sys.exit(code)
