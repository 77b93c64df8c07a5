"""What keeps a bot civil: per-user cooldowns and a breaker for reply loops.

Both are keyed by the folded user name and read the bot's clock, so a test
on a virtual clock moves them with ``advance()``.
"""

from __future__ import annotations

from dataclasses import dataclass

from libbatchat._limits import SlidingWindow, TokenBucket
from libbatchat._names import fold

__all__ = ["Breaker", "Cooldown", "Cooldowns"]


@dataclass(frozen=True, slots=True)
class Cooldown:
    """Each user may run ``burst`` commands at once, then one per ``every`` s.

    A user over the limit is told once how long to wait; further commands
    are ignored until the wait is over.
    """

    burst: int = 3
    every: float = 2.0

    def __post_init__(self) -> None:
        if self.burst < 1 or self.every <= 0:
            raise ValueError("Cooldown needs burst >= 1 and every > 0")


class Cooldowns:
    """The cooldown buckets of every user, for one policy."""

    def __init__(self, policy: Cooldown) -> None:
        self.policy = policy
        self._buckets: dict[str, TokenBucket] = {}
        self._told: set[str] = set()
        self._used: dict[str, float] = {}

    def check(self, user: str, now: float) -> float | None:
        """None if ``user`` may go on; else seconds to wait (once), or -1.

        The wait is returned the first time a user hits the limit, so the
        bot can say it once; -1 means "still waiting, say nothing".
        """
        key = fold(user)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = TokenBucket(self.policy.burst, 1.0 / self.policy.every, now)
            self._buckets[key] = bucket
        self._used[key] = now
        if bucket.take(now):
            self._told.discard(key)
            if len(self._buckets) > 1024:
                self._forget_idle(now)
            return None
        if key in self._told:
            return -1.0
        self._told.add(key)
        return max(0.0, bucket.due(now) - now)

    def _forget_idle(self, now: float) -> None:
        # A bucket idle long enough to be full again is the same as none.
        full = self.policy.burst * self.policy.every
        for key, used in list(self._used.items()):
            if now - used >= full:
                del self._used[key], self._buckets[key]
                self._told.discard(key)


class Breaker:
    """Stops answering someone who keeps the bot replying non-stop.

    Two bots that answer each other (an echo bot and a greeter, two
    bridges) would talk forever. Every message from a user that made this
    bot reply is counted; more than ``limit`` within ``window`` seconds
    trips the breaker, and that user is ignored for ``pause`` seconds.
    A person typing at a bot does not come near the default.
    """

    def __init__(self, limit: int = 8, window: float = 20.0, pause: float = 60.0):
        self.limit = limit
        self.window = window
        self.pause = pause
        self._windows: dict[str, SlidingWindow] = {}
        self._until: dict[str, float] = {}

    def open_for(self, user: str, now: float) -> bool:
        """Whether ``user`` is being ignored at ``now``."""
        key = fold(user)
        until = self._until.get(key)
        if until is None:
            return False
        if now >= until:
            del self._until[key]
            self._windows.pop(key, None)
            return False
        return True

    def replied(self, user: str, now: float) -> bool:
        """Count a reply caused by ``user``; True if that trips the breaker."""
        key = fold(user)
        window = self._windows.setdefault(key, SlidingWindow(self.limit, self.window))
        window.record(now)
        if len(window) > self.limit:
            self._until[key] = now + self.pause
            return True
        return False
