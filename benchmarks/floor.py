"""The floor: a measuring baseline for the ``dm`` scenario. NOT a server.

It answers exactly the lines the benchmark's generator sends in ``dm`` on the
canonical wire, and nothing else a client could rely on: ``APELIDO nick``
(``PASS-218 nick``), ``PING token`` (``PONG-224 token``), ``CHAT name text``
(``FROM sender @ time text`` to ``name``, ``CHAT-215 delivered`` to the
sender) and ``SAIR`` (the runner's greeting probe). No validation, no limits,
no state machine, no presence, no timers, no accounts, no rooms: split the
read into lines, look the target up by name, write. Anything else is answered
``ERRO-999`` so a stray client learns it is talking to the wrong thing.

What it is for: the cheapest a Python asyncio (or uvloop) program can serve
the ``dm`` traffic with our line count and our write coalescing (one
``transport.write`` per recipient per read, ``TCP_NODELAY`` as ours). The
runner puts it beside batchat-server and ngircd (servers ``floor``,
``floor-uvloop``, and ``floor-noack``/``floor-uvloop-noack``, which skip the
sender's ``CHAT-215``: IRC's ``PRIVMSG`` gets no acknowledgement, so those
write the same two lines per round trip ngircd does). The gap from
batchat-server to the floor is what the server's own work costs; the gap
from the floor to ngircd is what Python and its event loop cost.

``python -m benchmarks.floor [--host H] [--port 0] [--uvloop] [--no-ack]``
prints ``floor listening on H:PORT (...)`` once it accepts connections.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import signal
import socket
import sys
import time
from typing import Any

GREETING = (
    b"OLA-100 batchat/2 floor: a measuring baseline of the benchmarks, not a "
    b"server (dm lines only, no validation, no limits)\n"
)
ACK = b"CHAT-215 delivered\n"
UNKNOWN = b"ERRO-999 the floor answers only APELIDO, CHAT, PING and SAIR\n"


class _Clock:
    """The ``FROM`` line's UTC time to the millisecond, formatted once a second."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = b""

    def stamp(self) -> bytes:
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime(
                "%Y-%m-%dT%H:%M:%S", time.gmtime(second)
            ).encode()
        return b"%s.%03dZ" % (self._prefix, int((now - second) * 1000))


# What one read may take, into one buffer all connections share (the loop
# runs one callback at a time), as batchat-server does. A plain
# asyncio.Protocol would get a fresh 256 KiB bytes object per read, which
# glibc serves with mmap, shrinks with mremap and frees with munmap: three
# more system calls per read, and page faults.
_READ_SIZE = 65536


class Floor:
    """What the connections share: who is online under which name."""

    def __init__(self, ack: bool) -> None:
        self.ack = ack
        self.names: dict[bytes, Conn] = {}
        self.clock = _Clock()
        self.buffer = memoryview(bytearray(_READ_SIZE))


class Conn(asyncio.BufferedProtocol):
    __slots__ = ("floor", "name", "partial", "transport")

    def __init__(self, floor: Floor) -> None:
        self.floor = floor
        self.name = b""
        self.partial = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:  # ours set it too; asyncio does, uvloop may not
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        transport.write(GREETING)  # type: ignore[attr-defined]

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.floor.buffer

    def buffer_updated(self, nbytes: int) -> None:
        data = self.floor.buffer[:nbytes].tobytes()
        if self.partial:
            data = self.partial + data
        lines = data.split(b"\n")
        self.partial = lines.pop()
        # This read's output per recipient, written once each at the end:
        # the coalescing batchat-server does (its lines for a peer in one
        # write), without its extra loop iteration.
        out: dict[Conn, list[bytes]] = {}
        mine: list[bytes] = []
        out[self] = mine
        floor = self.floor
        stamp = b""
        leaving = False
        for line in lines:
            verb, _, rest = line.rstrip(b"\r").partition(b" ")
            if verb == b"CHAT":
                target, _, text = rest.partition(b" ")
                peer = floor.names.get(target)
                if peer is None:
                    mine.append(b"CHAT-216 %s is not online\n" % target)
                    continue
                stamp = stamp or floor.clock.stamp()
                msg = b"FROM %s @ %s %s\n" % (self.name, stamp, text)
                theirs = out.get(peer)
                if theirs is None:
                    out[peer] = [msg]
                else:
                    theirs.append(msg)
                if floor.ack:
                    mine.append(ACK)
            elif verb == b"PING":
                mine.append(b"PONG-224 %s\n" % rest)
            elif verb == b"APELIDO":
                mine.append(self._login(rest))
            elif verb == b"SAIR":
                mine.append(b"PASS-217 bye\n")
                leaving = True
                break
            elif verb:
                mine.append(UNKNOWN)
        for conn, chunks in out.items():
            if chunks and conn.transport is not None:
                data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
                conn.transport.write(data)
        if leaving and self.transport is not None:
            self.transport.close()

    def _login(self, nick: bytes) -> bytes:
        names = self.floor.names
        holder = names.get(nick)
        if not nick or self.name or (holder is not None and holder is not self):
            return b"ERRO-705 %s is already online, or this session has a name\n" % nick
        self.name = nick
        names[nick] = self
        return b"PASS-218 %s\n" % nick

    def connection_lost(self, exc: Exception | None) -> None:
        if self.name and self.floor.names.get(self.name) is self:
            del self.floor.names[self.name]
        self.transport = None


async def serve(host: str, port: int, ack: bool, loop_name: str) -> None:
    loop = asyncio.get_running_loop()
    floor = Floor(ack)
    server = await loop.create_server(lambda: Conn(floor), host, port)
    bound = server.sockets[0].getsockname()
    mode = "ack" if ack else "no ack"
    print(f"floor listening on {bound[0]}:{bound[1]} ({loop_name}, {mode})", flush=True)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    server.close()
    for conn in list(floor.names.values()):
        if conn.transport is not None:
            conn.transport.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.floor",
        description="A measuring baseline for the dm benchmark, not a chat server.",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--uvloop", action="store_true", help="run on uvloop")
    p.add_argument(
        "--no-ack",
        action="store_true",
        help="no CHAT-215 to the sender: two lines per round trip, as IRC",
    )
    args = p.parse_args(argv)
    loop_name = "uvloop" if args.uvloop else "asyncio"
    coro = serve(args.host, args.port, not args.no_ack, loop_name)
    runner: Any = importlib.import_module("uvloop").run if args.uvloop else asyncio.run
    runner(coro)
    return 0


if __name__ == "__main__":
    sys.exit(main())
