"""One accepted connection of the asyncio server: its protocol object.

Bytes read go to the server's core; the lines the core queues for the peer
wait in ``unsent`` until the server flushes them (``Server._flush``).
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from libbatchat._dialects import CANONICAL
from libbatchat._server import Session
from libbatchat._stats import CoreStats

from ._common import DRAIN_GRACE, QueueMeter, format_peer, log

if TYPE_CHECKING:
    from .aio import Server


@dataclass(frozen=True, slots=True)
class ServerStats:
    """``Server.stats()``: what a monitor shows, copied at one moment."""

    core: CoreStats  # sessions (with bytes queued), rooms, counters
    listening: bool
    address: str  # host:port as bound


# What one read may take. Reads land in one buffer the server reuses (the
# loop runs one callback at a time), instead of a fresh 256 KiB bytes object
# allocated, and given back to the allocator, on every read.
_READ_SIZE = 65536


class _ServerProtocol(asyncio.BufferedProtocol):
    """One connection: bytes in to the core, the core's output out."""

    # Slots (asyncio's protocol classes have them too): one of these per
    # connection, and a server holds tens of thousands.
    __slots__ = (
        "_abort",
        "_lost",
        "closing",
        "dialect",
        "gone",
        "meter",
        "refused",
        "server",
        "session",
        "sock",
        "transport",
        "unsent",
    )

    def __init__(
        self,
        server: Server,
        dialect: str = CANONICAL,
        sock: socket.socket | None = None,
    ) -> None:
        self.server = server
        self.dialect = dialect
        # The socket the transport writes to, given only where a send() on it
        # while the transport's buffer is empty is what transport.write()
        # would do itself (see Server._flush_these); None for TLS and uvloop.
        self.sock = sock
        self.session: Session | None = None
        self.transport: asyncio.Transport | None = None
        # Made once its unsent bytes first reach the meter's floor: below
        # it a count is no news to the core, and most peers never get there.
        self.meter: QueueMeter | None = None
        # Lines for this peer not yet handed to the transport: the server
        # joins them into one write per loop iteration (see Server._flush).
        # None, not an empty list, while there are none: that is most of the
        # time, for most connections.
        self.unsent: list[bytes] | None = None
        self.closing = False
        self.refused = False
        self.gone = False  # connection_lost() was called
        # The future when_lost() hands out, made on demand: a future per
        # connection would cost more than this whole object.
        self._lost: asyncio.Future[None] | None = None
        # What aborts the transport once the grace of close() runs out.
        self._abort: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A cast, not an isinstance check: uvloop's transports for accepted
        # sockets are not asyncio.Transport subclasses, though they act as one.
        transport = cast(asyncio.Transport, transport)
        self.transport = transport
        # pause_writing() fires at the soft limit, which is exactly when the
        # core needs to start watching this connection.
        transport.set_write_buffer_limits(high=self.server.limits.send_queue_soft)
        peer = format_peer(transport.get_extra_info("peername"))
        session, out = self.server.core.connect(peer, self.dialect)
        self.session = session
        # Refused (CLOSING too-many-connections): closed without a drain, so
        # a flood of refusals does not hold descriptors for the grace.
        self.refused = not session.open
        self.server.protocols[session] = self
        log.debug("transport open %s (session %d)", peer, session.id)
        self.server.apply(out)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.server.read_buffer

    def buffer_updated(self, nbytes: int) -> None:
        # Once closing, input is read and dropped (see close()).
        session = self.session
        if session is not None and not self.closing:
            server = self.server
            data = server.read_buffer[:nbytes].tobytes()
            server.apply(server.core.receive(session, data))

    def eof_received(self) -> bool:
        if self.closing:
            # The drain is over: the peer has read what it wanted.
            return False
        if self.session is not None:
            self.server.apply(self.server.core.receive(self.session, b""))
        # Keep the transport: closing is the core's call (it lists the
        # session in Output.closes), as for every other way a session ends.
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.gone = True
        if self._abort is not None:
            self._abort.cancel()
            self._abort = None
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)
        self.unsent = None
        if self.session is None:
            return
        session = self.session
        self.server.protocols.pop(session, None)
        log.debug("transport closed %s (session %d)", session.peer, session.id)
        self.server.apply(self.server.core.disconnect(session))

    def when_lost(self) -> asyncio.Future[None]:
        """A future done once the transport is gone."""
        if self._lost is None:
            self._lost = asyncio.get_running_loop().create_future()
            if self.gone:
                self._lost.set_result(None)
        return self._lost

    def pause_writing(self) -> None:
        self.report_queue()

    def resume_writing(self) -> None:
        self.report_queue()

    def flush(self) -> None:
        """Hand the lines queued for this peer to the transport now."""
        unsent = self.unsent
        if not unsent or self.transport is None:
            return
        self.unsent = None
        if self.transport.is_closing():
            # Lost under us: nothing written now could reach the peer.
            return
        self.write_many(unsent)

    def write_many(self, unsent: list[bytes]) -> None:
        assert self.transport is not None
        if self.session is not None and self.session.segmented:
            # Its dialect reads a message per segment: one write each.
            for data in unsent:
                self.transport.write(data)
        else:
            self.transport.write(unsent[0] if len(unsent) == 1 else b"".join(unsent))

    def report_queue(self) -> None:
        if self.session is None or self.transport is None or self.closing:
            return
        queued = self.transport.get_write_buffer_size()
        meter = self.meter
        if meter is None:
            if queued < self.server.queue_floor:
                return
            meter = self.meter = QueueMeter(self.server.limits.send_queue_soft)
        if meter.due(queued):
            self.server.apply(self.server.core.send_queue(self.session, queued))

    def close(self) -> None:
        """Half-close once the queued output is written, drain, then close.

        Closing a socket with unread input resets it, and a reset can destroy
        the CLOSING line before the peer reads it (a client still sending a
        200 KB line would never learn why). So the write side is shut once
        the output is out, input is read and dropped until the peer's EOF,
        and the transport is aborted after ``DRAIN_GRACE`` (``close_grace``
        if output is still queued: a peer that never reads must not hold the
        socket forever).
        """
        if self.closing or self.transport is None:
            return
        # Its last lines (the reply, the CLOSING push) go out before the close.
        self.flush()
        self.closing = True
        transport = self.transport
        if transport.is_closing():
            return
        transport.resume_reading()
        if self.refused:
            transport.close()
            grace = self.server.close_grace
        elif transport.can_write_eof():
            try:
                transport.write_eof()
            except OSError:
                # The peer reset the connection and asyncio has not yet
                # called connection_lost: shutdown() fails with ENOTCONN,
                # and nothing could reach the peer anyway.
                transport.abort()
                return
            queued = transport.get_write_buffer_size()
            grace = DRAIN_GRACE if not queued else self.server.close_grace
        else:
            # TLS cannot half-close: close() sends close_notify after the
            # output, and that is as graceful as it gets.
            transport.close()
            grace = self.server.close_grace
        self._abort = asyncio.get_running_loop().call_later(grace, transport.abort)

    def lose(self) -> None:
        """The transport died under us: the session ends now, not next turn.

        asyncio reports a reset through ``connection_lost`` one loop turn
        later; meanwhile every broadcast would write to the dead transport,
        and asyncio logs a warning per write.
        """
        if self.session is not None and self.session.open:
            self.server.apply(self.server.core.disconnect(self.session))
