"""What each scenario does, at its three sizes (full, ``--quick``, ``--smoke``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Give up on setup (logins, joins) after this long, and on a measured window
# once nothing has arrived for ``stall`` seconds or it has run for
# ``window_limit``: a stuck or crawling server is reported, not waited for.
_COMMON = {"setup_timeout": 45.0, "stall": 15.0, "window_limit": 120.0}
_SMOKE = {"setup_timeout": 30.0, "stall": 10.0, "window_limit": 30.0}


@dataclass(frozen=True)
class Scenario:
    name: str
    kind: str  # a key of workloads.KINDS
    what: str
    full: dict[str, Any]
    quick: dict[str, Any] | None  # None: not run with --quick
    smoke: dict[str, Any]
    # Connections the generator and the server each need (file descriptors).
    needs_fds: int = 0
    skip: dict[str, str] = field(default_factory=dict)  # server -> reason

    def params(self, size: str) -> dict[str, Any] | None:
        base = _SMOKE if size == "smoke" else _COMMON
        chosen = {"full": self.full, "quick": self.quick, "smoke": self.smoke}[size]
        return None if chosen is None else base | chosen


def _fanout(members: int, window: bool) -> Scenario:
    mode = "window" if window else "flat"
    how = "one outstanding per sender" if window else "flat out"
    return Scenario(
        name=f"fanout-{members}-{mode}",
        kind="fanout",
        what=f"{members} members in one room, 10 senders x 200 messages, {how}",
        full={"members": members, "senders": 10, "messages": 200, "window": window},
        quick={"members": members, "senders": 10, "messages": 50, "window": window},
        smoke={"members": 4, "senders": 2, "messages": 5, "window": window},
        needs_fds=members,
    )


def _idle(n: int) -> Scenario:
    return Scenario(
        name=f"idle-{n}",
        kind="idle",
        what=f"{n:,} connections logged in and held (one PING each)",
        full={"connections": n},
        quick={"connections": n} if n <= 1000 else None,
        smoke={"connections": 10},
        needs_fds=n,
        skip=(
            {"threaded": "two threads per connection; the threaded target is 1,000"}
            if n > 1000
            else {}
        ),
    )


SCENARIOS: list[Scenario] = [
    *(_fanout(n, w) for n in (50, 200, 1000) for w in (False, True)),
    Scenario(
        name="dm",
        kind="dm",
        what="DM ping-pong, 50 pairs x 200 round trips",
        full={"pairs": 50, "messages": 200},
        quick={"pairs": 50, "messages": 50},
        smoke={"pairs": 3, "messages": 5},
        needs_fds=100,
    ),
    _idle(1000),
    _idle(10000),
    Scenario(
        name="login-storm",
        kind="storm",
        what=(
            "1,000 logins while 50 others chat in a room "
            "(10 talk, one outstanding, 10 ms apart)"
        ),
        full={
            "chatters": 50,
            "talkers": 10,
            "interval": 0.01,
            "logins": 1000,
            "max_messages": 5000,
        },
        quick={
            "chatters": 50,
            "talkers": 10,
            "interval": 0.01,
            "logins": 300,
            "max_messages": 5000,
        },
        smoke={
            "chatters": 4,
            "talkers": 2,
            "interval": 0.001,
            "logins": 10,
            "max_messages": 5000,
        },
        needs_fds=1050,
    ),
]

BY_NAME = {s.name: s for s in SCENARIOS}
