"""The Mini-Chat TCP dialect (seed 003): nickname first, ``@nick`` DMs,
``WHO``, ``QUIT``, ``FROM ana [all]: ...``; no framing, no PING."""

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

_FROM = re.compile(r"FROM (\S+) \[([^\]]+)\]: (.*)", re.DOTALL)


class MiniChatDialect(Classroom):
    name: ClassVar[str] = "minichat"
    description: ClassVar[str] = "Mini-Chat TCP (seed 003), no framing"
    capabilities: ClassVar[frozenset[Cap]] = frozenset(
        {
            Cap.GUEST,
            Cap.WHO,
            Cap.DM,
            Cap.BROADCAST,
            Cap.PRESENCE,
            Cap.QUIT,
            Cap.UNIQUE_NAMES,
        }
    )
    who_barrier: ClassVar[bool] = True  # the answer to WHO has its own start
    starts: ClassVar[str] = r"FROM \S+ \[|SYSTEM: |ERR |New User\. "
    lf_ends: ClassVar[bool] = False

    def spell(self, action: Action) -> bytes:
        match action:
            case Guest(nick=n):
                return n.encode()
            case Who():
                return b"WHO"
            case Send(target="*", text=x):
                return x.encode()
            case Send(target=t, text=x) if not t.startswith("#"):
                return f"@{t} {x}".encode()
            case Quit():
                return b"QUIT"
        raise Unsupported(repr(action))

    def silent(self, action: Action) -> Outcome | None:
        return Outcome.BYE if isinstance(action, Quit) else None

    def probe_actions(self, name: str) -> list[Action]:
        return [Guest(nick=name), Who(), Who()]

    def read(self, text: str, head: Action | None) -> Event:
        if text.startswith("New User.") and isinstance(head, Guest):
            return self.welcome(head, text)
        if text == "ERR apelido_em_uso":
            return self.reply(Outcome.NAME_ONLINE, text)
        if text == "ERR user_not_found":
            return self.reply(Outcome.NOT_SENT, text)
        if text.startswith("SYSTEM: Formato de DM"):
            return self.reply(Outcome.INVALID_ARGS, text)
        if text.startswith("SYSTEM: DM para ") and isinstance(head, Send):
            return self.reply(Outcome.SENT, text)
        if text.startswith("SYSTEM: Usuários conectados:"):
            users = self.names(text.split(":", 2)[2])
            return self.reply(Outcome.USERS, text, users=users)
        joined = re.fullmatch(r"SYSTEM: (\S+) (entrou no|saiu do) chat\.", text)
        if joined:
            user = joined[1]
            if user == self.me or (isinstance(head, Guest) and user == head.nick):
                return Unknown(text)  # one's own arrival, beside the welcome
            return Online(user=user) if joined[2] == "entrou no" else Offline(user=user)
        message = _FROM.fullmatch(text)
        if message:
            sender, where, body = message.groups()
            echo = isinstance(head, Send) and head.target == "*" and head.text == body
            if where == "all" and sender == self.me and echo:
                return self.reply(Outcome.SENT, text)
            address = {"all": "*", "dm": "@"}.get(where, where)
            return Message(sender=sender, address=address, text=body)
        if text.startswith("ERR "):
            return self.reply(None, text)  # an error this driver does not know
        return Unknown(text)


DIALECT = MiniChatDialect
