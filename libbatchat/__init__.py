"""libbatchat: the BatChat chat protocol, version 2, as a sans-IO library.

The core (everything importable from here) never touches a socket: it takes
bytes and returns bytes and events. ``libbatchat.adapters`` drives it over
threaded sockets and asyncio; ``libbatchat.conformance`` checks any server.
"""

from ._accounts import (
    AccountStore,
    MemoryStore,
    StoreError,
    hash_password,
    verify_password,
)
from ._config import Limits
from ._connection import NEED_DATA, Connection, Role
from ._errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from ._events import (
    Chat,
    Closing,
    Command,
    ConnectionClosed,
    Event,
    Greeting,
    Help,
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
from ._grammar import parse_command, parse_server_line, serialize
from ._server import Job, Output, ServerCore, Session
from ._state import State
from ._table import CODES, PROTOCOL_VERSION, VERBS

__version__ = "0.1.0"

__all__ = [
    "CODES",
    "NEED_DATA",
    "PROTOCOL_VERSION",
    "VERBS",
    "AccountStore",
    "Chat",
    "Closing",
    "Command",
    "Connection",
    "ConnectionClosed",
    "Event",
    "Greeting",
    "Help",
    "Job",
    "Join",
    "Joined",
    "Left",
    "Limits",
    "LocalProtocolError",
    "Login",
    "MemoryStore",
    "Message",
    "Nick",
    "Offline",
    "Online",
    "Output",
    "Part",
    "Ping",
    "Pong",
    "ProtocolError",
    "Push",
    "Quit",
    "Register",
    "RemoteProtocolError",
    "Reply",
    "Role",
    "Rooms",
    "ServerCore",
    "ServerPing",
    "Session",
    "State",
    "StoreError",
    "Who",
    "__version__",
    "hash_password",
    "parse_command",
    "parse_server_line",
    "serialize",
    "verify_password",
]
