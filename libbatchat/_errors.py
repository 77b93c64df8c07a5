"""Protocol errors: ours (local) and the peer's (remote)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._events import Reply


class ProtocolError(Exception):
    """Base class of every error this library raises about the protocol."""


class LocalProtocolError(ProtocolError):
    """We tried to do something the protocol forbids (a bug in the caller)."""


class RemoteProtocolError(ProtocolError):
    """The peer broke the protocol.

    ``reply_hint`` is the reply a server sends back for the offending line,
    or None when there is nothing to answer. ``fatal`` means the connection
    cannot go on and must be closed (``reason`` says why, as a CLOSING push
    reason); otherwise the line was discarded and the connection is fine.
    """

    def __init__(
        self,
        message: str,
        *,
        reply_hint: Reply | None = None,
        fatal: bool = False,
        reason: str = "",
    ) -> None:
        super().__init__(message)
        self.reply_hint = reply_hint
        self.fatal = fatal
        self.reason = reason
