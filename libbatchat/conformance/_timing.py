"""The suite's clocks and records: timeouts scaled from the round trip, the
transcript of a case, and a model of the server's flood control."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

# The longest pause between the writes of one message (Chat Socket's room,
# then its name). Its original client makes them back to back, so a server
# that ends messages at read boundaries waits only so long for the next part
# before taking the two as read together (ours: 2 s, ``_codec.PATIENCE``).
# The pause must stay well under that however slow the round trip was.
MAX_PART_GAP = 1.0


@dataclass
class Timing:
    """Timeouts, scaled from the round trip measured before the run.

    A timeout only costs time when the server is wrong: every wait ends as
    soon as what it waits for arrives, so they can afford to be generous.
    """

    rtt: float = 0.001
    scale: float = 1.0

    @property
    def timeout(self) -> float:
        """How long a reply may take once the server has a line in hand."""
        return max(2.0, 200 * self.rtt) * self.scale

    @property
    def grace(self) -> float:
        """How long a push may lag behind the barrier that should carry it.

        Deliveries to one session caused by another's command are queued
        before that command's reply, so a barrier normally suffices; the
        grace covers servers whose sessions write from separate threads.
        """
        return max(0.15, 20 * self.rtt) * self.scale

    @property
    def part_gap(self) -> float:
        """How long to pause between the writes of one message, so that a
        server that reads each write as a message reads them apart."""
        return min(self.grace, MAX_PART_GAP)


@dataclass
class Transcript:
    """Every line every session of a case sent and received, timestamped."""

    start: float = field(default_factory=time.monotonic)
    lines: list[str] = field(default_factory=list)

    # Reports stay readable when a case sends or receives 4 KiB lines.
    width = 240

    def add(self, who: str, arrow: str, text: str) -> None:
        elapsed = time.monotonic() - self.start
        if len(text) > self.width:
            text = f"{text[: self.width - 40]}... ({len(text)} characters)"
        self.lines.append(f"{elapsed:8.3f} {who:>6} {arrow} {text}")


class Bucket:
    """The server's advertised flood control, modelled to predict when it
    will get round to a line; reply deadlines start from that moment."""

    def __init__(self, burst: float, rate: float) -> None:
        self.burst = burst
        self.rate = rate
        self.tokens = burst
        self.last = time.monotonic()

    def configure(self, burst: float | None, rate: float | None) -> None:
        """Adopt the limits a greeting advertised (unknown ones: no limit)."""
        self.burst = burst if burst and burst > 0 else math.inf
        self.rate = rate if rate and rate > 0 else math.inf
        self.tokens = self.burst
        self.last = time.monotonic()

    def take(self, lines: int) -> float:
        """The moment the last of ``lines`` lines sent now gets handled."""
        now = time.monotonic()
        if math.isinf(self.burst) or math.isinf(self.rate):
            return now
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        self.tokens -= lines
        return now + max(0.0, -self.tokens / self.rate)
