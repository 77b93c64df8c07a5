"""``batchat1``: the original BatChat protocol (seeds 000/001).

``NOVO/ENTRAR/LISTA/CHAT/SAIR`` with bare reply codes (``PASS-214`` alone,
no text, no terminator) and ``ana: text`` pushes. Its client matches each
reply code exactly, so only the codes BatChat knew are ever sent; nothing is
pushed before login (it would be read as the reply), and presence and room
notices, which BatChat cannot say, are left out.
"""

from __future__ import annotations

from typing import ClassVar

from ._codec import Codec, Ctx
from ._events import Chat, Login, Message, Quit, Register, Reply, Who

# The codes BatChat's client knows; every other one is spelled as the nearest.
_KNOWN = {213, 214, 215, 216, 700, 702, 703, 704, 999}
_NEAREST = {
    701: 702,  # already logged in
    705: 704,  # the account is online elsewhere: the login fails
    707: 702,
    708: 702,
    709: 704,  # too many failed logins: the login fails
    710: 702,
}
_ARGS = Ctx("args")


class BatChat1(Codec):
    name: ClassVar[str] = "batchat1"

    def message(self, text: str) -> None:
        verb, _, rest = text.partition(" ")
        verb = verb.upper()
        if verb in ("NOVO", "ENTRAR"):
            fields = rest.split(" ")
            if len(fields) != 2:
                self.error(702, _ARGS)
                return
            user, password = fields
            kind = Register if verb == "NOVO" else Login
            self.command(lambda: kind(user=user, password=password), _ARGS, _ARGS)
        elif verb == "LISTA":
            self.command(Who, _ARGS, _ARGS)
        elif verb == "CHAT":
            target, _, body = rest.partition(" ")
            if not target or not body:
                self.error(702, _ARGS)
                return
            self.command(lambda: Chat(target=target, text=body), _ARGS, _ARGS)
        elif verb == "SAIR":
            self.done = True
            self.command(Quit, _ARGS, _ARGS)
        else:
            self.error(999, _ARGS)

    def render_reply(self, reply: Reply, ctx: Ctx) -> str:
        code = reply.code
        if code == 217:
            return ""  # SAIR: the original just closes
        if code == 220:
            # Never empty: LISTA needs a login, so the asker is online.
            return ", ".join(reply.names)
        code = code if code in _KNOWN else _NEAREST[code]
        tag = "PASS" if code in (213, 214) else "CHAT" if code in (215, 216) else "ERRO"
        return f"{tag}-{code}"

    def message_line(self, msg: Message) -> str:
        if msg.address == "@":
            return f"{msg.sender}: {msg.text}"
        # BatChat has only direct messages; say where the others were sent.
        return f"{msg.sender} ({msg.address}): {msg.text}"
