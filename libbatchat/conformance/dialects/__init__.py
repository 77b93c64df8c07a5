"""Dialect drivers: how one wire format spells the suite's actions and events.

A dialect is one module. ``--dialect NAME`` imports
``libbatchat.conformance.dialects.NAME``, or NAME itself when it contains a dot,
so a driver can live outside this package. The module exposes ``DIALECT``, a
:class:`Dialect` subclass.
"""

from __future__ import annotations

import abc
import importlib
import pkgutil
from typing import ClassVar

from libbatchat.conformance._model import Action, Cap, Event, Outcome, Ping, Pong


class Dialect(abc.ABC):
    """Framing, action-to-bytes, line-to-event and a capability list."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    capabilities: ClassVar[frozenset[Cap]] = frozenset()
    # Without PING: whether the answer to a WHO is told apart wherever it
    # lands in the stream, so that a WHO can serve as a barrier.
    who_barrier: ClassVar[bool] = False
    terminator: ClassVar[bytes] = b"\n"
    encoding: ClassVar[str] = "utf-8"

    def split(self, buffer: bytearray) -> list[bytes]:
        """Remove every complete line from ``buffer``, terminators stripped.

        The default is LF framing with an optional CR before the LF, which
        covers most line protocols; override for anything else.
        """
        lines: list[bytes] = []
        while True:
            end = buffer.find(self.terminator)
            if end < 0:
                return lines
            line = bytes(buffer[:end])
            del buffer[: end + len(self.terminator)]
            if self.terminator == b"\n" and line.endswith(b"\r"):
                line = line[:-1]
            lines.append(line)

    @abc.abstractmethod
    def encode(self, action: Action) -> bytes:
        """The bytes for ``action``, terminator included; raise Unsupported."""

    @abc.abstractmethod
    def decode(self, line: bytes) -> Event:
        """One server line (terminator stripped) as an event."""

    def has_reply(self, action: Action) -> bool:
        """Whether the server answers ``action`` with exactly one reply."""
        return not isinstance(action, Pong)

    def session(self, prefix: str, family: str = "") -> Dialect:
        """The driver for one connection of a trial whose names start with
        ``prefix`` (and every name of the run with ``family``); a stateless
        driver serves every connection itself."""
        return self

    def parts(self, action: Action) -> list[bytes]:
        """The writes that send ``action``. A protocol that takes each read
        as one message needs a message per write, and the session spaces
        them by the quiet period (see ``silent``)."""
        return [self.encode(action)]

    def silent(self, action: Action) -> Outcome | None:
        """The outcome a server means by saying nothing to ``action``.

        Protocols without a PING (the classroom ones) answer some actions
        with silence, or by closing (minichat's ``QUIT``). The session then
        takes a quiet period, scaled from the measured round trip, with
        nothing about the action (or the end of the connection) as this
        outcome, and the report marks the verdict as resting on it.
        """
        return None

    def skip(self) -> None:  # noqa: B027 (a hook: most drivers keep no state)
        """The session took ``silent``'s outcome for the oldest action."""

    def probe_actions(self, name: str) -> list[Action]:
        """Actions that each draw one reply on a fresh connection, for the
        round trip and for liveness; ``name`` is free to log in as."""
        return [Ping(token=name)]

    def supports(self, needs: frozenset[Cap]) -> bool:
        return needs <= self.capabilities


def load(name: str) -> Dialect:
    """The dialect called ``name``; ValueError names the known ones."""
    module_name = name if "." in name else f"{__name__}.{name}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name not in (module_name, *_parents(module_name)):
            raise
        known = ", ".join(available())
        raise ValueError(f"unknown dialect {name!r} (known: {known})") from None
    cls = getattr(module, "DIALECT", None)
    if not (isinstance(cls, type) and issubclass(cls, Dialect)):
        raise ValueError(f"module {module_name} has no DIALECT (a Dialect subclass)")
    return cls()


def available() -> list[str]:
    """The dialects shipped with the suite."""
    return sorted(
        m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")
    )


def _parents(dotted: str) -> list[str]:
    parts = dotted.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]
