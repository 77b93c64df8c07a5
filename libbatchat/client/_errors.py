"""The client layer's exceptions, and replies explained as sentences."""

from __future__ import annotations

import socket
import ssl

from libbatchat._events import Chat, Join, Login, Nick, Part, Register, Reply
from libbatchat._table import CLOSE_REASONS

__all__ = [
    "BadLine",
    "ClientError",
    "ConnectError",
    "LoginError",
    "NotConnected",
    "describe_error",
    "explain",
]


class ClientError(Exception):
    """Base class of the client layer's errors; ``str()`` is one sentence."""


class NotConnected(ClientError, ConnectionError):
    """There is no usable connection right now (it dropped, or is coming back)."""


class ConnectError(ClientError, ConnectionError):
    """None of the servers could be reached."""


class LoginError(ClientError):
    """The server refused to log in (or register); ``reply`` says why."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(explain(reply))
        self.reply = reply


class BadLine(ClientError, ValueError):
    """A raw line that is not a valid command; nothing was sent."""


def _subject(reply: Reply) -> str:
    command = reply.command
    if isinstance(command, Login | Register):
        return command.user
    if isinstance(command, Nick):
        return command.nick
    if isinstance(command, Chat):
        return command.target
    if isinstance(command, Join | Part):
        return command.room
    return ""


def explain(reply: Reply) -> str:
    """A sentence for a person, saying what ``reply`` means for what they did."""
    who = _subject(reply)
    code = reply.code
    if code == 703:
        if isinstance(reply.command, Register):
            return f"an account named {who} already exists"
        return f"the name {who} belongs to an account; log in with its password"
    if code == 704:
        return "wrong user name or password"
    if code == 705:
        return f"{who} is already online"
    if code == 216:
        if who.startswith("#"):
            return f"not delivered: you are not in {who}"
        if who == "*":
            return "not delivered"
        return f"not delivered: {who} is not online"
    if code == 706:
        return f"you are not in {who}"
    if code == 702:
        return (
            f"invalid arguments ({reply.text})" if reply.text else "invalid arguments"
        )
    sentences = {
        700: "log in first",
        701: "you are already logged in",
        707: "that line is too long for this server",
        708: "that line is not valid UTF-8",
        709: "too many failed logins; wait a minute and try again",
        710: "the server failed to carry that out",
        999: "the server does not know that command",
    }
    return sentences.get(code, reply.text or reply.info.meaning)


def describe_closing(reason: str, text: str) -> str:
    """Why the server closed the connection, as a sentence."""
    meaning = CLOSE_REASONS.get(reason)
    if reason == "shutdown":
        return "the server is shutting down"
    if meaning is None:
        return f"the server closed the connection ({reason}: {text})"
    return f"the server closed the connection: {meaning}"


def describe_error(exc: BaseException, timeout: float) -> str:
    """Why a connection attempt failed, in a few words."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"the server's certificate is not trusted ({exc.verify_message})"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed ({exc.reason or exc})"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is the server running?)"
    if isinstance(exc, socket.gaierror):
        return "unknown host name"
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout:g} s"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__
