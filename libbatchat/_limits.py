"""Rate and resource limiters for the server core (docs/protocol.md section 10).

Nothing here reads a clock: every call takes ``now``, so the server core can
drive them from its injected clock and tests can drive them from a fake one.
"""

from __future__ import annotations

import ipaddress

from ._fifo import Fifo

# A token that rounding left a hair short of 1.0 at its due time still counts,
# so a caller woken exactly at ``due()`` always gets it.
_WHOLE = 1.0 - 1e-9


class TokenBucket:
    """``burst`` tokens at once, refilled at ``rate`` tokens per second."""

    __slots__ = ("_stamp", "_tokens", "burst", "rate")

    def __init__(self, burst: int, rate: float, now: float) -> None:
        self.burst = burst
        self.rate = rate
        self._tokens = float(burst)
        self._stamp = now

    def _refill(self, now: float) -> None:
        # A clock that steps back must not mint tokens nor push the stamp back.
        if now > self._stamp:
            self._tokens = min(
                float(self.burst), self._tokens + (now - self._stamp) * self.rate
            )
            self._stamp = now

    def take(self, now: float) -> bool:
        """Spend one token if one is available at ``now``."""
        self._refill(now)
        if self._tokens >= _WHOLE:
            self._tokens = max(0.0, self._tokens - 1.0)
            return True
        return False

    def due(self, now: float) -> float:
        """When the next token is available (``now`` if one already is)."""
        self._refill(now)
        if self._tokens >= _WHOLE:
            return now
        return self._stamp + (1.0 - self._tokens) / self.rate


class SlidingWindow:
    """At most ``limit`` events within any ``window`` seconds."""

    __slots__ = ("_times", "limit", "window")

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._times: Fifo[float] = Fifo()

    def _expire(self, now: float) -> None:
        while self._times and self._times.peek() <= now - self.window:
            self._times.popleft()

    def allowed(self, now: float) -> bool:
        """Whether another event fits in the window at ``now``."""
        self._expire(now)
        return len(self._times) < self.limit

    def record(self, now: float) -> None:
        self._expire(now)
        self._times.append(now)

    def forget(self, stamp: float) -> None:
        """Take back one event recorded at ``stamp`` (gone already: nothing)."""
        if stamp in self._times:
            self._times.remove(stamp)

    def __len__(self) -> int:
        return len(self._times)


class KeyedWindows:
    """One ``SlidingWindow`` per key (an address); idle keys are forgotten."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._windows: dict[str, SlidingWindow] = {}
        self._swept = 16

    def allowed(self, key: str, now: float) -> bool:
        found = self._windows.get(key)
        if found is None:
            return True
        if found.allowed(now):
            if not found:
                # Dropping empty windows keeps memory bounded by recent failures.
                del self._windows[key]
            return True
        return False

    def record(self, key: str, now: float) -> None:
        found = self._windows.get(key)
        if found is None:
            found = self._windows[key] = SlidingWindow(self.limit, self.window)
        found.record(now)
        self._prune(now)

    def forget(self, key: str, stamp: float) -> None:
        found = self._windows.get(key)
        if found is not None:
            found.forget(stamp)

    def _prune(self, now: float) -> None:
        # Amortised sweep: only when the table has doubled since the last one,
        # so a stream of one-off addresses cannot grow it without bound.
        if len(self._windows) < 2 * self._swept:
            return
        for key in [k for k, w in self._windows.items() if w.allowed(now) and not w]:
            del self._windows[key]
        self._swept = max(16, len(self._windows))

    def __len__(self) -> int:
        return len(self._windows)


class SendQueueGuard:
    """Decides when a slow reader must go (section 10.2, the Redis model)."""

    __slots__ = ("hard", "over_since", "soft", "soft_seconds")

    def __init__(self, hard: int, soft: int, soft_seconds: float) -> None:
        self.hard = hard
        self.soft = soft
        self.soft_seconds = soft_seconds
        self.over_since: float | None = None

    def update(self, queued: int, now: float) -> bool:
        """Record the bytes queued at ``now``; True if the reader must go now."""
        if queued >= self.hard:
            return True
        if queued <= self.soft:
            self.over_since = None
        elif self.over_since is None:
            self.over_since = now
        return self.expired(now)

    @property
    def deadline(self) -> float | None:
        """When the soft limit closes the reader, if it is over it."""
        if self.over_since is None:
            return None
        return self.over_since + self.soft_seconds

    def expired(self, now: float) -> bool:
        deadline = self.deadline
        return deadline is not None and now >= deadline


def address_key(peer: str) -> str:
    """The address part of ``peer``, normalized, for per-address limits.

    ``peer`` may be a bare address or ``host:port`` / ``[v6]:port``; anything
    that is not an IP address (a Unix socket path, say) is its own key.
    """
    ip = _parse_ip(peer)
    return peer if ip is None else str(ip)


def is_loopback(peer: str) -> bool:
    ip = _parse_ip(peer)
    return ip is not None and ip.is_loopback


def _parse_ip(peer: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    candidates = [peer]
    host, sep, _port = peer.rpartition(":")
    if sep:
        candidates.append(host.removeprefix("[").removesuffix("]"))
    for text in candidates:
        try:
            ip = ipaddress.ip_address(text)
        except ValueError:
            continue
        # An IPv4 client on a dual-stack socket shows up as ::ffff:a.b.c.d; it
        # is still the same address as far as limits go.
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        return ip
    return None


class ConnectionCounter:
    """Connections open per address, capped at ``max_per_ip`` (section 10.7)."""

    def __init__(self, max_per_ip: int, exempt_loopback: bool) -> None:
        self.max_per_ip = max_per_ip
        self.exempt_loopback = exempt_loopback
        self._open: dict[str, int] = {}

    def acquire(self, peer: str) -> bool:
        """Count a new connection from ``peer``; False if it is one too many."""
        key = address_key(peer)
        count = self._open.get(key, 0)
        if count >= self.max_per_ip and not (
            self.exempt_loopback and is_loopback(peer)
        ):
            return False
        self._open[key] = count + 1
        return True

    def release(self, peer: str) -> None:
        key = address_key(peer)
        count = self._open.get(key, 0) - 1
        if count > 0:
            self._open[key] = count
        else:
            self._open.pop(key, None)

    def count(self, peer: str) -> int:
        return self._open.get(address_key(peer), 0)
