"""The context a message handler gets: the message, and ``reply()``."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from libbatchat._events import Message, Reply
from libbatchat._names import fold

if TYPE_CHECKING:
    from ._bot import Bot

__all__ = ["Context"]

log = logging.getLogger("libbatchat.bot")


class Context:
    """One message the bot received, and the way to answer it.

    ``command`` is the command's name when the message is one (``"roll"``
    for ``!roll 2d6``), else None; ``args`` is the text after it.
    """

    def __init__(
        self, bot: Bot, message: Message, command: str | None = None, args: str = ""
    ) -> None:
        self.bot = bot
        self.message = message
        self.command = command
        self.args = args
        self._replied = False

    @property
    def sender(self) -> str:
        return self.message.sender

    @property
    def text(self) -> str:
        return self.message.text

    @property
    def address(self) -> str:
        """Where the message was addressed: ``@`` (to me), a ``#room`` or ``*``."""
        return self.message.address

    @property
    def room(self) -> str | None:
        """The room it was said in, for a room message."""
        return self.address if self.address.startswith("#") else None

    @property
    def direct(self) -> bool:
        """Whether it was a direct message to the bot."""
        return self.address == "@"

    @property
    def broadcast(self) -> bool:
        """Whether it was said to everyone (``*``)."""
        return self.address == "*"

    def reply_target(self, private: bool | None = None) -> str:
        """Where ``reply()`` sends: the room for a room message, else the sender.

        ``private=True`` answers a room message by DM; ``private=False``
        answers a broadcast to everyone.
        """
        if self.room is not None and private is not True:
            return self.room
        if self.broadcast and private is False:
            return "*"
        return self.sender

    async def reply(self, text: str, *, private: bool | None = None) -> Reply:
        """Answer where the message came from (see ``reply_target``)."""
        if not self._replied:
            self._replied = True
            self.bot._count_reply(self.sender)
        return await self.bot.say(self.reply_target(private), text)

    async def wait_reply(self, timeout: float) -> Message | None:
        """The sender's next message in the same place, or None after ``timeout``.

        For conversations: ask a question with ``reply()``, then wait here.
        """
        sender, address = fold(self.sender), fold(self.address)

        def same(update: object) -> bool:
            return (
                isinstance(update, Message)
                and fold(update.sender) == sender
                and fold(update.address) == address
            )

        try:
            found = await self.bot.wait_for(same, timeout=timeout)
        except TimeoutError:
            return None
        assert isinstance(found, Message)
        return found

    def __repr__(self) -> str:
        where = f"sender={self.sender!r}, address={self.address!r}"
        return f"Context({where}, text={self.text!r})"
