"""Session states and the one transition table, the same for both roles.

Two rules, as in h11: every state change lives in this table, and the table
does not know which side of the connection we are. A client applies a
transition when it sends or receives the event; a server does the same, so
both sides always agree on the state.
"""

from __future__ import annotations

import enum

from ._events import (
    Closing,
    Command,
    ConnectionClosed,
    Event,
    Greeting,
    Reply,
)
from ._table import CODES


class State(enum.Enum):
    GREETING = "GREETING"  # connected; the server's greeting not yet through
    ANONYMOUS = "ANONYMOUS"  # greeted, not logged in
    LOGGED_IN = "LOGGED_IN"  # logged in with an account or as a guest
    QUITTING = "QUITTING"  # SAIR sent; waiting for PASS-217
    CLOSED = "CLOSED"  # nothing more crosses this connection

    # As for _table.Kind: identity hashes a member in C, not in Python (a
    # TRANSITIONS lookup for every event either side sends or reads).
    __hash__ = object.__hash__


# A trigger is "greeting", a command verb, a reply as TAG-NNN, "CLOSING"
# (the push) or "EOF". Events not listed change nothing.
_ANY_OPEN = {"CLOSING": State.CLOSED, "EOF": State.CLOSED, "SAIR": State.QUITTING}

TRANSITIONS: dict[State, dict[str, State]] = {
    State.GREETING: {"greeting": State.ANONYMOUS, **_ANY_OPEN},
    State.ANONYMOUS: {
        "PASS-214": State.LOGGED_IN,
        "PASS-218": State.LOGGED_IN,
        **_ANY_OPEN,
    },
    State.LOGGED_IN: dict(_ANY_OPEN),
    State.QUITTING: {
        "PASS-217": State.CLOSED,
        "CLOSING": State.CLOSED,
        "EOF": State.CLOSED,
    },
    State.CLOSED: {},
}

# States in which a client may send a command (pipelining before the greeting
# arrives is allowed; nothing may follow SAIR).
COMMAND_STATES = frozenset({State.GREETING, State.ANONYMOUS, State.LOGGED_IN})


# Looked up for every event either side sends or reads, so the key is worked
# out once per event class ("" for replies, whose code decides) and per code.
_CLASS_KEYS: dict[type[Event], str | None] = {}
_REPLY_KEYS = {code: f"{c.tag}-{code}" for code, c in CODES.items()}


def _class_key(cls: type[Event]) -> str | None:
    if issubclass(cls, Greeting):
        return "greeting"
    if issubclass(cls, Command):
        return cls.VERB
    if issubclass(cls, Reply):
        return ""
    if issubclass(cls, Closing):
        return "CLOSING"
    if issubclass(cls, ConnectionClosed):
        return "EOF"
    return None


def trigger(event: Event) -> str | None:
    """The table key ``event`` is filed under, if it can change the state."""
    cls = type(event)
    try:
        key = _CLASS_KEYS[cls]
    except KeyError:
        key = _CLASS_KEYS[cls] = _class_key(cls)
    if key == "":
        assert isinstance(event, Reply)
        return _REPLY_KEYS[event.code]
    return key


def next_state(state: State, event: Event) -> State:
    key = trigger(event)
    if key is None:
        return state
    return TRANSITIONS[state].get(key, state)


def diagram() -> str:
    """The transition table as a Mermaid state diagram, for docs/protocol.md."""
    lines = ["stateDiagram-v2", f"    [*] --> {State.GREETING.value}"]
    for state, moves in TRANSITIONS.items():
        for key, target in moves.items():
            lines.append(f"    {state.value} --> {target.value}: {key}")
    lines.append(f"    {State.CLOSED.value} --> [*]")
    return "\n".join(lines)
