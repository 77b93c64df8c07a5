"""The server under test: where it is (``Target``), and a first look (``probe``)."""

from __future__ import annotations

import secrets
import socket
import ssl
import time
from dataclasses import dataclass, field

from ._model import Cap, Greeting, Outcome, Ping
from ._session import Bucket, CaseFailed, Session, Timing, Transcript
from .dialects import Dialect


class Unreachable(Exception):
    """The server cannot be reached or does not speak the dialect."""


# BatChat's port: what a target without one means.
DEFAULT_PORT = 50000


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    # Speak TLS with this context (it decides what certificates to trust).
    tls: ssl.SSLContext | None = field(default=None, compare=False, repr=False)
    # More addresses of the same server (the nodes of a cluster): a case's
    # sessions are spread over all of them, in turn.
    also: tuple[tuple[str, int], ...] = ()

    def __str__(self) -> str:
        text = _address(self.host, self.port)
        return " ".join([text, *(f"+{_address(h, p)}" for h, p in self.also)])

    def address(self, n: int) -> tuple[str, int]:
        """Where the ``n``-th session of a case connects."""
        every = [(self.host, self.port), *self.also]
        return every[n % len(every)]

    def wrap(self, sock: socket.socket) -> socket.socket:
        """``sock``, connected, with the TLS handshake done if TLS is on."""
        if self.tls is None:
            return sock
        try:
            return self.tls.wrap_socket(sock, server_hostname=self.host)
        except OSError:
            sock.close()
            raise

    @property
    def loopback(self) -> bool:
        return self.host in ("localhost", "::1") or self.host.startswith("127.")


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_target(text: str, tls: ssl.SSLContext | None = None) -> Target:
    """``HOST:PORT``, ``[V6]:PORT``, or a host alone (port 50000)."""
    if (text.startswith("[") and text.endswith("]")) or text.count(":") > 1:
        return Target(text.strip("[]"), DEFAULT_PORT, tls)
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = text, str(DEFAULT_PORT)
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected HOST or HOST:PORT, got {text!r}")
    host = host.strip("[]") or "127.0.0.1"
    return Target(host, int(port), tls)


@dataclass
class Probe:
    """What the suite learned about the server before running cases."""

    timing: Timing
    greeting: Greeting | None


def probe(
    target: Target,
    dialect: Dialect,
    *,
    scale: float = 1.0,
    connect_timeout: float = 5.0,
) -> Probe:
    """Connect once, read the greeting and measure the round trip."""
    transcript = Transcript()
    try:
        sock = socket.create_connection((target.host, target.port), connect_timeout)
        sock = target.wrap(sock)
    except ssl.SSLError as exc:
        raise Unreachable(f"TLS with {target} failed: {exc}") from None
    except OSError as exc:
        raise Unreachable(f"cannot connect to {target}: {exc}") from None
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    # Generous while we know nothing; replaced by the measurement below.
    timing = Timing(rtt=connect_timeout / 200, scale=1.0)
    session = Session(
        label="probe",
        sock=sock,
        dialect=dialect.session("probe", "probe"),
        timing=timing,
        bucket=Bucket(float("inf"), float("inf")),
        transcript=transcript,
        relevant=lambda _: False,
    )
    try:
        greeting = session.wait_greeting()
        if session.closing is not None:
            raise Unreachable(f"{target} refused the connection: {session.closing}")
        best = float("inf")
        # Few enough to stay inside any advertised burst.
        name = "probe" + secrets.token_hex(3)
        actions = (
            [Ping(token=f"probe{i}") for i in range(3)]
            if Cap.PING in dialect.capabilities
            else dialect.probe_actions(name)
        )
        for action in actions:
            session.send(action)
            start = time.monotonic()
            reply = session.reply(what=f"probe {type(action).__name__}")
            best = min(best, time.monotonic() - start)
            if isinstance(action, Ping) and reply.outcome is not Outcome.PONG:
                raise Unreachable(f"{target}: PING answered {reply.code}")
            if reply.outcome is None:
                raise Unreachable(f"{target}: {reply.code} is no answer")
    except CaseFailed as exc:
        raise Unreachable(f"{target} does not speak {dialect.name}: {exc}") from None
    finally:
        session.dispose()
    return Probe(timing=Timing(rtt=best, scale=scale), greeting=greeting)
