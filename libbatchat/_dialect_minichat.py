"""``minichat``: the Mini-Chat TCP protocol (seed 003).

The first message is the nickname; then ``@nick text`` is a direct message,
``WHO`` (any case) lists who is on, ``QUIT`` (exactly) leaves, and anything
else goes to everyone, the sender included (``FROM ana [all]: text``).
Nothing is terminated.
"""

from __future__ import annotations

from typing import ClassVar

from ._codec import Codec, Ctx
from ._events import Chat, Closing, Message, Nick, Quit, Reply, Who

WELCOME = "New User. Você está conectado!"
IN_USE = "ERR apelido_em_uso"
NOT_FOUND = "ERR user_not_found"
_DM_USAGE = "SYSTEM: Formato de DM inválido. Use: @apelido <mensagem>"
_PLAIN = Ctx("plain")


class MiniChat(Codec):
    name: ClassVar[str] = "minichat"

    def __init__(self, *, max_line: int = 4096, max_unterminated: int = 8192) -> None:
        super().__init__(max_line=max_line, max_unterminated=max_unterminated)
        self.user = ""
        self._asked = False

    def message(self, text: str) -> None:
        if not self._asked:
            self._asked = True
            nick = Ctx("nick", text)
            self.command(lambda: Nick(nick=text), nick, nick)
        elif text == "QUIT":
            self.done = True
            self.command(Quit, _PLAIN, _PLAIN)
        elif text.casefold() == "who":
            self.command(Who, _PLAIN, _PLAIN)
        elif text.startswith("@"):
            target, _, body = text[1:].partition(" ")
            if not target or not body.strip():
                self.error(702, Ctx("dm-usage"))
                return
            dm = Ctx("dm", target)
            self.command(lambda: Chat(target=target, text=body), dm, dm)
        else:
            everyone = Ctx("all", text)
            self.command(lambda: Chat(target="*", text=text), everyone, _PLAIN)

    def render_closing(self, closing: Closing) -> str:
        return f"SYSTEM: conexão encerrada pelo servidor ({closing.reason})."

    def render_reply(self, reply: Reply, ctx: Ctx) -> str:
        code = reply.code
        if ctx.kind == "nick":
            if code == 218:
                self.user = reply.text
                return f"{WELCOME}{self.online_line(self.user)}"
            # The original client leaves on exactly this reply, or on EOF.
            return self.hang_up(
                IN_USE if code in (703, 705) else "ERR apelido_invalido"
            )
        if code == 215:
            if ctx.kind == "dm":
                return f"SYSTEM: DM para {ctx.arg} enviada."
            # The original echoes a broadcast to its sender too.
            return f"FROM {self.user} [all]: {ctx.arg}"
        if code in (217, 700):
            return ""
        if code == 220:
            return f"SYSTEM: Usuários conectados: {', '.join(reply.names)}"
        if ctx.kind == "dm":
            return NOT_FOUND
        if ctx.kind == "dm-usage":
            return _DM_USAGE
        if code == 707:
            return "ERR mensagem_longa"
        if code == 708:
            return "ERR utf8_invalido"
        if code == 702:
            return "ERR mensagem_invalida"
        return "ERR erro_interno"

    def message_line(self, msg: Message) -> str:
        where = {"@": "dm", "*": "all"}.get(msg.address, msg.address)
        return f"FROM {msg.sender} [{where}]: {msg.text}"

    def online_line(self, user: str) -> str:
        return f"SYSTEM: {user} entrou no chat."

    def offline_line(self, user: str) -> str:
        return f"SYSTEM: {user} saiu do chat."
