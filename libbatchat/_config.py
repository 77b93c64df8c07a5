"""Server limits: one dataclass, read by the core, the CLI flags and the docs."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any


def _limit(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


# The limits whose 0 means "derive it from the system" (see Limits).
AUTO = frozenset({"max_connections", "listen_backlog"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """Every limit a server enforces. Defaults follow DESIGN.md section 8.

    ``max_connections`` and ``listen_backlog`` may be 0, meaning "what this
    system allows": the adapters work that out (the core, which cannot ask
    the system, takes 0 as no global cap).
    """

    max_line: int = _limit(4096, "longest line in bytes, terminator included")
    max_unterminated: int = _limit(8192, "bytes without a line end before closing")
    burst: int = _limit(10, "lines processed at once before flood control")
    rate: float = _limit(5.0, "lines per second after the burst (excess delayed)")
    recv_queue: int = _limit(
        65536, "unprocessed bytes held per connection before reading pauses"
    )
    send_queue_hard: int = _limit(1 << 20, "queued bytes that close a slow reader")
    send_queue_soft: int = _limit(
        256 << 10, "queued bytes that close a slow reader if held too long"
    )
    send_queue_soft_seconds: float = _limit(
        10.0, "seconds over the soft send-queue limit before closing"
    )
    lines_before_login: int = _limit(100, "lines accepted before logging in")
    login_timeout: float = _limit(30.0, "seconds to log in before closing")
    ping_interval: float = _limit(90.0, "seconds of silence before a PING")
    ping_timeout: float = _limit(150.0, "seconds of silence before closing")
    login_attempts: int = _limit(3, "failed logins per connection per window")
    login_window: float = _limit(60.0, "seconds of the per-connection window")
    ip_login_attempts: int = _limit(20, "failed logins per address per window")
    ip_login_window: float = _limit(600.0, "seconds of the per-address window")
    rooms_per_session: int = _limit(50, "rooms one session may be in at once")
    max_rooms: int = _limit(5000, "rooms on the server at once")
    max_per_ip: int = _limit(16, "connections at once from one address")
    exempt_loopback: bool = _limit(True, "loopback addresses skip max_per_ip")
    max_connections: int = _limit(
        0, "connections at once in all (0: derived from the file and thread limits)"
    )
    listen_backlog: int = _limit(
        0, "connections the system queues before accepting (0: its somaxconn)"
    )
    presence_all: int = _limit(
        100, "sessions up to which ONLINE/OFFLINE go to everyone (9.1)"
    )
    scrypt_n: int = _limit(1 << 14, "scrypt cost for new passwords (power of 2)")
    scrypt_r: int = _limit(8, "scrypt block size for new passwords")
    scrypt_p: int = _limit(1, "scrypt parallelism for new passwords")

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or (f.name in AUTO and value == 0):
                continue
            if not value > 0:
                raise ValueError(f"{f.name} must be positive, got {value!r}")
        if self.max_line > self.max_unterminated:
            raise ValueError("max_line must not exceed max_unterminated")
        if self.recv_queue < self.max_unterminated:
            # Reading pauses above recv_queue; a partial line smaller than
            # max_unterminated could then wait forever with nothing to process.
            raise ValueError("recv_queue must be at least max_unterminated")
        if self.ping_interval >= self.ping_timeout:
            raise ValueError("ping_interval must be less than ping_timeout")
        if self.scrypt_n & (self.scrypt_n - 1):
            raise ValueError("scrypt_n must be a power of 2")


def describe() -> list[tuple[str, object, str]]:
    """(name, default, help) for every limit, in declaration order."""
    return [(f.name, f.default, f.metadata["help"]) for f in fields(Limits)]
