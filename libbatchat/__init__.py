"""libbatchat: the BatChat chat protocol, version 2, as a sans-IO library.

The core (everything importable from here) never touches a socket: it takes
bytes and returns bytes and events. ``libbatchat.adapters`` drives it over
threaded sockets and asyncio; ``libbatchat.conformance`` checks any server.
"""

from ._config import Limits
from ._errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from ._events import (
    Chat,
    Closing,
    Command,
    ConnectionClosed,
    Event,
    Greeting,
    Join,
    Joined,
    Left,
    Login,
    Message,
    Nick,
    Offline,
    Online,
    Part,
    Ping,
    Pong,
    Push,
    Quit,
    Register,
    Reply,
    Rooms,
    ServerPing,
    Who,
)
from ._state import State
from ._table import CODES, PROTOCOL_VERSION, VERBS

__version__ = "0.1.0"

__all__ = [
    "CODES",
    "PROTOCOL_VERSION",
    "VERBS",
    "Chat",
    "Closing",
    "Command",
    "ConnectionClosed",
    "Event",
    "Greeting",
    "Join",
    "Joined",
    "Left",
    "Limits",
    "LocalProtocolError",
    "Login",
    "Message",
    "Nick",
    "Offline",
    "Online",
    "Part",
    "Ping",
    "Pong",
    "ProtocolError",
    "Push",
    "Quit",
    "Register",
    "RemoteProtocolError",
    "Reply",
    "Rooms",
    "ServerPing",
    "State",
    "Who",
    "__version__",
]
