"""Who is told when a user comes and goes (docs/protocol.md section 9.1).

Telling every session about every login costs one line per session, so N
logins cost N^2/2 lines: 10,000 clients logging in would be 50 million
pushes. Past a small server (``Limits.presence_all`` sessions), ONLINE and
OFFLINE go only to the people a user chats with: its direct-message
contacts here, and for OFFLINE also its room mates (the server core adds
those). A login then costs as many lines as the user has contacts.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Generic, TypeVar

S = TypeVar("S", bound=Hashable)

# Contacts one session follows at most; past it the least recently used is
# dropped, so a session that messages thousands of users cannot make the
# server remember it for each of them.
MAX_CONTACTS = 1024


class Contacts(Generic[S]):
    """Sessions following names, because they exchanged direct messages.

    The tie is to the name (its folded key), not to the other session, so a
    contact who logs out and back in is still followed; it lasts until the
    follower's own session ends (``forget``).
    """

    def __init__(self, limit: int = MAX_CONTACTS) -> None:
        self.limit = limit
        self._followers: dict[str, dict[S, None]] = {}
        self._follows: dict[S, dict[str, None]] = {}

    def exchanged(self, a: S, a_key: str, b: S, b_key: str) -> None:
        """``a`` and ``b`` (different sessions) exchanged a direct message."""
        follows = self._follows
        a_follows, b_follows = follows.get(a), follows.get(b)
        if (
            a_follows is not None
            and b_follows is not None
            and next(reversed(a_follows)) == b_key
            and next(reversed(b_follows)) == a_key
        ):
            # A conversation going on: each is the other's latest contact
            # already, which is what following again would leave.
            return
        self.follow(a, b_key)
        self.follow(b, a_key)

    def follow(self, session: S, key: str) -> None:
        """``session`` follows ``key`` (a contact on another node, say)."""
        follows = self._follows.setdefault(session, {})
        if key in follows:
            # Most recently used last: eviction takes the stalest contact.
            del follows[key]
            follows[key] = None
            return
        follows[key] = None
        self._followers.setdefault(key, {})[session] = None
        if len(follows) > self.limit:
            stalest = next(iter(follows))
            del follows[stalest]
            self._unfollow(session, stalest)

    def _unfollow(self, session: S, key: str) -> None:
        followers = self._followers[key]
        del followers[session]
        if not followers:
            del self._followers[key]

    def followers(self, key: str) -> Iterable[S]:
        """The sessions following ``key``, in the order they started to."""
        return self._followers.get(key, {}).keys()

    def follows(self, session: S) -> tuple[str, ...]:
        """The keys ``session`` follows, least recently used first."""
        return tuple(self._follows.get(session, ()))

    def forget(self, session: S) -> None:
        """``session`` ended: it follows no one any more."""
        for key in self._follows.pop(session, ()):
            self._unfollow(session, key)

    def __len__(self) -> int:
        """How many names have followers (for tests and monitoring)."""
        return len(self._followers)
