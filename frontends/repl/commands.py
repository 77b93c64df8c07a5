"""What a typed line means: a REPL command, a protocol line, or chat text.

The REPL's own verbs start with '/'. A line whose first word is a protocol
verb or alias in capitals (``CHAT ana oi``, ``LISTA``, ``WHO``, ``SAIR``) is
sent as the protocol line it is, as BatChat users always typed them; in
lower case the same words are plain text, so "who is there?" is a message.
``@nick text`` is a direct message. Anything else goes to the current
target. ``/help`` is generated from this table and the protocol's.
"""

from __future__ import annotations

from dataclasses import dataclass

from libbatchat import VERBS

__all__ = [
    "COMMANDS",
    "Command",
    "Input",
    "help_lines",
    "lookup",
    "parse_input",
    "protocol_spellings",
]


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    aliases: tuple[str, ...]
    usage: str
    help: str
    completes: str = ""  # what its first argument is: "nick", "room", "target"


COMMANDS: tuple[Command, ...] = (
    Command(
        "msg",
        ("private",),
        "/msg TARGET TEXT",
        "send TEXT to a user, a #room or * (everyone); also @nick TEXT",
        "target",
    ),
    Command("say", (), "/say TEXT", "send TEXT to the current target, as it is"),
    Command(
        "room",
        ("query", "target"),
        "/room [TARGET]",
        "talk to TARGET from now on: a #room, a nick, or * for everyone",
        "target",
    ),
    Command(
        "who",
        ("online",),
        "/who [#ROOM]",
        "who is online, or who is in #ROOM",
        "room",
    ),
    Command(
        "join", (), "/join #ROOM", "join #ROOM (creating it) and talk there", "room"
    ),
    Command(
        "part", ("leave",), "/part [#ROOM]", "leave #ROOM (the current one)", "room"
    ),
    Command("rooms", ("list",), "/rooms", "list the rooms and their sizes"),
    Command("ping", ("lag",), "/ping", "measure the lag to the server now"),
    Command(
        "raw",
        (),
        "/raw",
        "show or hide every line on the wire: direction, time, parsed event",
    ),
    Command("quote", (), "/quote LINE", "send LINE to the server exactly as typed"),
    Command("help", (), "/help [COMMAND]", "this list, or one command in detail"),
    Command("quit", ("exit",), "/quit", "say goodbye (SAIR) and leave; also Ctrl-D"),
)

_BY_NAME = {n: c for c in COMMANDS for n in (c.name, *c.aliases)}


def lookup(word: str) -> Command | None:
    """The REPL command ``/word`` names (its name or an alias), if any."""
    return _BY_NAME.get(word.lower().removeprefix("/"))


def protocol_spellings() -> dict[str, str]:
    """Every protocol verb and alias, as typed, to its canonical verb."""
    spellings = {v.verb: v.verb for v in VERBS.values()}
    spellings.update({v.alias: v.verb for v in VERBS.values() if v.alias})
    return spellings


@dataclass(frozen=True, slots=True)
class Input:
    """A typed line, classified."""

    kind: str  # "command", "unknown", "protocol", "dm", "text", "empty"
    command: Command | None = None
    args: str = ""  # what follows the command word (one space dropped)
    verb: str = ""  # for "protocol": the canonical verb
    target: str = ""  # for "dm"
    line: str = ""  # the whole line


def parse_input(line: str) -> Input:
    if not line.strip():
        return Input("empty", line=line)
    if line.startswith("/") and not line.startswith("//"):
        word, _, rest = line[1:].partition(" ")
        command = lookup(word)
        if command is None:
            return Input("unknown", args=word, line=line)
        return Input("command", command=command, args=rest.strip(), line=line)
    if line.startswith("//"):
        # '//' escapes a slash: "//shrug" sends "/shrug".
        return Input("text", args=line[1:], line=line)
    if line.startswith("@") and " " in line:
        nick, _, text = line[1:].partition(" ")
        if nick and text.strip():
            return Input("dm", target=nick, args=text, line=line)
    first = line.split(" ", 1)[0]
    verb = protocol_spellings().get(first)
    if verb is not None:
        return Input("protocol", verb=verb, line=line)
    return Input("text", args=line, line=line)


def help_lines(topic: str = "") -> list[tuple[str, str]]:
    """``(usage, explanation)`` rows for /help, or for one command or verb."""
    rows: list[tuple[str, str]] = []
    wanted = topic.strip().lower().removeprefix("/")
    for c in COMMANDS:
        names = (c.name, *c.aliases)
        if wanted and wanted not in names:
            continue
        also = f" (also /{', /'.join(c.aliases)})" if c.aliases else ""
        rows.append((c.usage, c.help + also))
    for v in VERBS.values():
        if v.verb == "PONG":
            continue  # the library answers the server's PING itself
        names = tuple(n.lower() for n in (v.verb, v.alias) if n)
        if wanted and wanted not in names:
            continue
        also = f" (also {v.alias})" if v.alias else ""
        rows.append((v.usage, v.help + also))
    return rows
