"""The slash-command chat dialect (seed 002): a name prompt, ``/private``,
``/online``, ``/quit``, plain text to everyone; no framing, no PING.

The sender of a message is told nothing when it is delivered, so a send
with no answer within the quiet period counts as delivered.
"""

from __future__ import annotations

import re
from typing import ClassVar

from libbatchat.conformance._model import (
    Action,
    Cap,
    Event,
    Guest,
    Message,
    Offline,
    Online,
    Outcome,
    Quit,
    Send,
    Unknown,
    Unsupported,
    Who,
)

from ._classroom import Classroom

_NOTICE = re.compile(r"\[Servidor\] (\S+) (entrou no|saiu do) chat\.")
_PRIVATE = re.compile(r"\[Privado de ([^\]]+)\] (.*)", re.DOTALL)


class SlashChatDialect(Classroom):
    name: ClassVar[str] = "slashchat"
    description: ClassVar[str] = "the slash-command chat (seed 002), no framing"
    capabilities: ClassVar[frozenset[Cap]] = frozenset(
        {Cap.GUEST, Cap.WHO, Cap.DM, Cap.BROADCAST, Cap.PRESENCE, Cap.QUIT}
    )
    who_barrier: ClassVar[bool] = True  # the answer to WHO has its own start
    starts: ClassVar[str] = (
        r"Digite seu nome|\[Servidor\] |\[Privado de |Online: |Uso correto: "
        r"|Comandos: "
    )

    def spell(self, action: Action) -> bytes:
        match action:
            case Guest(nick=n):
                line = n
            case Who():
                line = "/online"
            case Send(target="*", text=x):
                line = x
            case Send(target=t, text=x) if not t.startswith("#"):
                line = f"/private {t} {x}"
            case Quit():
                line = "/quit"
            case _:
                raise Unsupported(repr(action))
        return line.encode() + b"\n"

    def silent(self, action: Action) -> Outcome | None:
        if isinstance(action, Send):
            return Outcome.SENT
        return Outcome.BYE if isinstance(action, Quit) else None

    def probe_actions(self, name: str) -> list[Action]:
        return [Guest(nick=name), Who(), Who()]

    def read(self, text: str, head: Action | None) -> Event:
        notice = _NOTICE.fullmatch(text)
        if notice:
            user, what = notice.groups()
            if isinstance(head, Guest) and what == "entrou no" and user == head.nick:
                return self.welcome(head, text)
            if isinstance(head, Quit) and what == "saiu do" and user == self.me:
                return self.reply(Outcome.BYE, text)
            return Online(user=user) if what == "entrou no" else Offline(user=user)
        if text.startswith("[Servidor] Usuário '"):
            return self.reply(Outcome.NOT_SENT, text)
        if text.startswith("[Servidor] O nome '"):
            return self.reply(Outcome.NAME_ONLINE, text)
        if text.startswith(("[Servidor] Nome inválido", "Uso correto:")):
            return self.reply(Outcome.INVALID_ARGS, text)
        if text.startswith("Online:") and isinstance(head, Who):
            return self.reply(Outcome.USERS, text, users=self.names(text[7:]))
        private = _PRIVATE.fullmatch(text)
        if private:
            return Message(sender=private[1], address="@", text=private[2])
        sender, colon, body = text.partition(": ")
        if colon and " " not in sender and not sender.startswith("["):
            return Message(sender=sender, address="*", text=body)
        return Unknown(text)


DIALECT = SlashChatDialect
