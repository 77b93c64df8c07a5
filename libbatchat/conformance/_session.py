"""One client connection driven by a case: send actions, wait for replies,
expect pushes, all synchronized with barriers rather than sleeps."""

from __future__ import annotations

import math
import socket
import ssl
import struct
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import NamedTuple

from ._model import (
    Action,
    Cap,
    Closing,
    Event,
    Greeting,
    Malformed,
    Outcome,
    Ping,
    Pong,
    Push,
    Reply,
    ServerPing,
    Unknown,
    Who,
)
from ._timing import Bucket, Timing, Transcript
from ._verdict import CaseFailed, CaseSkipped, matches, show
from .dialects import Dialect

__all__ = ["Bucket", "CaseFailed", "CaseSkipped", "Session", "Timing", "Transcript"]


# How often a waiting session lets its siblings read.
_SERVICE_EVERY = 0.5


class _Pending(NamedTuple):
    """A reply owed: what for, by when, and what silence would mean."""

    label: str
    deadline: float
    silent: Outcome | None = None
    quiet_at: float = math.inf  # silence until then is the ``silent`` outcome


class Session:
    """A client connection. Created by ``Trial.connect``; not thread-safe."""

    def __init__(
        self,
        *,
        label: str,
        sock: socket.socket,
        dialect: Dialect,
        timing: Timing,
        bucket: Bucket,
        transcript: Transcript,
        relevant: Callable[[Event], bool],
        siblings: Callable[[], list[Session]] = list,
    ) -> None:
        self.label = label
        # The other sessions of the same case: while this one waits, they are
        # read too, so each answers the server's PING even when the case is
        # not looking at it (a long flood would otherwise time them out).
        self._siblings = siblings
        self._serviced = time.monotonic()
        self.name = ""  # set once logged in
        self.greeting: Greeting | None = None
        self.closing: Closing | None = None
        self.eof = False
        self.auto_pong = True
        # A connection the server drops with output still queued may be cut
        # mid-line (a reset discards what was in flight).
        self.reset_ok = False
        self.server_pings: list[str] = []
        self._sock = sock
        self._dialect = dialect
        self._timing = timing
        self._bucket = bucket
        self._transcript = transcript
        self._relevant = relevant
        self._buf = bytearray()
        self._first_line = True
        self._replies: deque[Reply] = deque()
        self._pending: deque[_Pending] = deque()
        # Whether a verdict rests on a quiet period rather than a barrier:
        # the dialect has no PING, or took silence as an answer.
        self.quiet_used = False
        self._pushes: list[tuple[int, Push]] = []  # (arrival number, push)
        self._arrivals = 0
        self._taken_at: dict[int, int] = {}
        self._tokens = 0

    # --- reading -----------------------------------------------------------

    def _pump(self, deadline: float) -> bool:
        """Read once, waiting until ``deadline``; False on timeout or EOF."""
        if self.eof:
            return False
        # On a clock, not only on a timeout: replies can keep arriving more
        # often than the read timeout below would ever fire.
        if time.monotonic() - self._serviced >= _SERVICE_EVERY:
            self._service_siblings()
        wait = deadline - time.monotonic()
        if wait <= 0:
            return False
        # A socket timeout rather than select(): select() cannot watch file
        # descriptors above 1023, which a busy test process reaches.
        try:
            self._sock.settimeout(min(wait, _SERVICE_EVERY))
            data = self._sock.recv(65536)
        except TimeoutError:
            self._service_siblings()
            return self._pump(deadline)
        except (ConnectionResetError, ConnectionAbortedError):
            data = b""
            self._transcript.add(self.label, "<", "[connection reset]")
        if not data:
            self._on_eof()
            return False
        self._buf += data
        for line in self._dialect.split(self._buf):
            self._on_line(line)
        return True

    def _service_siblings(self) -> None:
        self._serviced = time.monotonic()
        for other in self._siblings():
            if other is not self and not other.eof:
                other._pump_ready()

    def _pump_ready(self) -> None:
        """Read what has already arrived, without waiting."""
        try:
            self._sock.settimeout(0)
            data = self._sock.recv(65536)
        except (BlockingIOError, TimeoutError, ssl.SSLWantReadError):
            return
        except OSError:
            data = b""
        if not data:
            self._on_eof()
            return
        self._buf += data
        for line in self._dialect.split(self._buf):
            self._on_line(line)

    def _on_eof(self) -> None:
        self.eof = True
        self._transcript.add(self.label, "<", "[closed]")
        if self._buf:
            tail = bytes(self._buf[:80])
            self._buf.clear()
            if not self.reset_ok:
                raise CaseFailed(
                    f"{self.label}: the server closed after an unterminated line "
                    f"{tail!r}"
                )

    def _on_line(self, line: bytes) -> None:
        self._transcript.add(self.label, "<", line.decode("utf-8", "backslashreplace"))
        event = self._dialect.decode(line)
        first, self._first_line = self._first_line, False
        if self.closing is not None:
            raise CaseFailed(f"{self.label}: a line after CLOSING: {show(event)}")
        if isinstance(event, Malformed):
            raise CaseFailed(
                f"{self.label}: unparseable line {event.line!r}: {event.why}"
            )
        if isinstance(event, Greeting):
            if not first:
                raise CaseFailed(f"{self.label}: a greeting that is not the first line")
            self.greeting = event
            return
        greeted = Cap.GREETING in self._dialect.capabilities
        if first and greeted and not isinstance(event, Closing):
            raise CaseFailed(
                f"{self.label}: the first line should be the greeting: {show(event)}"
            )
        if isinstance(event, Reply):
            if not self._pending:
                raise CaseFailed(
                    f"{self.label}: a reply with no command pending: {show(event)}"
                )
            self._pending.popleft()
            self._replies.append(event)
        elif isinstance(event, ServerPing):
            self.server_pings.append(event.token)
            if self.auto_pong:
                self.send(Pong(token=event.token))
        elif isinstance(event, Closing):
            self.closing = event
            self._keep(event)
        elif isinstance(event, Unknown):
            pass
        elif self._relevant(event):
            self._keep(event)

    def _keep(self, push: Push) -> None:
        self._arrivals += 1
        self._pushes.append((self._arrivals, push))

    def wait_greeting(self) -> Greeting | None:
        """Read the greeting (or the refusal that replaces it) and adopt the
        flood limits it advertises, so reply deadlines account for them."""
        if Cap.GREETING not in self._dialect.capabilities:
            return None
        deadline = time.monotonic() + self._timing.timeout
        while self.greeting is None and self.closing is None:
            if not self._pump(deadline):
                if self.eof:
                    raise CaseFailed(f"{self.label}: closed before the greeting")
                if time.monotonic() >= deadline:
                    raise CaseFailed(f"{self.label}: no greeting in time")
        if self.greeting is not None:
            self._bucket.configure(
                self.greeting.number("burst"), self.greeting.number("rate")
            )
        return self.greeting

    def read_for(self, seconds: float) -> None:
        """Read whatever arrives for ``seconds`` (for events no barrier can
        wait for, such as timeouts the server runs on its own clock)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self.eof:
            self._pump(deadline)

    # --- sending -----------------------------------------------------------

    def send(self, action: Action) -> None:
        """Send without waiting; the reply (if any) is read by ``reply``."""
        parts = self._dialect.parts(action)
        for i, data in enumerate(parts):
            if i:
                # The protocol ends a message at a read boundary: give the
                # server a quiet period to read the last part on its own,
                # short of the time it waits for the next part.
                self.quiet_used = True
                self.read_for(self._timing.part_gap)
            self._write(data, [data.decode("utf-8", "backslashreplace").rstrip("\r\n")])
        handled = self._bucket.take(1)
        if self._dialect.has_reply(action):
            silent = self._dialect.silent(action)
            quiet_at = handled + self._timing.grace if silent else math.inf
            self._pending.append(
                _Pending(
                    type(action).__name__,
                    handled + self._timing.timeout,
                    silent,
                    quiet_at,
                )
            )

    def send_raw(
        self, data: bytes, *, replies: int = 0, chunk: int = 0, what: str = "raw bytes"
    ) -> None:
        """Send bytes as they are; ``replies`` is how many lines they should
        draw. ``chunk`` > 0 writes them that many bytes at a time."""
        shown = data.decode("utf-8", "backslashreplace")
        if len(shown) > 120:
            shown = f"{shown[:100]}... ({len(data)} bytes)"
        label = f"[{what}{f', {chunk} B per write' if chunk else ''}] {shown!r}"
        if chunk:
            self._sock.settimeout(self._timing.timeout)
            for i in range(0, len(data), chunk):
                try:
                    self._sock.sendall(data[i : i + chunk])
                except OSError as exc:
                    raise CaseFailed(f"{self.label}: could not send ({exc})") from None
                # Spacing, not synchronization: it keeps the writes in
                # separate TCP segments so the server really sees them split.
                time.sleep(0.002)
            self._transcript.add(self.label, ">", label)
        else:
            self._write(data, [label])
        handled = self._bucket.take(max(1, data.count(b"\n")))
        for _ in range(replies):
            self._pending.append(_Pending(what, handled + self._timing.timeout))

    def _write(self, data: bytes, shown: Iterable[str]) -> None:
        for text in shown:
            self._transcript.add(self.label, ">", text)
        try:
            # Reads leave a short timeout behind; a send gets the full one.
            self._sock.settimeout(self._timing.timeout)
            self._sock.sendall(data)
        except OSError as exc:
            raise CaseFailed(f"{self.label}: could not send ({exc})") from None

    # --- replies -----------------------------------------------------------

    def reply(self, *expected: Outcome, what: str = "") -> Reply:
        """The next reply, failing unless its outcome is one of ``expected``."""
        while not self._replies:
            if not self._pending:
                raise CaseFailed(f"{self.label}: waiting for a reply to nothing")
            label, deadline, silent, quiet_at = self._pending[0]
            if not self._pump(min(deadline, quiet_at)):
                if silent is not None and (self.eof or time.monotonic() >= quiet_at):
                    self._assume(silent)
                    continue
                if self.eof:
                    raise CaseFailed(
                        f"{self.label}: connection closed while waiting for the reply "
                        f"to {what or label}"
                    )
                if time.monotonic() >= deadline:
                    raise CaseFailed(
                        f"{self.label}: no reply to {what or label} in time"
                    )
        reply = self._replies.popleft()
        if expected and reply.outcome not in expected:
            want = " or ".join(o.value for o in expected)
            raise CaseFailed(
                f"{self.label}: {what or 'reply'}: expected {want}, got {show(reply)}"
            )
        return reply

    def _assume(self, outcome: Outcome) -> None:
        """Take the server's silence as ``outcome`` for the oldest action."""
        label = self._pending.popleft().label
        self._dialect.skip()
        self.quiet_used = True
        why = "connection closed" if self.eof else "quiet period"
        self._transcript.add(
            self.label, "<", f"[{why}: {label} taken as {outcome.value}]"
        )
        self._replies.append(Reply(outcome=outcome, text="", code=f"({why})"))

    def do(self, action: Action, *expected: Outcome, what: str = "") -> Reply:
        self.send(action)
        return self.reply(*expected, what=what or _describe(action))

    def line(self, line: str | bytes, *expected: Outcome) -> Reply:
        """Send one raw line (LF added) and return its single reply."""
        data = line.encode() if isinstance(line, str) else line
        what = repr(data)[2:-1] if len(data) <= 60 else f"a {len(data) + 1}-byte line"
        self.send_raw(data + b"\n", replies=1, what=what)
        return self.reply(*expected, what=what)

    # --- pushes ------------------------------------------------------------

    def sync(self) -> None:
        """A barrier: afterwards every push the server queued for this
        session before handling the barrier has been read."""
        if self._replies or self._pending:
            raise RuntimeError(f"{self.label}: sync with replies outstanding")
        if Cap.PING not in self._dialect.capabilities:
            self.quiet_used = True
            if self._dialect.who_barrier and self.name:
                # A query is a barrier too where the server answers in
                # order: what it queued for this session before handling it
                # comes first. A quiet period alone is not one under load
                # (the notice of a login that another session already saw
                # could still be on its way). The quiet period follows, for
                # servers that write to other clients from other threads.
                self.do(Who(), Outcome.USERS, what="barrier WHO")
            deadline = time.monotonic() + self._timing.grace
            while self._pump(deadline):
                pass
            return
        self._tokens += 1
        token = f"sync{self._tokens}"
        reply = self.do(Ping(token=token), what="barrier PING")
        if reply.outcome is not Outcome.PONG or reply.text != token:
            raise CaseFailed(
                f"{self.label}: barrier PING {token} answered {show(reply)}"
            )

    def pushes(self) -> list[Push]:
        """The relevant pushes read so far and not yet taken by ``expect``."""
        return [p for _, p in self._pushes]

    def expect(self, pattern: Push, what: str = "", *, wait: float = 0.0) -> Push:
        """Take the first unclaimed push matching ``pattern``.

        Looks at what has arrived, then behind a barrier, then for a grace
        period (or ``wait`` seconds, for events with no barrier to ride on,
        such as the notices a dropped connection causes).
        """
        found = self._take(pattern)
        if found is None and not self.eof:
            if wait <= 0:
                self.sync()
                found = self._take(pattern)
            deadline = time.monotonic() + max(wait, self._timing.grace)
            while found is None and self._pump(deadline):
                found = self._take(pattern)
        if found is None:
            got = ", ".join(show(p) for _, p in self._pushes) or "nothing"
            raise CaseFailed(
                f"{self.label}: expected {what or show(pattern)}; "
                f"unclaimed pushes: {got}"
            )
        return found

    def expect_in_order(self, *patterns: Push, wait: float = 0.0) -> list[Push]:
        """Like ``expect`` for each pattern, and they arrived in this order."""
        found = [self.expect(p, wait=wait) for p in patterns]
        order = [self._taken_at[id(f)] for f in found]
        if order != sorted(order):
            shown = ", ".join(
                show(f) for f in sorted(found, key=lambda f: self._taken_at[id(f)])
            )
            raise CaseFailed(f"{self.label}: out of order: got {shown}")
        return found

    def _take(self, pattern: Push) -> Push | None:
        for i, (seq, event) in enumerate(self._pushes):
            if matches(pattern, event):
                del self._pushes[i]
                self._taken_at[id(event)] = seq
                return event
        return None

    def take_all(self) -> list[Push]:
        taken, self._pushes = self._pushes, []
        return [p for _, p in taken]

    def quiet(self, what: str = "") -> None:
        """Fail if anything about this case arrived that no expectation took."""
        if not self.eof:
            self.sync()
            # A barrier orders this session's own stream only; a stray line
            # caused by another session may trail it by a moment.
            self.read_for(self._timing.grace)
        if self._pushes:
            got = ", ".join(show(p) for _, p in self._pushes)
            raise CaseFailed(f"{self.label}: {what or 'unexpected pushes'}: {got}")

    def settle(self) -> None:
        """Barrier, then forget the pushes so far (setup noise)."""
        self.sync()
        self._pushes.clear()

    # --- the end ------------------------------------------------------------

    def wait_closed(self, seconds: float) -> None:
        """Read until the server closes, failing after ``seconds``."""
        deadline = time.monotonic() + seconds
        while not self.eof:
            if (
                not self._pump(deadline)
                and not self.eof
                and time.monotonic() >= deadline
            ):
                raise CaseFailed(
                    f"{self.label}: the server did not close the connection"
                )

    def expect_closed(self, reason: str | None, *, within: float = 0.0) -> None:
        """The server closes, with a ``CLOSING reason`` push as its last line
        when ``reason`` is given."""
        self.wait_closed(within or self._timing.timeout)
        if reason is None or Cap.CLOSING not in self._dialect.capabilities:
            return
        if self.closing is None:
            raise CaseFailed(f"{self.label}: closed without a CLOSING {reason} push")
        if self.closing.reason != reason:
            raise CaseFailed(
                f"{self.label}: CLOSING {self.closing.reason}, "
                f"expected CLOSING {reason}"
            )

    def close(self, *, reset: bool = False) -> None:
        """Drop the connection without a goodbye (an RST with ``reset``)."""
        if reset:
            self._sock.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
        self._transcript.add(self.label, ">", "[reset]" if reset else "[close]")
        self._sock.close()
        self.eof = True

    def dispose(self) -> None:
        self._sock.close()


def _describe(action: Action) -> str:
    return type(action).__name__
