"""What a client is told up front: where to connect, who to be, how to retry."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from libbatchat._names import check
from libbatchat._table import Kind

__all__ = [
    "DEFAULT_PORT",
    "Account",
    "Address",
    "Backoff",
    "Guest",
    "Identity",
    "parse_address",
]

DEFAULT_PORT = 50000

# Beyond this many doublings every sensible cap has long been reached, and
# factor ** attempt would overflow a float for a client retrying for weeks.
_MAX_EXPONENT = 64


@dataclass(frozen=True, slots=True)
class Address:
    """A server to connect to."""

    host: str
    port: int = DEFAULT_PORT

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_address(text: str, default_port: int = DEFAULT_PORT) -> Address:
    """``HOST``, ``HOST:PORT``, ``[V6]`` or ``[V6]:PORT`` as an ``Address``.

    Raises ``ValueError`` with a sentence a person can read.
    """
    text = text.strip()
    host, sep, port_text = text, "", ""
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket:
            raise ValueError(f"{text!r}: missing ']' after the IPv6 address")
        if rest and not rest.startswith(":"):
            raise ValueError(f"{text!r}: expected ':PORT' after ']'")
        sep, port_text = rest[:1], rest[1:]
    elif text.count(":") == 1:
        host, sep, port_text = text.partition(":")
    if not host:
        raise ValueError(f"{text!r}: no host name")
    if not sep:
        return Address(host, default_port)
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"{text!r}: the port must be a number from 1 to 65535")
    return Address(host, int(port_text))


@dataclass(frozen=True, slots=True)
class Account:
    """Log in to an account (``ENTRAR``); ``register`` creates it first (``NOVO``).

    The password is kept only in memory, to log in again after a reconnect,
    and never appears in a repr.
    """

    user: str
    password: str = field(repr=False)
    register: bool = False

    def __post_init__(self) -> None:
        _checked(Kind.NAME, self.user, "user name")
        _checked(Kind.PASSWORD, self.password, "password")

    @property
    def name(self) -> str:
        return self.user


@dataclass(frozen=True, slots=True)
class Guest:
    """A guest session under a nickname (``APELIDO``), no password."""

    nick: str

    def __post_init__(self) -> None:
        _checked(Kind.NAME, self.nick, "nickname")

    @property
    def name(self) -> str:
        return self.nick


Identity = Account | Guest


def _checked(kind: Kind, value: str, what: str) -> None:
    try:
        check(kind, value)
    except ValueError as exc:
        raise ValueError(f"invalid {what}: {exc}") from None


@dataclass(frozen=True, slots=True)
class Backoff:
    """Jittered exponential backoff: how long to wait before attempt ``n``.

    The ``n``-th retry (from 0) waits ``min(maximum, initial * factor**n)``
    scaled by a random factor in ``[1 - jitter, 1]``, so clients dropped by
    one server restart do not all come back in the same instant.
    """

    initial: float = 1.0
    factor: float = 2.0
    maximum: float = 60.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if not (0 < self.initial <= self.maximum):
            raise ValueError("Backoff needs 0 < initial <= maximum")
        if self.factor < 1:
            raise ValueError("Backoff.factor must be at least 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("Backoff.jitter must be between 0 and 1")

    def delay(self, attempt: int, rng: random.Random) -> float:
        exponent = min(max(attempt, 0), _MAX_EXPONENT)
        base = min(self.maximum, self.initial * self.factor**exponent)
        return base * (1.0 - self.jitter * rng.random())
