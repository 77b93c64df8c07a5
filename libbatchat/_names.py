"""Validation of every argument kind in the table, and name folding."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime

from ._skeleton import describe, invisible
from ._table import Kind

MAX_NAME = 32
MAX_PASSWORD = 256
MAX_TOKEN = 64

_REASON = re.compile(r"[a-z][a-z0-9-]{0,31}")
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
# One compiled scan instead of a Python loop per character: C0, DEL and C1
# (they can break terminals and line framing downstream); text allows TAB.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_TEXT_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")
_TOKEN_BAD = re.compile(r"[\x00-\x1f\x7f-\x9f\s]")
# Most names are plain ASCII, already NFC; only the others need the
# character-by-character check below.
_ASCII_NAME = re.compile(rf"[A-Za-z0-9_.-]{{1,{MAX_NAME}}}")


# For each kind, a pattern every match of which its check accepts as it is
# (tests/test_names.py checks that on random text): plain ASCII names, text
# without control characters. The parser takes such arguments as they come;
# anything else goes through the checks (and gets their error messages).
_PLAIN_NAME = _ASCII_NAME.pattern
PLAIN: dict[Kind, str] = {
    Kind.NAME: _PLAIN_NAME,
    Kind.ROOM: "#" + _PLAIN_NAME,
    Kind.TARGET: rf"\*|#?{_PLAIN_NAME}",
    Kind.ADDRESS: rf"[@*]|#{_PLAIN_NAME}",
    Kind.SCOPE: rf"\*|#{_PLAIN_NAME}",
    # Lone surrogates (which no decoded line holds) are not plain: a str can
    # hold them, the wire cannot.
    Kind.PASSWORD: rf"[^\x00-\x1f\x7f-\x9f\ud800-\udfff]{{1,{MAX_PASSWORD}}}",
    Kind.TEXT: r"[^\x00-\x08\x0a-\x1f\x7f-\x9f\ud800-\udfff]+",
    Kind.TOKEN: rf"[^\x00-\x1f\x7f-\x9f\ud800-\udfff\s]{{1,{MAX_TOKEN}}}",
    Kind.REASON: _REASON.pattern,
}


def fold(name: str) -> str:
    """The key names compare by: NFC, then case-folded."""
    return unicodedata.normalize("NFC", name).casefold()


def _name(value: str) -> str:
    if _ASCII_NAME.fullmatch(value):
        return value
    value = unicodedata.normalize("NFC", value)
    if not 1 <= len(value) <= MAX_NAME:
        raise ValueError(f"a name has 1 to {MAX_NAME} characters")
    for i, ch in enumerate(value):
        if invisible(ch):
            # Fillers (U+3164 is a letter), joiners and variation selectors
            # draw nothing: a name with one looks like another name, or blank.
            raise ValueError(f"a name may not contain {describe(ch)} (invisible)")
        cat = unicodedata.category(ch)
        if ch in "_-." or cat[0] == "L" or cat == "Nd" or (i and cat[0] == "M"):
            continue
        raise ValueError(f"a name may not contain {describe(ch)}")
    return value


def _room(value: str) -> str:
    if not value.startswith("#"):
        raise ValueError("a room starts with '#'")
    return "#" + _name(value[1:])


def _target(value: str) -> str:
    if value == "*":
        return value
    return _room(value) if value.startswith("#") else _name(value)


def _address(value: str) -> str:
    if value in ("@", "*"):
        return value
    return _room(value)


def _scope(value: str) -> str:
    return value if value == "*" else _room(value)


def _password(value: str) -> str:
    if not 1 <= len(value) <= MAX_PASSWORD:
        raise ValueError(f"a password has 1 to {MAX_PASSWORD} characters")
    if _CONTROL.search(value):
        raise ValueError("a password may not contain control characters")
    return value


def _text(value: str) -> str:
    if not value:
        raise ValueError("the text is empty")
    if _TEXT_CONTROL.search(value):
        raise ValueError("the text may not contain control characters")
    return value


def _token(value: str) -> str:
    if not 1 <= len(value) <= MAX_TOKEN:
        raise ValueError(f"a token has 1 to {MAX_TOKEN} characters")
    if _TOKEN_BAD.search(value):
        raise ValueError("a token may not contain spaces or control characters")
    return value


def _reason(value: str) -> str:
    if not _REASON.fullmatch(value):
        raise ValueError("a reason is a lowercase word such as 'ping-timeout'")
    return value


_CHECKS: dict[Kind, Callable[[str], str]] = {
    Kind.NAME: _name,
    Kind.ROOM: _room,
    Kind.TARGET: _target,
    Kind.ADDRESS: _address,
    Kind.SCOPE: _scope,
    Kind.PASSWORD: _password,
    Kind.TEXT: _text,
    Kind.TOKEN: _token,
    Kind.REASON: _reason,
}


# Kind.TIME read off the class is a Python-level lookup in 3.11.
_TIME_KIND = Kind.TIME


def check(kind: Kind, value: object) -> object:
    """Return ``value`` normalized for ``kind``, or raise ValueError."""
    if kind is _TIME_KIND:
        return check_time(value)
    if not isinstance(value, str):
        raise ValueError(f"expected text, got {type(value).__name__}")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            # Lone surrogates: a str can hold them, the wire cannot.
            raise ValueError("not encodable as UTF-8") from None
    return _CHECKS[kind](value)


def check_time(value: object) -> datetime:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise ValueError("a time is a timezone-aware datetime")
    value = value.astimezone(UTC)
    # The wire carries milliseconds; finer precision could not round-trip.
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def format_time(value: datetime) -> str:
    # Not strftime's %Y: it does not zero-pad years before 1000 on glibc,
    # and parse_time needs four digits.
    ms = value.microsecond // 1000
    return f"{value.year:04d}-{value:%m-%dT%H:%M:%S}.{ms:03d}Z"


# ".mmmZ" for each millisecond: a lookup instead of a format per message.
_MILLIS = tuple(f".{ms:03d}Z" for ms in range(1000))


class WallFormatter:
    """``format_time`` of a ``time.time()`` reading, cheaply.

    A server stamps every message; the date and time of day change once a
    second, so they are formatted once per second and only the milliseconds
    per call. Equal to ``format_time(check_time(datetime.fromtimestamp(t,
    UTC)))`` (microseconds rounded, then cut to milliseconds).
    """

    __slots__ = ("_prefix", "_second")

    def __init__(self) -> None:
        self._second: int | None = None
        self._prefix = ""

    def __call__(self, t: float) -> str:
        # Rounded as datetime.fromtimestamp rounds: the fraction alone.
        frac, whole = math.modf(t)
        micro = round(frac * 1_000_000)
        second = int(whole)
        if not 0 <= micro < 1_000_000:
            # Rounded up to the next second (or t < 0): carry it over.
            second += micro // 1_000_000
            micro %= 1_000_000
        if second != self._second:
            self._second = second
            stamp = datetime.fromtimestamp(second, UTC)
            self._prefix = format_time(stamp)[:-5]
        return self._prefix + _MILLIS[micro // 1000]


def parse_time(text: str) -> datetime:
    if not _TIME.fullmatch(text):
        raise ValueError("a time looks like 2026-01-31T12:00:00.000Z")
    return datetime.strptime(text[:-1] + "000", "%Y-%m-%dT%H:%M:%S.%f").replace(
        tzinfo=UTC
    )
