"""Lines to events and events to lines, driven entirely by the protocol table.

There is no per-verb code here: a verb's (or push's) arguments come from
``_table``, and the event class's fields carry the same names, so one
generic splitter and one generic joiner cover every line.
"""

from __future__ import annotations

import re
import typing
from datetime import datetime
from typing import Any

from . import _names
from ._errors import LocalProtocolError, RemoteProtocolError
from ._events import (
    COMMAND_TYPES,
    PUSH_TYPES,
    Command,
    Event,
    Greeting,
    Push,
    Reply,
)
from ._table import (
    CODES,
    GREETING_CODE,
    GREETING_KEYS,
    PROTOCOL_NAME,
    PUSHES,
    SPELLINGS,
    Arg,
    Kind,
)

_REPLY = re.compile(r"([A-Z]+)-([0-9]{3})")
_VERSION = re.compile(re.escape(PROTOCOL_NAME) + r"/([0-9]{1,9})")
_INT = re.compile(r"[0-9]{1,18}")
# A float as repr() writes it: up to 17 significant digits, and fixed notation
# down to 1e-4, so up to 21 digits after the point.
_FLOAT = re.compile(r"[0-9]{1,18}(?:\.[0-9]{1,24})?(?:[eE][+-]?[0-9]{1,3})?")

# Greeting fields are the greeting keys with '-' as '_'; their declared types
# decide whether a value must be a whole number.
_GREETING_TYPES: dict[str, type] = typing.get_type_hints(Greeting)
_GREETING_TAG = f"{CODES[GREETING_CODE].tag}-{GREETING_CODE}"


def _field(key: str) -> str:
    return key.replace("-", "_")


def _split(rest: str, args: tuple[Arg, ...]) -> dict[str, str | None]:
    """Split what follows the first word into ``args`` (protocol.md 3.2).

    ``rest`` is empty or starts with a space. Arguments are separated by runs
    of spaces, but the last one is everything after the single space that
    follows the one before it, verbatim. Raises ValueError on bad arity.
    """
    values: dict[str, str | None] = {}
    for i, arg in enumerate(args):
        if i == len(args) - 1:
            value, rest = rest[1:], ""
        else:
            rest = rest.lstrip(" ")
            cut = rest.find(" ")
            value, rest = (rest, "") if cut < 0 else (rest[:cut], rest[cut:])
        if not value and not arg.optional:
            raise ValueError(f"missing <{arg.name}>")
        values[arg.name] = value or None
    if rest.strip(" "):
        raise ValueError("too many arguments")
    return values


def _build(args: tuple[Arg, ...], values: dict[str, str | None]) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    for arg in args:
        value = values[arg.name]
        kwargs[arg.name] = (
            _names.parse_time(value)
            if arg.kind is Kind.TIME and value is not None
            else value
        )
    return kwargs


def _wire(value: object) -> str:
    return _names.format_time(value) if isinstance(value, datetime) else str(value)


def parse_command(line: str) -> Command:
    """One client line (decoded, no terminator, not blank) as a Command."""
    line = line.lstrip(" ")
    cut = line.find(" ")
    word, rest = (line, "") if cut < 0 else (line[:cut], line[cut:])
    # Only ASCII spellings: str.upper() maps some non-ASCII letters to ASCII
    # ones (U+017F long s -> 'S'), which would accept verbs nobody typed.
    verb = SPELLINGS.get(word.upper()) if word.isascii() else None
    if verb is None:
        raise RemoteProtocolError(
            "unknown command", reply_hint=Reply(code=999, text="unknown command")
        )
    try:
        kwargs = _build(verb.args, _split(rest, verb.args))
        return COMMAND_TYPES[verb.verb](**kwargs)
    except (ValueError, LocalProtocolError) as exc:
        usage = Reply(code=702, text=f"usage: {verb.usage}")
        raise RemoteProtocolError(f"{verb.verb}: {exc}", reply_hint=usage) from None


def _number(text: str, kind: type) -> int | float:
    if kind is int:
        if not _INT.fullmatch(text):
            raise ValueError(f"not a whole number: {text!r}")
        return int(text)
    if not _FLOAT.fullmatch(text):
        raise ValueError(f"not a number: {text!r}")
    return float(text)


def _parse_greeting(rest: str) -> Greeting:
    words = [w for w in rest.split(" ") if w]
    version = _VERSION.fullmatch(words[0]) if words else None
    if version is None:
        raise ValueError(f"the greeting does not name {PROTOCOL_NAME}/<version>")
    found: dict[str, str] = {}
    for word in words[1:]:
        key, eq, value = word.partition("=")
        if eq:
            found[key] = value
    kwargs: dict[str, Any] = {"version": int(version[1])}
    for key, _ in GREETING_KEYS:
        if key not in found:
            raise ValueError(f"the greeting lacks {key}=")
        kwargs[_field(key)] = _number(found[key], _GREETING_TYPES[_field(key)])
    return Greeting(**kwargs)


def _parse_server(word: str, rest: str) -> Reply | Greeting | Push:
    shape = _REPLY.fullmatch(word)
    if shape is not None:
        if word == _GREETING_TAG:
            return _parse_greeting(rest)
        code = CODES.get(int(shape[2]))
        if code is None or code.tag != shape[1]:
            raise ValueError(f"unknown reply {word}")
        return Reply(code=code.code, text=rest[1:])
    spec = PUSHES.get(word)
    if spec is None:
        raise ValueError(f"unknown line {word[:40]!r}")
    return PUSH_TYPES[word](**_build(spec.args, _split(rest, spec.args)))


def parse_server_line(line: str) -> Reply | Greeting | Push:
    """One server line (decoded, no terminator); malformed is fatal."""
    cut = line.find(" ")
    word, rest = (line, "") if cut < 0 else (line[:cut], line[cut:])
    try:
        return _parse_server(word, rest)
    except (ValueError, LocalProtocolError) as exc:
        raise RemoteProtocolError(f"bad server line: {exc}", fatal=True) from None


def _number_text(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    short = f"{value:g}"
    # :g reads well but keeps six digits; fall back to repr when it loses.
    return short if float(short) == value else repr(value)


def line(*words: str) -> bytes:
    """Words already valid for their places, as one wire line, LF included.

    No checks: the server builds its pushes from values it has validated
    (names it accepted, text it parsed), so building and validating an
    event for each recipient's line would only repeat that work.
    """
    return (" ".join(words) + "\n").encode("utf-8")


def serialize(event: Event) -> bytes:
    """``event`` as one wire line, LF included."""
    if isinstance(event, Command | Push):
        head, args = (
            (event.VERB, event.spec().args)
            if isinstance(event, Command)
            else (event.WORD, PUSHES[event.WORD].args)
        )
        words = [head]
        for arg in args:
            value = getattr(event, arg.name)
            if value is not None:
                words.append(_wire(value))
    elif isinstance(event, Reply):
        words = [f"{event.tag}-{event.code}"]
        if event.text:
            words.append(event.text)
    elif isinstance(event, Greeting):
        words = [_GREETING_TAG, f"{PROTOCOL_NAME}/{event.version}"]
        for key, _ in GREETING_KEYS:
            words.append(f"{key}={_number_text(getattr(event, _field(key)))}")
    else:
        raise LocalProtocolError(f"{type(event).__name__} has no wire form")
    return line(*words)
