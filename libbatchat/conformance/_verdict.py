"""What a case concludes (failed, skipped), and how it matches and shows events."""

from __future__ import annotations

from dataclasses import fields

from ._model import Event, Push, Reply


class CaseFailed(AssertionError):
    """The server broke the spec; the message says how."""


class CaseSkipped(Exception):
    """The case cannot run here (it would exceed the time budget, say)."""


def matches(pattern: Push, event: Event) -> bool:
    """Equal, except that fields left ``None`` in the pattern match anything."""
    if type(pattern) is not type(event):
        return False
    for f in fields(pattern):
        want = getattr(pattern, f.name)
        if want is not None and want != getattr(event, f.name):
            return False
    return True


def show(event: Event | None) -> str:
    if event is None:
        return "nothing"
    if isinstance(event, Reply):
        name = event.outcome.value if event.outcome else "unknown code"
        return f"{event.code} ({name}) {event.text!r}"
    return repr(event)
