"""A valid example of every command, built from the protocol table."""

from __future__ import annotations

from libbatchat._events import COMMAND_TYPES, Command
from libbatchat._table import VERBS

# By (kind, argument name): the same name can be of two kinds (after).
SAMPLE_ARGS = {
    ("name", "user"): "ana",
    ("password", "password"): "s3cret pass",
    ("name", "nick"): "Z\u00e9",
    ("room", "room"): "#geral",
    ("scope", "room"): "#geral",
    ("target", "target"): "bruno",
    ("text", "text"): " oi ",
    ("token", "token"): "t-1",
    ("token", "command"): "join",
    ("name", "after"): "bia",
    ("room", "after"): "#b",
}


def example(verb: str) -> Command:
    """``verb`` with a valid value for each of its arguments."""
    args = {a.name: SAMPLE_ARGS[a.kind.value, a.name] for a in VERBS[verb].args}
    return COMMAND_TYPES[verb](**args)
