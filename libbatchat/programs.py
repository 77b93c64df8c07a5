"""The console scripts' entry points: batchat-server, batchat-admin, batchat-repl,
batchat-gui and batchat-bot.

The programs are installed as the package ``batchat_frontends`` (a wheel
renames the source tree's ``frontends/`` so it cannot clash with another
project's ``frontends``). An editable install has no such package: the tree
itself is on ``sys.path``, so the programs are found as ``frontends``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType
from typing import cast

__all__ = ["admin", "bot", "gui", "repl", "server"]

PACKAGES = ("batchat_frontends", "frontends")


def load(program: str, packages: tuple[str, ...] | None = None) -> ModuleType:
    """The module of ``program``, from the first package that is installed."""
    packages = PACKAGES if packages is None else packages
    for package in packages:
        try:
            return importlib.import_module(f"{package}.{program}")
        except ModuleNotFoundError as exc:
            if exc.name != package:
                raise  # the program is there, something it imports is not
    raise ModuleNotFoundError(f"none of {', '.join(packages)} is installed")


def _main(program: str) -> int:
    main = cast(Callable[[], int], load(program).main)
    return main()


def server() -> int:
    return _main("server")


def admin() -> int:
    return _main("admin")


def repl() -> int:
    return _main("repl")


def gui() -> int:
    return _main("gui.app")


def bot() -> int:
    return _main("bot")
