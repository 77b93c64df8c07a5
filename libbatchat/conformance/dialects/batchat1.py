"""The original BatChat dialect (seeds 000/001): ``NOVO/ENTRAR/LISTA/CHAT/
SAIR``, bare reply codes, ``ana: text`` pushes; no framing, no PING."""

from __future__ import annotations

import re
from typing import ClassVar

from libbatchat.conformance._model import (
    Action,
    Cap,
    Event,
    Login,
    Message,
    Outcome,
    Quit,
    Register,
    Send,
    Unknown,
    Unsupported,
    Who,
)

from ._classroom import Classroom

CODES = {
    "PASS-213": Outcome.REGISTERED,
    "CHAT-215": Outcome.SENT,
    "CHAT-216": Outcome.NOT_SENT,
    "ERRO-700": Outcome.NOT_LOGGED_IN,
    "ERRO-702": Outcome.INVALID_ARGS,
    "ERRO-703": Outcome.NAME_TAKEN,
    "ERRO-704": Outcome.BAD_CREDENTIALS,
    "ERRO-999": Outcome.UNKNOWN_COMMAND,
}


class BatChat1Dialect(Classroom):
    name: ClassVar[str] = "batchat1"
    description: ClassVar[str] = "the original BatChat (seeds 000/001), no framing"
    capabilities: ClassVar[frozenset[Cap]] = frozenset(
        {Cap.ACCOUNTS, Cap.WHO, Cap.DM, Cap.QUIT, Cap.UNIQUE_NAMES}
    )
    starts: ClassVar[str] = r"(?:PASS|CHAT|ERRO)-[0-9]{3}"
    lf_ends: ClassVar[bool] = False

    def spell(self, action: Action) -> bytes:
        match action:
            case Register(user=u, password=p) | Login(user=u, password=p) if (
                " " not in u + p
            ):
                verb = "NOVO" if isinstance(action, Register) else "ENTRAR"
                return f"{verb} {u} {p}".encode()
            case Who():
                return b"LISTA"
            case Send(target=t, text=x) if t != "*" and not t.startswith("#"):
                return f"CHAT {t} {x}".encode()
            case Quit():
                return b"SAIR"
        raise Unsupported(repr(action))

    def silent(self, action: Action) -> Outcome | None:
        return Outcome.BYE if isinstance(action, Quit) else None

    def probe_actions(self, name: str) -> list[Action]:
        # Answered ERRO-700 before login: any answer times the round trip.
        return [Who(), Who(), Who()]

    def read(self, text: str, head: Action | None) -> Event:
        if text == "PASS-214":
            return self.welcome(head, text)
        if text in CODES:
            return self.reply(CODES[text], text)
        if re.fullmatch(r"(?:PASS|CHAT|ERRO)-[0-9]{3}", text):
            return self.reply(None, text)
        if isinstance(head, Who) and ": " not in text:
            return self.reply(Outcome.USERS, text, users=self.names(text))
        sender, colon, body = text.partition(": ")
        if colon and " " not in sender:
            return Message(sender=sender, address="@", text=body)
        return Unknown(text)


DIALECT = BatChat1Dialect
