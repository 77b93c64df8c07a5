"""Hypothesis strategies for every event, built from the protocol table.

Each argument kind maps to a strategy of valid values; the events are then
assembled from each verb's and push's argument list, so a new verb or push
in ``_table`` is covered here without touching this file.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import strategies as st

from libbatchat import _names
from libbatchat._events import (
    COMMAND_TYPES,
    PUSH_TYPES,
    Command,
    Event,
    Greeting,
    Push,
    Reply,
)
from libbatchat._table import CLOSE_REASONS, CODES, GREETING_CODE, PUSHES, VERBS, Kind

_CONTROLS = "".join(chr(c) for c in [*range(0x20), *range(0x7F, 0xA0)])


def _valid(kind: Kind) -> Any:
    def check(value: object) -> bool:
        try:
            _names.check(kind, value)
        except ValueError:
            return False
        return True

    return check


def _normalized(kind: Kind) -> Any:
    return lambda value: _names.check(kind, value)


_name_chars = st.characters(
    categories=("Lu", "Ll", "Lt", "Lm", "Lo", "Nd", "Mn"),
    include_characters="_-.",
)
names = (
    st.one_of(
        st.text(_name_chars, min_size=1, max_size=32),
        st.sampled_from(["ana", "Bruno", "joão", "Ωμέγα", "名前", "x_y-z.1"]),
    )
    .filter(_valid(Kind.NAME))
    .map(_normalized(Kind.NAME))
)
rooms = names.map(lambda n: "#" + n).filter(_valid(Kind.ROOM))
targets = st.one_of(names, rooms, st.just("*"))
addresses = st.one_of(st.sampled_from(["@", "*"]), rooms)
scopes = st.one_of(st.just("*"), rooms)
# Spaces, leading and trailing, are the interesting part of a last argument.
texts = st.one_of(
    st.text(
        st.characters(exclude_characters=_CONTROLS, exclude_categories=("Cs",)),
        min_size=1,
        max_size=60,
    ),
    st.sampled_from([" ", "  hi there ", "tab\there", "olá, mundo"]),
).filter(_valid(Kind.TEXT))
passwords = st.text(
    st.characters(exclude_characters=_CONTROLS, exclude_categories=("Cs",)),
    min_size=1,
    max_size=40,
).filter(_valid(Kind.PASSWORD))
tokens = st.text(
    st.characters(exclude_categories=("Zs", "Zl", "Zp", "Cc", "Cs")),
    min_size=1,
    max_size=64,
).filter(_valid(Kind.TOKEN))
reasons = st.one_of(
    st.sampled_from(sorted(CLOSE_REASONS)),
    st.from_regex(r"[a-z][a-z0-9-]{0,31}", fullmatch=True),
)
times = st.datetimes(min_value=datetime(1000, 1, 1), timezones=st.just(UTC)).map(
    _names.check_time
)

KINDS: dict[Kind, st.SearchStrategy[Any]] = {
    Kind.NAME: names,
    Kind.ROOM: rooms,
    Kind.TARGET: targets,
    Kind.ADDRESS: addresses,
    Kind.SCOPE: scopes,
    Kind.PASSWORD: passwords,
    Kind.TEXT: texts,
    Kind.TOKEN: tokens,
    Kind.REASON: reasons,
    Kind.TIME: times,
}


def command_of(verb: str) -> st.SearchStrategy[Command]:
    spec = VERBS[verb]
    fields = {
        a.name: st.one_of(st.none(), KINDS[a.kind]) if a.optional else KINDS[a.kind]
        for a in spec.args
    }
    return st.builds(COMMAND_TYPES[verb], **fields)


def push_of(word: str) -> st.SearchStrategy[Push]:
    fields = {a.name: KINDS[a.kind] for a in PUSHES[word].args}
    return st.builds(PUSH_TYPES[word], **fields)


commands: st.SearchStrategy[Command] = st.one_of(*(command_of(v) for v in VERBS))
pushes: st.SearchStrategy[Push] = st.one_of(*(push_of(w) for w in PUSHES))
replies = st.builds(
    Reply,
    code=st.sampled_from(sorted(c for c in CODES if c != GREETING_CODE)),
    text=st.one_of(st.just(""), texts),
)
_whole = st.integers(min_value=1, max_value=10**9)
_real = st.one_of(
    _whole,
    st.floats(min_value=1e-6, max_value=1e9, allow_nan=False, allow_infinity=False),
)
greetings = st.builds(
    Greeting,
    version=st.integers(min_value=1, max_value=99),
    max_line=_whole,
    burst=_whole,
    rate=_real,
    ping=_real,
    ping_timeout=_real,
    login_timeout=_real,
)
server_events: st.SearchStrategy[Event] = st.one_of(replies, pushes, greetings)
events: st.SearchStrategy[Event] = st.one_of(commands, server_events)
