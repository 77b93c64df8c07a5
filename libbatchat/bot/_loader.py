"""Finding the bot in a file (``path/to/bot.py``) or a module (``pkg.mod:attr``)."""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from types import ModuleType

from ._bot import Bot

__all__ = ["NoBot", "load_bot"]


class NoBot(Exception):
    """There is no bot where one was asked for; ``str()`` is one line."""


def _from_file(path: Path) -> ModuleType:
    if not path.is_file():
        raise NoBot(f"{path}: no such file")
    # A fresh module each time: loading a bot twice gives two bots.
    name = f"batchat_bot_{path.stem}_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise NoBot(f"{path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_bot(where: str) -> Bot:
    """The ``Bot`` in ``where``: a ``.py`` path, or ``module`` / ``module:attr``.

    Without ``:attr`` the module's ``bot`` is taken, else its only ``Bot``.
    Raises ``NoBot`` with one line when there is none; errors raised by
    the file itself (a syntax error, say) propagate.
    """
    target, _, attr = where.partition(":")
    if target.endswith(".py") or "/" in target or Path(target).is_file():
        module = _from_file(Path(target))
    else:
        try:
            module = importlib.import_module(target)
        except ModuleNotFoundError as exc:
            if exc.name is not None and target.startswith(exc.name):
                raise NoBot(f"{target}: no such module") from None
            raise
    if attr:
        found = getattr(module, attr, None)
        if not isinstance(found, Bot):
            raise NoBot(f"{where}: {attr} is not a Bot")
        return found
    named = getattr(module, "bot", None)
    if isinstance(named, Bot):
        return named
    bots = [v for v in vars(module).values() if isinstance(v, Bot)]
    if len(bots) == 1:
        return bots[0]
    if not bots:
        raise NoBot(f"{target}: no bot in it (define bot = Bot(...))")
    raise NoBot(f"{target}: several bots; say which with {target}:NAME")
