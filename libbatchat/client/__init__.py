"""The client layer: a chat client that stays online, for REPLs, GUIs and bots.

``Client`` keeps the state (who I am, who is online, my rooms and their
members), paces what it sends from the limits the server advertises,
measures lag, reconnects with backoff and logs in again, rejoining its
rooms; it reports what happens as ``Update`` values (the server's pushes
and the ``ClientEvent`` classes here). See docs/client.md.
"""

from libbatchat._events import (
    Closing,
    Joined,
    Left,
    Message,
    Offline,
    Online,
    Push,
    Reply,
)
from libbatchat._names import fold

from ._client import Client
from ._clock import Clock, LoopClock, VirtualClock
from ._errors import (
    BadLine,
    ClientError,
    ConnectError,
    LoginError,
    NotConnected,
    describe_closing,
    explain,
)
from ._events import Subscription
from ._flags import add_tls_flags
from ._settings import (
    DEFAULT_PORT,
    Account,
    Address,
    Backoff,
    Guest,
    Identity,
    parse_address,
)
from ._state import ChatState, Room, Snapshot
from ._thread import LoopThread
from ._updates import (
    ClientEvent,
    Connected,
    ConnectFailed,
    Connecting,
    Disconnected,
    LagChanged,
    LoggedIn,
    LoginFailed,
    Reconnecting,
    RoomJoined,
    RoomLeft,
    Status,
    Stopped,
    Update,
    Wire,
)
from ._wire import split_message, wire_line

__all__ = [
    "DEFAULT_PORT",
    "Account",
    "Address",
    "Backoff",
    "BadLine",
    "ChatState",
    "Client",
    "ClientError",
    "ClientEvent",
    "Clock",
    "Closing",
    "ConnectError",
    "ConnectFailed",
    "Connected",
    "Connecting",
    "Disconnected",
    "Guest",
    "Identity",
    "Joined",
    "LagChanged",
    "Left",
    "LoggedIn",
    "LoginError",
    "LoginFailed",
    "LoopClock",
    "LoopThread",
    "Message",
    "NotConnected",
    "Offline",
    "Online",
    "Push",
    "Reconnecting",
    "Reply",
    "Room",
    "RoomJoined",
    "RoomLeft",
    "Snapshot",
    "Status",
    "Stopped",
    "Subscription",
    "Update",
    "VirtualClock",
    "Wire",
    "add_tls_flags",
    "describe_closing",
    "explain",
    "fold",
    "parse_address",
    "split_message",
    "wire_line",
]
