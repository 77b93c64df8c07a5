"""batchat-repl: the interactive client, on the library's client layer."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """The ``batchat-repl`` command: says what to install if prompt_toolkit is not."""
    try:
        # Imported here: the message above is for a missing prompt_toolkit.
        from .cli import main as run  # noqa: PLC0415
    except ModuleNotFoundError as exc:
        if exc.name != "prompt_toolkit":
            raise
        print(
            "batchat-repl: it needs prompt_toolkit; install it with "
            "pip install 'libbatchat[frontends]' (or pip install prompt_toolkit)",
            file=sys.stderr,
        )
        return 1
    return run(argv)
