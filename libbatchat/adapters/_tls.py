"""TLS for the threaded adapter, and the client contexts both adapters use.

A threaded connection reads in one thread and writes in another. OpenSSL
does not allow one ``SSL`` object to be used by two threads at once, which
``ssl.SSLSocket`` would do here, so ``TlsSocket`` runs an ``ssl.SSLObject``
over memory buffers: the TLS state is touched only under a lock, and never
while a thread waits on the network.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading

_CHUNK = 65536

# How long a new connection may take to finish its TLS handshake.
HANDSHAKE_TIMEOUT = 30.0


def client_context(
    tls: bool | ssl.SSLContext | None, cafile: str | None = None
) -> ssl.SSLContext | None:
    """The context a client connects with, or None for plain TCP.

    ``tls=True`` verifies the server's certificate against the system's
    certificate authorities, or only ``cafile`` when one is given (a
    self-signed server certificate, say); a context is used as it is.
    """
    if isinstance(tls, ssl.SSLContext):
        return tls
    if not tls:
        if cafile is not None:
            raise ValueError("cafile needs tls=True")
        return None
    context = ssl.create_default_context(cafile=cafile)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


class TlsSocket:
    """A connected socket speaking TLS, safe for one reader and one writer.

    It offers what the threaded adapter uses of a socket: ``recv``,
    ``sendall``, ``shutdown`` and ``close``. The thread that reads calls
    ``handshake()`` first; ``sendall`` waits until the handshake is over.
    """

    def __init__(
        self,
        sock: socket.socket,
        context: ssl.SSLContext,
        *,
        server_side: bool,
        server_hostname: str | None = None,
    ) -> None:
        self.raw = sock
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._tls = context.wrap_bio(
            self._incoming,
            self._outgoing,
            server_side=server_side,
            server_hostname=server_hostname,
        )
        # _state guards the SSLObject and its buffers and is held only for
        # memory work; _sending keeps raw sends in the order TLS made them.
        self._state = threading.Lock()
        self._sending = threading.Lock()
        self._ready = threading.Event()
        self._failed: OSError | None = None

    def handshake(self, timeout: float = HANDSHAKE_TIMEOUT) -> None:
        """Run the handshake; raises ``OSError`` (``ssl.SSLError``) on failure."""
        self.raw.settimeout(timeout)
        try:
            while True:
                with self._state:
                    try:
                        self._tls.do_handshake()
                        done = True
                    except ssl.SSLWantReadError:
                        done = False
                self._flush()
                if done:
                    return
                data = self.raw.recv(_CHUNK)
                if not data:
                    raise ConnectionError("connection closed during the TLS handshake")
                with self._state:
                    self._incoming.write(data)
        except OSError as exc:
            self._failed = exc
            raise
        finally:
            with contextlib.suppress(OSError):
                self.raw.settimeout(None)
            self._ready.set()

    def _flush(self) -> None:
        with self._sending:
            with self._state:
                data = self._outgoing.read()
            if data:
                self.raw.sendall(data)

    def recv(self, size: int) -> bytes:
        """Up to ``size`` bytes of plaintext; ``b""`` at the end of the stream."""
        while True:
            with self._state:
                try:
                    data: bytes | None = self._tls.read(size)
                except ssl.SSLWantReadError:
                    data = None
                except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                    data = b""
                # Reading can produce output (session tickets, key updates).
                pending = self._outgoing.pending
            if pending:
                self._flush()
            if data is not None:
                return data
            raw = self.raw.recv(_CHUNK)
            with self._state:
                if raw:
                    self._incoming.write(raw)
                else:
                    self._incoming.write_eof()

    def sendall(self, data: bytes) -> None:
        self._ready.wait()
        if self._failed is not None:
            raise OSError(f"TLS handshake failed: {self._failed}")
        with self._sending:
            with self._state:
                self._tls.write(data)
                out = self._outgoing.read()
            self.raw.sendall(out)

    def shutdown(self, how: int) -> None:
        if how == socket.SHUT_WR and self._ready.is_set() and not self._failed:
            # close_notify first, so the peer can tell an end from a cut. Not
            # on SHUT_RDWR: that wakes threads blocked on this socket, and one
            # may be a writer holding the send lock.
            with self._sending:
                with self._state:
                    with contextlib.suppress(ssl.SSLError):
                        self._tls.unwrap()
                    out = self._outgoing.read()
                with contextlib.suppress(OSError):
                    self.raw.sendall(out)
        self.raw.shutdown(how)

    def close(self) -> None:
        self.raw.close()
