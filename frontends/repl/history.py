"""Where the REPL keeps its files, and a history that never holds a password."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from prompt_toolkit.history import FileHistory

from libbatchat import VERBS

__all__ = ["SafeHistory", "data_dir", "is_secret"]

# Lines of these verbs carry a password as their last argument.
_SECRET = {
    spelling
    for verb in ("NOVO", "ENTRAR")
    for spelling in (verb, VERBS[verb].alias or verb)
}


def data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_DATA_HOME/batchat``, else ``~/.local/share/batchat``."""
    environ = os.environ if environ is None else environ
    base = environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "batchat"


def is_secret(line: str) -> bool:
    """Whether ``line`` logs in or registers, and so holds a password."""
    words = line.strip().removeprefix("/quote").split()
    return bool(words) and words[0].upper() in _SECRET


class SafeHistory(FileHistory):
    """A ``FileHistory`` (Ctrl-R searches it) that drops lines with passwords."""

    def __init__(self, filename: str | os.PathLike[str]) -> None:
        Path(filename).parent.mkdir(parents=True, exist_ok=True)
        super().__init__(filename)

    def append_string(self, string: str) -> None:
        if is_secret(string):
            return
        super().append_string(string)
