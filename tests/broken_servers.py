"""Deliberately broken servers, to prove the conformance suite can fail.

A broken server is a real libbatchat server behind :class:`BrokenServer`, a
line-aware TCP proxy. The proxy sees every connection, so one mutation can
drop, rewrite or inject lines per connection or across them (a room message
leaking to another connection needs exactly that). Each mutation imitates a
bug the classroom chats had or could easily have.

    with threaded.Server(host="127.0.0.1", port=0, limits=fast) as real:
        with BrokenServer(("127.0.0.1", real.port), "drop-dm") as broken:
            run the suite against ("127.0.0.1", broken.port)

``MUTATIONS`` names every mutation; ``"none"`` is a faithful proxy, the
control that shows the proxy itself breaks nothing.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from types import TracebackType

MUTATIONS: dict[str, str] = {
    "none": "a faithful proxy (the control)",
    "echo-broadcast": "a broadcast is echoed back to its sender",
    "drop-dm": "direct messages are never delivered",
    "duplicate-name": "a name already online is accepted again",
    "room-leak": "a room message also reaches users outside the room",
    "no-leave-notices": "LEFT pushes are never sent",
    "no-join-notices": "JOINED pushes are never sent",
    "no-online-notices": "ONLINE pushes are never sent",
    "chunk-lines": "each read from the socket is treated as a whole line",
    "crlf-kept": "the CR of a CRLF line stays in the line",
    "overlong-closes": "a line over max-line closes the connection",
    "bad-utf8-closes": "a line of invalid UTF-8 closes the connection",
    "flood-drop": "lines beyond 20 in one read are dropped, not delayed",
    "drop-keeps-session": "a dropped connection stays online (no notices)",
    "stale-who": "LISTA still shows users who went offline",
    "names-lowercased": "PASS-214 and PASS-218 show the name lower-cased",
    "greeting-no-burst": "the greeting does not advertise burst",
    "look-alikes-accepted": "non-ASCII names are accepted however they look",
    "no-takeover": "ENTRAR to an account online elsewhere is refused",
    "no-help": "AJUDA/HELP is an unknown command",
    "no-room-limit": "JUNTAR past the room limits is accepted",
    "unpaged-lists": "a list reply hides that it left names out",
    "terse-errors": "ERRO-700, ERRO-702 and ERRO-999 say only what went wrong",
}

_REPLY = re.compile(rb"([A-Z]+)-([0-9]{3})(?: (.*))?")
_MAX_LINE = 4096  # the spec's default max-line, which our test servers keep
_FLOOD_KEEP = 20
CODE_WORDS = {700: b"not logged in", 702: b"bad arguments", 999: b"unknown command"}


def _now() -> str:
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


class _Conn:
    """One proxied connection and what the proxy learned about it."""

    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.client = client
        self.upstream = upstream
        self.write_lock = threading.Lock()
        self.name: str | None = None
        self.rooms: set[str] = set()
        # The client's commands awaiting their reply, oldest first; the
        # proxy pairs replies with them the way a client does.
        self.pending: deque[list[bytes]] = deque()
        self.pending_lock = threading.Lock()
        self.quit_sent = False
        self.dead = False
        # Set once CLOSING has gone to the client: a real server sends
        # nothing after it, so a leaked line must not either.
        self.closing_sent = False

    def to_client(self, data: bytes, *, unless_closing: bool = False) -> None:
        with self.write_lock:
            if self.dead or (unless_closing and self.closing_sent):
                return
            try:
                self.client.sendall(data)
            except OSError:
                self.dead = True
            if data.startswith(b"CLOSING") or b"\nCLOSING" in data:
                self.closing_sent = True

    def kill(self) -> None:
        self.dead = True
        for sock in (self.client, self.upstream):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


class BrokenServer:
    """A proxy on 127.0.0.1 in front of ``upstream`` that applies ``mutation``."""

    def __init__(self, upstream: tuple[str, int], mutation: str) -> None:
        if mutation not in MUTATIONS:
            raise ValueError(f"unknown mutation {mutation!r}")
        self.upstream = upstream
        self.mutation = mutation
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._conns: list[_Conn] = []
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._offline: list[bytes] = []
        self._leaked: set[bytes] = set()
        self._closed = False

    # --- lifecycle -------------------------------------------------------

    def __enter__(self) -> BrokenServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def start(self) -> None:
        self._spawn(self._accept_loop)

    def close(self) -> None:
        self._closed = True
        # close() alone does not wake a thread blocked in accept() on Linux;
        # shutdown() does, so the join below is immediate.
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            conn.kill()
        for thread in self._threads:
            thread.join(timeout=5)

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.upstream, timeout=10)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = _Conn(client, upstream)
            with self._lock:
                self._conns.append(conn)
            self._spawn(self._client_to_server, conn)
            self._spawn(self._server_to_client, conn)

    # --- client to server ------------------------------------------------

    def _client_to_server(self, conn: _Conn) -> None:
        buf = bytearray()
        line_length = 0  # bytes of the current line already passed on
        while not conn.dead:
            try:
                data = conn.client.recv(65536)
            except OSError:
                data = b""
            if not data:
                self._client_eof(conn)
                return
            if self.mutation == "chunk-lines" and not data.endswith(b"\n"):
                data += b"\n"
            if self.mutation == "crlf-kept":
                data = data.replace(b"\r\n", "\u240d".encode() + b"\n")
            buf += data
            out = bytearray()
            kept = 0
            while (end := buf.find(b"\n")) >= 0:
                line = bytes(buf[: end + 1])
                del buf[: end + 1]
                total = line_length + len(line)
                line_length = 0
                if self.mutation == "overlong-closes" and total > _MAX_LINE:
                    conn.kill()
                    return
                if self.mutation == "bad-utf8-closes" and not _utf8(line):
                    conn.kill()
                    return
                kept += 1
                if self.mutation == "flood-drop" and kept > _FLOOD_KEEP:
                    continue
                self._track_command(conn, line)
                out += line
            # An unterminated line is passed on as it grows, so the server
            # applies its own limit to it; only its length is remembered.
            if len(buf) > _MAX_LINE:
                if self.mutation == "overlong-closes":
                    conn.kill()
                    return
                line_length += len(buf)
                out += buf
                buf.clear()
            if out:
                try:
                    conn.upstream.sendall(bytes(out))
                except OSError:
                    conn.kill()
                    return

    def _client_eof(self, conn: _Conn) -> None:
        if self.mutation == "drop-keeps-session" and not conn.quit_sent:
            # The server never learns the client left: its session lingers
            # until the proxy closes.
            return
        with contextlib.suppress(OSError):
            conn.upstream.shutdown(socket.SHUT_WR)

    def _track_command(self, conn: _Conn, line: bytes) -> None:
        words = line.rstrip(b"\r\n").split(b" ")
        verb = words[0].upper()
        if not line.strip() or verb == b"PONG":
            return
        if verb in (b"SAIR", b"QUIT"):
            conn.quit_sent = True
        with conn.pending_lock:
            conn.pending.append(words)

    # --- server to client ------------------------------------------------

    def _server_to_client(self, conn: _Conn) -> None:
        buf = bytearray()
        first = True
        while True:
            try:
                data = conn.upstream.recv(65536)
            except OSError:
                data = b""
            if not data:
                if buf:
                    conn.to_client(bytes(buf))
                with conn.write_lock:
                    conn.dead = True
                    with contextlib.suppress(OSError):
                        conn.client.shutdown(socket.SHUT_RDWR)
                    conn.client.close()
                return
            buf += data
            out = bytearray()
            while (end := buf.find(b"\n")) >= 0:
                line = bytes(buf[:end])
                del buf[: end + 1]
                for result in self._server_line(conn, line, first):
                    out += result + b"\n"
                first = False
            if out:
                conn.to_client(bytes(out))

    def _server_line(self, conn: _Conn, line: bytes, first: bool) -> list[bytes]:
        """What the client gets instead of ``line``."""
        m = self.mutation
        if first and m == "greeting-no-burst":
            return [re.sub(rb" burst=[0-9.]+", b"", line)]
        reply = _REPLY.fullmatch(line)
        if reply and not first:
            return self._reply(conn, line, int(reply.group(2)), reply.group(3) or b"")
        word, _, rest = line.partition(b" ")
        if word == b"OFFLINE":
            self._offline.append(rest)
        if word == b"FROM":
            parts = rest.split(b" ", 3)
            if m == "drop-dm" and len(parts) > 1 and parts[1] == b"@":
                return []
            if m == "room-leak" and len(parts) == 4 and parts[1].startswith(b"#"):
                self._leak(conn, parts[0], parts[1], line)
        if (
            (m == "no-leave-notices" and word == b"LEFT")
            or (m == "no-join-notices" and word == b"JOINED")
            or (m == "no-online-notices" and word == b"ONLINE")
        ):
            return []
        return [line]

    def _reply(self, conn: _Conn, line: bytes, code: int, text: bytes) -> list[bytes]:
        with conn.pending_lock:
            command = conn.pending.popleft() if conn.pending else [b""]
        verb = command[0].upper()
        arg = command[1] if len(command) > 1 else b""
        m = self.mutation
        if code in (214, 218):
            conn.name = text.decode("utf-8", "replace")
            if m == "names-lowercased":
                return [line[:9] + text.lower()]
        elif code == 222:
            conn.rooms.add(text.decode("utf-8", "replace").casefold())
        elif code == 223:
            conn.rooms.discard(text.decode("utf-8", "replace").casefold())
        elif code == 705 and m == "duplicate-name":
            conn.name = arg.decode("utf-8", "replace")
            ok = b"PASS-218 " if verb in (b"APELIDO", b"NICK") else b"PASS-214 "
            return [ok + arg]
        elif code == 215 and m == "echo-broadcast" and arg == b"*" and conn.name:
            text_sent = b" ".join(command[2:]).rstrip(b"\r\n")
            echo = b" ".join([b"FROM", conn.name.encode(), b"*", _now().encode()])
            return [echo + b" " + text_sent, line]
        elif code == 220 and m == "stale-who" and len(command) == 1:
            names = [n for n in text.split(b" ") if n] + self._offline
            uniq = sorted(
                set(names), key=lambda n: n.decode("utf-8", "replace").casefold()
            )
            return [b"LISTA-220 " + b" ".join(uniq)]
        return self._hardening(conn, line, code, verb, arg)

    def _hardening(
        self, conn: _Conn, line: bytes, code: int, verb: bytes, arg: bytes
    ) -> list[bytes]:
        """The mutations of issue 7's hardening."""
        m = self.mutation
        if (
            m == "look-alikes-accepted"
            and code in (702, 703, 705)
            and not arg.isascii()
        ):
            if verb in (b"APELIDO", b"NICK"):
                return [b"PASS-218 " + arg]
            if verb in (b"NOVO", b"REGISTER"):
                return [b"PASS-213 account created"]
        if m == "no-takeover" and code == 214:
            name = line[9:].decode("utf-8", "replace").casefold()
            # Not by ``dead``: the real server has closed the session it took
            # over, perhaps before this reply got here.
            with self._lock:
                others = [c for c in self._conns if c is not conn and not c.quit_sent]
            if any((c.name or "").casefold() == name for c in others):
                return [b"ERRO-705 already online"]
        if m == "no-help" and code == 225:
            return [b"ERRO-999 unknown command"]
        if m == "no-room-limit" and code == 711:
            return [b"PASS-222 " + arg]
        if m == "terse-errors" and code in (700, 702, 999):
            return [line[:8] + b" " + CODE_WORDS[code]]
        if m == "unpaged-lists" and code in (220, 221):
            return [re.sub(rb" ?\+[0-9]+$", b"", line)]
        return [line]

    def _leak(self, origin: _Conn, sender: bytes, room: bytes, line: bytes) -> None:
        with self._lock:
            # Every member's copy of the message passes through here; leak once.
            if line in self._leaked:
                return
            self._leaked.add(line)
        folded_room = room.decode("utf-8", "replace").casefold()
        folded_sender = sender.decode("utf-8", "replace").casefold()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            if conn is origin or conn.dead or conn.name is None:
                continue
            if conn.name.casefold() == folded_sender or folded_room in conn.rooms:
                continue
            conn.to_client(line + b"\n", unless_closing=True)


def _utf8(line: bytes) -> bool:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
