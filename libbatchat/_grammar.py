"""Lines to events and events to lines, driven entirely by the protocol table.

There is no per-verb code here: a verb's (or push's) arguments come from
``_table``, and the event class's fields carry the same names, so one
generic splitter and one generic joiner cover every line.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Callable
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
    parsed,
)
from ._table import (
    CODES,
    GREETING_CODE,
    GREETING_KEYS,
    GREETING_REQUIRED,
    PROTOCOL_NAME,
    PUSHES,
    SPELLINGS,
    Arg,
    Kind,
    Verb,
    lookup,
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
# A reply's first word by code: a server writes one per command.
REPLY_WORDS = {code: f"{c.tag}-{code}" for code, c in CODES.items()}


def _field(key: str) -> str:
    return key.replace("-", "_")


def _split(rest: str, args: tuple[Arg, ...]) -> dict[str, str | None]:
    """Split what follows the first word into ``args`` (protocol.md 3.2).

    ``rest`` is empty or starts with a space. Arguments are separated by runs
    of spaces, but the last one is everything after the single space that
    follows the one before it, verbatim. Raises ValueError on bad arity.
    """
    values: dict[str, str | None] = {}
    last = len(args) - 1
    for i, arg in enumerate(args):
        if i == last:
            value, rest = rest[1:], ""
            if arg.optional and not value.strip(" "):
                # No optional argument can hold spaces: these are trailing.
                value = ""
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


def _plain_pattern(verb: Verb) -> re.Pattern[str] | None:
    """What follows ``verb`` when every argument is plain (``_names.PLAIN``),
    split as ``_split`` splits it; None if an optional argument is not last
    (or an argument has no plain form)."""
    parts = []
    for i, arg in enumerate(verb.args):
        plain = _names.PLAIN.get(arg.kind)
        if plain is None or (arg.optional and i < len(verb.args) - 1):
            return None
        if i < len(verb.args) - 1:
            parts.append(f" +({plain})")
        elif arg.optional:
            parts.append(f"(?: ({plain}))?")
        else:
            parts.append(f" ({plain})")
    return re.compile("".join(parts))


# The fast way through parse_command, by exact spelling (other cases of a
# verb take the slow way): a line whose arguments are all plain becomes its
# event with one match and no checks. tests/test_parse_plain.py checks on
# random lines that both ways give the same event. With the pattern and the
# class, each argument's slot setter (its member descriptor's __set__), one
# per group of the pattern, in order.
_Setter = Callable[[Command, str | None], None]
_PLAIN: dict[str, tuple[re.Pattern[str], type[Command], tuple[_Setter, ...]]] = {}
for _verb in SPELLINGS.values():
    _pattern = _plain_pattern(_verb)
    if _pattern is not None:
        _cls = COMMAND_TYPES[_verb.verb]
        _setters = tuple(getattr(_cls, a.name).__set__ for a in _verb.args)
        assert _pattern.groups == len(_setters)
        for _word in filter(None, (_verb.verb, _verb.alias)):
            _PLAIN[_word] = (_pattern, _cls, _setters)


def _parse_plain(word: str, rest: str) -> Command | None:
    found = _PLAIN.get(word)
    if found is None:
        return None
    pattern, cls, setters = found
    match = pattern.fullmatch(rest)
    if match is None:
        return None
    # The values already match their kinds' PLAIN patterns, so the checks
    # would pass them unchanged: the event is made without them, its slots
    # set straight (a frozen dataclass refuses setattr). Not strict=True:
    # there are as many by construction, and the check costs a third.
    event = object.__new__(cls)
    for setter, value in zip(setters, match.groups(), strict=False):
        setter(event, value)
    return event


def _first_word(line: str) -> tuple[str, str]:
    line = line.lstrip(" ")
    cut = line.find(" ")
    return (line, "") if cut < 0 else (line[:cut], line[cut:])


def parse_command(line: str) -> Command:
    """One client line (decoded, no terminator, not blank) as a Command."""
    word, rest = _first_word(line)
    return _parse_plain(word, rest) or _parse_checked(word, rest)


def parse_plain(line: str) -> Command | None:
    """``parse_command(line)`` if ``line`` takes the fast way; else None."""
    # _first_word() without the call: a server's every ordinary line.
    line = line.lstrip(" ")
    cut = line.find(" ")
    if cut < 0:
        return _parse_plain(line, "")
    return _parse_plain(line[:cut], line[cut:])


def _parse_checked(word: str, rest: str) -> Command:
    verb = lookup(word)
    if verb is None:
        raise RemoteProtocolError(
            "unknown command", reply_hint=Reply(code=999, text=unknown(word))
        )
    try:
        # No command takes a time (tests/test_table.py), so no _build().
        return parsed(COMMAND_TYPES[verb.verb], _split(rest, verb.args))
    except ValueError as exc:
        rule = str(exc)
    except LocalProtocolError as exc:
        # "Join.room: a room starts with '#'": the rule is after the field.
        rule = str(exc).partition(": ")[2]
    usage = Reply(code=702, text=f"usage: {verb.form}: {rule}")
    raise RemoteProtocolError(f"{verb.verb}: {rule}", reply_hint=usage)


def unknown(word: str) -> str:
    """ERRO-999's text for ``word``: what to do instead (spec 3.3)."""
    tail = "HELP lists the commands"
    shown = word[:32]
    if not shown or not shown.isprintable():
        return f"unknown command; {tail}"
    # Habits from other chats: /join, @ana hi.
    verb = lookup(shown[1:]) if shown[0] == "/" else None
    if verb is not None:
        return f"unknown command {shown}: commands take no '/' ({verb.verb}); {tail}"
    if shown[0] == "@" and len(shown) > 1:
        who = shown[1:]
        return f"unknown command {shown}: to write to {who}, CHAT {who} <text>; {tail}"
    return f"unknown command {shown}; {tail}"


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
        if key in found:
            kwargs[_field(key)] = _number(found[key], _GREETING_TYPES[_field(key)])
        elif key in GREETING_REQUIRED:
            raise ValueError(f"the greeting lacks {key}=")
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


def reply_line(code: int, text: str) -> bytes:
    """A reply's wire line (a server writes one per command: straight to it)."""
    word = REPLY_WORDS[code]
    return f"{word} {text}\n".encode() if text else f"{word}\n".encode()


def serialize(event: Event) -> bytes:
    """``event`` as one wire line, LF included."""
    if isinstance(event, Reply):
        return reply_line(event.code, event.text)
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
    elif isinstance(event, Greeting):
        words = [_GREETING_TAG, f"{PROTOCOL_NAME}/{event.version}"]
        for key, _ in GREETING_KEYS:
            words.append(f"{key}={_number_text(getattr(event, _field(key)))}")
    else:
        raise LocalProtocolError(f"{type(event).__name__} has no wire form")
    return line(*words)
