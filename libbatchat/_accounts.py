"""Accounts: the storage interface, an in-memory store, and password hashing.

Stores are called from the adapters' worker threads (hashing and I/O must not
block an event loop), so every store must be safe to call concurrently.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from typing import Protocol

from ._names import fold
from ._skeleton import skeleton

SALT_BYTES = 16
HASH_BYTES = 32
_SCHEME = "scrypt"


class StoreError(Exception):
    """The account store failed (the core answers the line ``ERRO-710``)."""


class AccountStore(Protocol):
    """Where accounts live. Names are keyed by ``fold(name)``; no two accounts
    made by ``create`` share a ``skeleton(name)`` (they would look alike)."""

    def create(self, name: str, record: str) -> bool:
        """Store a new account; False if one with the same ``fold(name)`` or
        ``skeleton(name)`` exists (checked atomically with the insert).

        Returns True only once the account is stored durably.
        """
        ...

    def get(self, name: str) -> tuple[str, str] | None:
        """(display name, record) of the account ``fold(name)``, if any."""
        ...

    def similar(self, name: str) -> str | None:
        """The display name of an account whose skeleton is ``skeleton(name)``
        (the account ``fold(name)`` itself first), if any."""
        ...

    def close(self) -> None: ...


class MemoryStore:
    """Accounts in a dict; lost when the process ends."""

    def __init__(self) -> None:
        # Keyed by skeleton: names equal under fold() share one, so one dict
        # keeps both rules.
        self._accounts: dict[str, tuple[str, str]] = {}

    def create(self, name: str, record: str) -> bool:
        entry = (name, record)
        # setdefault is one atomic step under the GIL, so two threads creating
        # look-alike names cannot both win.
        return self._accounts.setdefault(skeleton(name), entry) is entry

    def get(self, name: str) -> tuple[str, str] | None:
        found = self._accounts.get(skeleton(name))
        if found is None or fold(found[0]) != fold(name):
            return None
        return found

    def similar(self, name: str) -> str | None:
        found = self._accounts.get(skeleton(name))
        return None if found is None else found[0]

    def close(self) -> None:
        """Nothing to release; kept so MemoryStore is an AccountStore."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _maxmem(n: int, r: int, p: int) -> int:
    # scrypt needs 128*r*(n+p+2) bytes; OpenSSL's default cap (32 MiB) is too
    # low for strong parameters, so size the cap from them, with headroom.
    return 128 * r * (n + p + 2) + (1 << 20)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt,
        n=n,
        r=r,
        p=p,
        maxmem=_maxmem(n, r, p),
        dklen=HASH_BYTES,
    )


def hash_password(password: str, *, n: int, r: int, p: int) -> str:
    """A storable record: ``scrypt$n$r$p$salt$hash`` (salt and hash base64)."""
    salt = os.urandom(SALT_BYTES)
    digest = _scrypt(password, salt, n, r, p)
    return f"{_SCHEME}${n}${r}${p}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, record: str) -> bool:
    """Whether ``password`` matches ``record``; False for a malformed record."""
    parts = record.split("$")
    if len(parts) != 6 or parts[0] != _SCHEME:
        return False
    try:
        n, r, p = (int(x) for x in parts[1:4])
        salt = base64.b64decode(parts[4], validate=True)
        expected = base64.b64decode(parts[5], validate=True)
        actual = _scrypt(password, salt, n, r, p)
    except ValueError:
        # Bad numbers, bad base64 and parameters scrypt rejects all land here.
        return False
    return hmac.compare_digest(actual, expected)


def dummy_record(*, n: int, r: int, p: int) -> str:
    """A well-formed record no password matches.

    Checking a password against it costs what a real check costs, so an
    unknown user and a wrong password take the same time to refuse.
    """
    zeros = _b64(bytes(SALT_BYTES))
    return f"{_SCHEME}${n}${r}${p}${zeros}${_b64(bytes(HASH_BYTES))}"
