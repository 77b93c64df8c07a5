"""A test harness: client-role Connections wired to a ServerCore, no sockets.

Jobs run inline by default; with ``inline=False`` they wait in ``net.jobs``
until a test finishes them, in any order it likes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from libbatchat import Command, Event, Limits, Ping, Push, RemoteProtocolError, Reply
from libbatchat._connection import NEED_DATA, Connection, Role
from libbatchat._grammar import parse_command
from libbatchat._server import Job, Output, ServerCore, Session

FAST = Limits(burst=1000, rate=1000.0, scrypt_n=2**4, scrypt_r=8, scrypt_p=1)
WALL = 1_790_000_000.25  # 2026-09-21T...:40.250Z
PW = "s3cret pass"  # with a space: passwords may hold one


class Clock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass(eq=False)
class Client:
    net: Net
    session: Session
    conn: Connection = field(default_factory=lambda: Connection(Role.CLIENT))
    inbox: list[Event] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)
    closed: bool = False
    paused: bool = False

    def feed(self, data: bytes) -> None:
        assert not self.closed, "data after close"
        self.raw.append(data)
        self.conn.receive_data(data)
        while (event := self.conn.next_event()) is not NEED_DATA:
            assert isinstance(event, Event)
            self.inbox.append(event)

    def send(self, *commands: Command) -> None:
        data = b"".join(self.conn.send(c) for c in commands)
        self.net.apply(self.net.core.receive(self.session, data))

    def send_raw(self, data: bytes) -> None:
        """Send bytes as they are; the client still pairs the replies."""
        *lines, _partial = data.split(b"\n")
        for raw in lines:
            if not raw.strip(b" \r"):
                continue
            try:
                expected: Command = parse_command(raw.decode().removesuffix("\r"))
            except (UnicodeDecodeError, RemoteProtocolError):
                # A line-level error reply may answer a PING's slot.
                expected = Ping()
            if expected.spec().has_reply:
                self.conn._owe(expected)
        self.net.apply(self.net.core.receive(self.session, data))

    def ask(self, command: Command) -> Reply:
        """Send one command and return its reply (it must arrive)."""
        self.send(command)
        replies = self.replies()
        assert replies, f"no reply to {command!r}"
        return replies[-1]

    def take(self) -> list[Event]:
        got, self.inbox = self.inbox, []
        return got

    def replies(self) -> list[Reply]:
        got = self.take()
        self.inbox = [e for e in got if not isinstance(e, Reply)]
        return [e for e in got if isinstance(e, Reply)]

    def pushes(self) -> list[Push]:
        got = self.take()
        self.inbox = [e for e in got if not isinstance(e, Push)]
        return [e for e in got if isinstance(e, Push)]

    def codes(self) -> list[int]:
        return [r.code for r in self.replies()]


class Net:
    def __init__(
        self,
        limits: Limits = FAST,
        *,
        inline: bool = True,
        clock: Clock | None = None,
        **kwargs: object,
    ) -> None:
        self.clock = clock or Clock()
        self.core = ServerCore(
            limits=limits,
            clock=self.clock,
            wall=lambda: WALL,
            **kwargs,  # type: ignore[arg-type]
        )
        self.clients: dict[Session, Client] = {}
        self.inline = inline
        self.jobs: list[Job] = []
        self.outputs: list[Output] = []

    def connect(self, peer: str = "10.0.0.1:1000") -> Client:
        session, out = self.core.connect(peer)
        client = Client(self, session)
        self.clients[session] = client
        self.apply(out)
        return client

    def apply(self, out: Output) -> None:
        self.outputs.append(out)
        for session, data in out.sends:
            self.clients[session].feed(data)
        for session in out.closes:
            self.clients[session].closed = True
        for session in out.pause:
            self.clients[session].paused = True
        for session in out.resume:
            self.clients[session].paused = False
        for job in out.jobs:
            if self.inline:
                self.apply(self.core.finish(job, job.run()))
            else:
                self.jobs.append(job)

    def run_job(self, index: int = 0) -> None:
        job = self.jobs.pop(index)
        self.apply(self.core.finish(job, job.run()))

    def run_jobs(self) -> None:
        while self.jobs:
            self.run_job()

    def tick(self) -> None:
        self.apply(self.core.tick())

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.tick()

    def user(self, name: str, password: str = "pw pw") -> Client:
        """A connected client logged in to a fresh account."""
        from libbatchat import Login, Register

        c = self.connect()
        assert c.ask(Register(user=name, password=password)).code == 213
        assert c.ask(Login(user=name, password=password)).code == 214
        c.take()
        for other in self.clients.values():
            if other is not c and not other.closed:
                other.take()
        return c
