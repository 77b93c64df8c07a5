"""Bots on the client layer: decorators for commands, messages, presence, timers.

``Bot`` registers handlers; ``bot.run(client)`` dispatches the updates of a
``libbatchat.client.Client``, which connects, paces, reconnects and rejoins.
``batchat-bot path/to/bot.py`` runs a file's bot; ``libbatchat.testing``
tests one. See docs/bots.md.
"""

from libbatchat._events import Joined, Left, Message, Offline, Online, Reply
from libbatchat.client import LoggedIn

from ._bot import Bot
from ._commands import BadArguments, CommandSpec
from ._context import Context
from ._guards import Breaker, Cooldown
from ._loader import NoBot, load_bot

__all__ = [
    "BadArguments",
    "Bot",
    "Breaker",
    "CommandSpec",
    "Context",
    "Cooldown",
    "Joined",
    "Left",
    "LoggedIn",
    "Message",
    "NoBot",
    "Offline",
    "Online",
    "Reply",
    "load_bot",
]
