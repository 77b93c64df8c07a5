"""The generator's connections: line framing, logins, barriers, marks."""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from benchmarks import wire

# A delivered message: (client, a, b, sent_ns, received_ns).
MsgHandler = Callable[["Client", int, int, int, int], None]


class ConnectionFailed(Exception):
    pass


class Client(asyncio.Protocol):
    """One connection: line framing, message dispatch, login and barriers."""

    def __init__(self, dialect: wire.Dialect, index: int, node: int = 0) -> None:
        self.dialect = dialect
        self.index = index
        self.node = node  # which of the server's addresses it is connected to
        self.on_msg: MsgHandler | None = None
        self.transport: asyncio.Transport | None = None
        self._partial = b""
        loop = asyncio.get_running_loop()
        self.logged_in: asyncio.Future[None] = loop.create_future()
        self._pongs: deque[tuple[bytes, asyncio.Future[None]]] = deque()
        self.closed = False
        self.errors: list[str] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        if self._partial:
            data = self._partial + data
        lines = data.split(b"\n")
        self._partial = lines.pop()
        now = time.monotonic_ns()
        marker = self.dialect.msg_marker
        on_msg = self.on_msg
        for line in lines:
            if marker in line and on_msg is not None:
                try:
                    _, a, b, ns = line.rsplit(b" ", 3)
                    fields = int(a), int(b), int(ns)
                except ValueError:  # not one of ours: count it, do not crash
                    self.errors.append(line.decode(errors="replace"))
                    continue
                on_msg(self, *fields, now)
            else:
                self._other(line.rstrip(b"\r"))

    def _other(self, line: bytes) -> None:
        kind, token = self.dialect.classify(line)
        if kind == wire.PONG:
            # Barriers are answered in order; match the token to be sure.
            while self._pongs:
                want, fut = self._pongs.popleft()
                if not fut.done():
                    fut.set_result(None)
                if want == token:
                    break
        elif kind == wire.PING:
            self.write(self.dialect.pong(token))
        elif kind == wire.LOGGED_IN:
            if not self.logged_in.done():
                self.logged_in.set_result(None)
        elif kind in (wire.FAILED, wire.CLOSING):
            text = line.decode(errors="replace")
            self.errors.append(text)
            if not self.logged_in.done():
                self.logged_in.set_exception(ConnectionFailed(text))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        why = ConnectionFailed(f"connection lost: {exc or 'EOF'}")
        if not self.logged_in.done():
            self.logged_in.set_exception(why)
        while self._pongs:
            _, fut = self._pongs.popleft()
            if not fut.done():
                fut.set_exception(why)

    def barrier(self, token: str) -> asyncio.Future[None]:
        """A future done once the server answered everything sent before."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.closed:
            fut.set_exception(ConnectionFailed("closed"))
            return fut
        self._pongs.append((token.encode(), fut))
        self.write(self.dialect.ping(token))
        return fut

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


# Which node client ``index`` connects to, given how many nodes there are.
Placement = Callable[[int, int], int]


def alternate(index: int, nodes: int) -> int:
    """Room members alternate between the nodes (so do the senders)."""
    return index % nodes


class Generator:
    """Connections to one server (one or more nodes of it, each its own
    address) plus the control channel to the runner."""

    def __init__(self, job: dict[str, Any], control: asyncio.StreamReader) -> None:
        self.job = job
        self.host: str = job["host"]
        self.ports: list[int] = job["ports"]
        self.dialect = wire.DIALECTS[job["dialect"]]
        self.concurrency: int = job.get("concurrency", 100)
        # Prefix of every nick and room: scenarios sharing one server (smoke
        # mode) never meet each other's names.
        self.tag: str = job.get("tag", "")
        self._control = control
        self.clients: list[Client] = []
        self.marks: dict[str, float] = {}

    async def mark(self, name: str) -> None:
        """Tell the runner we reached ``name``; wait until it has sampled."""
        self.marks[name] = time.monotonic()
        print(json.dumps({"mark": name}), flush=True)
        if not await self._control.readline():
            raise SystemExit("runner went away")

    async def connect(
        self, nick: str, index: int, timeout: float, node: int = 0
    ) -> Client:
        loop = asyncio.get_running_loop()
        _, client = await asyncio.wait_for(
            loop.create_connection(
                lambda: Client(self.dialect, index, node), self.host, self.ports[node]
            ),
            timeout,
        )
        self.clients.append(client)
        client.write(self.dialect.login(nick))
        await asyncio.wait_for(asyncio.shield(client.logged_in), timeout)
        return client

    async def login_many(
        self,
        nicks: Iterable[str],
        deadline: float,
        timeout: float = 60.0,
        place: Placement = alternate,
    ) -> dict[str, Any]:
        """Connect and log in every nick, ``concurrency`` at a time, the
        ``i``-th to node ``place(i, nodes)``.

        Returns the clients that made it and per-login times; stops starting
        new logins once ``deadline`` (monotonic) passes.
        """
        sem = asyncio.Semaphore(self.concurrency)
        times: list[float] = []
        failures: list[str] = []
        done: list[Client] = []
        start = time.monotonic()

        async def one(i: int, nick: str) -> None:
            async with sem:
                left = deadline - time.monotonic()
                if left <= 0:
                    failures.append("deadline")
                    return
                t0 = time.monotonic()
                try:
                    node = place(i, len(self.ports))
                    client = await self.connect(nick, i, min(timeout, left), node)
                except (OSError, ConnectionFailed, TimeoutError) as exc:
                    failures.append(f"{type(exc).__name__}: {exc}")
                    return
                times.append(time.monotonic() - t0)
                done.append(client)

        await asyncio.gather(*(one(i, n) for i, n in enumerate(nicks)))
        done.sort(key=lambda c: c.index)
        return {
            "clients": done,
            "seconds": time.monotonic() - start,
            "times": times,
            "failures": failures,
        }

    async def barrier_all(
        self, clients: list[Client], token: str, timeout: float
    ) -> int:
        """PING every client; how many answered within ``timeout`` seconds."""
        if not clients:
            return 0
        futs = [c.barrier(token) for c in clients]
        done, pending = await asyncio.wait(futs, timeout=timeout)
        for fut in pending:
            fut.cancel()
        return sum(1 for f in done if f.exception() is None)

    def close_all(self) -> None:
        for client in self.clients:
            client.close()
