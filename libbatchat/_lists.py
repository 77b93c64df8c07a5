"""List replies that fit in a line (spec 5.4, 5.6).

``LISTA`` and ``SALAS`` could name thousands of users or rooms; one reply
line holding them all would outgrow what a client buffers (issue 7, row 6).
So a list reply is one page: as many items as fit in ``max-line`` bytes, and
``+N`` at the end when N more were left out. The client asks again with the
last item it got, and the next page starts after it.
"""

from __future__ import annotations

from collections.abc import Iterable


def page(items: Iterable[str], budget: int) -> str:
    """``items`` joined by spaces in at most ``budget`` UTF-8 bytes.

    When not all fit, the text ends with `` +N``, N the count left out, and
    the space for that marker is kept while filling the page.
    """
    pending = list(items)
    shown: list[str] = []
    used = 0
    for i, item in enumerate(pending):
        size = len(item.encode("utf-8")) + (1 if shown else 0)
        left = len(pending) - i - 1
        marker = len(f" +{left}") if left else 0
        if used + size + marker > budget:
            break
        shown.append(item)
        used += size
    more = len(pending) - len(shown)
    tail = [f"+{more}"] if more else []
    return " ".join(shown + tail)


def budget(max_line: int, tag: str) -> int:
    """Bytes a reply ``TAG-NNN text\\n`` leaves for its text."""
    return max_line - len(tag) - len("-NNN ") - 1
