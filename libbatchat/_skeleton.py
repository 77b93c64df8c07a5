"""Names that cannot impersonate: invisible characters and confusable skeletons.

A skeleton (UTS #39 section 4, with NFKC case folding first) is what a name
looks like, reduced: ``ana``, ``Ana``, and ``ana`` spelled with a Cyrillic
U+0430, a Greek alpha, fullwidth or math bold letters all have the skeleton
``ana``.
The server refuses a name whose skeleton belongs to another name online or
registered (docs/protocol.md 3.5). The data is generated from the Unicode
files by tools/gen_unicode_data.py.
"""

from __future__ import annotations

import unicodedata
from bisect import bisect_right

from ._unicode_data import CONFUSABLES, DATA_VERSION, IGNORABLE

__all__ = ["DATA_VERSION", "describe", "invisible", "skeleton"]


def _load() -> dict[str, str]:
    table: dict[str, str] = {}
    for item in "".join(CONFUSABLES).split(","):
        if item:
            src, _, dst = item.partition(":")
            table[chr(int(src, 16))] = "".join(chr(int(x, 16)) for x in dst.split("."))
    return table


_MAP = _load()
_STARTS = [lo for lo, _ in IGNORABLE]


def invisible(ch: str) -> bool:
    """Whether ``ch`` is a default-ignorable code point (drawn as nothing:
    joiners, variation selectors, fillers such as U+3164)."""
    o = ord(ch)
    i = bisect_right(_STARTS, o) - 1
    return i >= 0 and o <= IGNORABLE[i][1]


def skeleton(name: str) -> str:
    """The key two names that look alike share (case-insensitive)."""
    folded = unicodedata.normalize(
        "NFKC", unicodedata.normalize("NFKC", name).casefold()
    )
    nfd = unicodedata.normalize("NFD", folded)
    return unicodedata.normalize("NFD", "".join(_MAP.get(c, c) for c in nfd))


def describe(ch: str) -> str:
    """``ch`` for an error message: itself if visible, else its code point."""
    if ch.isprintable() and not ch.isspace() and not invisible(ch):
        return f"'{ch}'"
    name = unicodedata.name(ch, "")
    return f"U+{ord(ch):04X} {name}".rstrip()
