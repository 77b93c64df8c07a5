"""The generator's own framing for the two dialects it speaks.

Deliberately minimal and independent of ``libbatchat``: a benchmark that
parsed with the code under test would share its bugs. Each dialect turns the
few actions a workload needs into bytes, and classifies incoming lines into
the handful of kinds the workloads care about.

Message text is always ``x <a> <b> <nanoseconds>`` so a receiver finds the
three numbers with one ``rsplit`` whatever the dialect put in front.
"""

from __future__ import annotations

from dataclasses import dataclass

# Line kinds (ints: compared on the hot path).
OTHER, MSG, PONG, PING, LOGGED_IN, FAILED, CLOSING = range(7)


@dataclass(frozen=True)
class Dialect:
    """How to say each action, and how to recognise each answer."""

    name: str
    eol: bytes
    msg_marker: bytes  # a line holding this is a delivered message

    def login(self, nick: str) -> bytes:
        if self.name == "irc":
            return b"NICK %s\r\nUSER %s 0 * :%s\r\n" % ((nick.encode(),) * 3)
        return b"APELIDO %s\n" % nick.encode()

    def join(self, room: str) -> bytes:
        verb = b"JOIN" if self.name == "irc" else b"JUNTAR"
        return b"%s %s%s" % (verb, room.encode(), self.eol)

    def msg(self, target: bytes, a: int, b: int, ns: int) -> bytes:
        if self.name == "irc":
            return b"PRIVMSG %s :x %d %d %d\r\n" % (target, a, b, ns)
        return b"CHAT %s x %d %d %d\n" % (target, a, b, ns)

    def ping(self, token: str) -> bytes:
        if self.name == "irc":
            return b"PING :%s\r\n" % token.encode()
        return b"PING %s\n" % token.encode()

    def pong(self, token: bytes) -> bytes:
        if self.name == "irc":
            return b"PONG :%s\r\n" % token
        return b"PONG %s\n" % token

    def classify(self, line: bytes) -> tuple[int, bytes]:
        """The kind of a non-message line and its token (PONG, PING) or text."""
        if self.name == "irc":
            return _classify_irc(line)
        return _classify_canonical(line)


def _classify_canonical(line: bytes) -> tuple[int, bytes]:
    head, _, rest = line.partition(b" ")
    if head == b"PONG-224":
        return PONG, rest
    if head == b"PING":
        return PING, rest
    if head == b"PASS-218":
        return LOGGED_IN, rest
    if head.startswith(b"ERRO-"):
        return FAILED, line
    if head == b"CLOSING":
        return CLOSING, line
    return OTHER, b""


def _classify_irc(line: bytes) -> tuple[int, bytes]:
    words = line.split(b" ", 3)
    if words[0] == b"PING":
        return PING, line[5:].lstrip(b":")
    if words[0] == b"ERROR":
        return CLOSING, line
    if len(words) < 2:
        return OTHER, b""
    verb = words[1]
    if verb == b"PONG":
        # ":server PONG server :token": the token is the last parameter.
        return PONG, line.rpartition(b" ")[2].lstrip(b":")
    if verb == b"001":
        return LOGGED_IN, b""
    # 4xx numerics are errors (433 nick in use, 451 not registered ...).
    if len(verb) == 3 and verb.isdigit() and verb[:1] == b"4":
        return FAILED, line
    return OTHER, b""


CANONICAL = Dialect("canonical", b"\n", b"FROM ")
IRC = Dialect("irc", b"\r\n", b" PRIVMSG ")
DIALECTS = {d.name: d for d in (CANONICAL, IRC)}
