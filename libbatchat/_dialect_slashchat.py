"""``slashchat``: the slash-command chat (seed 002).

The server prompts for a name; then ``/private user text`` is a direct
message, ``/online`` lists who is on, ``/quit`` leaves, and anything else
goes to everyone. No terminators except on the command summary, as the
original wrote them.
"""

from __future__ import annotations

from typing import ClassVar

from ._codec import Codec, Ctx
from ._events import Chat, Closing, Message, Nick, Quit, Reply, Who

PROMPT = "Digite seu nome de usuário: "
COMMANDS = "Comandos: /private usuario mensagem | /online\n"
_USAGE = "Uso correto: /private usuario mensagem"
_NAME = Ctx("name")
_ALL = Ctx("all")
_BAD_TEXT = Ctx("bad-text")


class SlashChat(Codec):
    name: ClassVar[str] = "slashchat"

    def __init__(self, *, max_line: int = 4096, max_unterminated: int = 8192) -> None:
        super().__init__(max_line=max_line, max_unterminated=max_unterminated)
        self.user = ""
        self._asked = False  # a name is on its way to the core

    def message(self, text: str) -> None:
        if not self._asked:
            self._asked = True
            self.command(lambda: Nick(nick=text), Ctx("nick", text), _NAME)
            return
        word, _, rest = text.partition(" ")
        if word == "/private":
            target, _, body = rest.strip().partition(" ")
            if not target or not body.strip():
                self.error(702, Ctx("usage"))
                return
            who = Ctx("private", target)
            self.command(lambda: Chat(target=target, text=body.strip()), who, who)
        elif text == "/online":
            self.command(Who, _ALL, _ALL)
        elif text == "/quit":
            self.done = True
            self.command(Quit, _ALL, _ALL)
        else:
            self.command(lambda: Chat(target="*", text=text), _ALL, _BAD_TEXT)

    def render_greeting(self) -> str:
        return PROMPT

    def render_closing(self, closing: Closing) -> str:
        return f"[Servidor] Conexão encerrada pelo servidor ({closing.reason})."

    def render_reply(self, reply: Reply, ctx: Ctx) -> str:
        code = reply.code
        if code == 218:
            self.user = reply.text
            return f"[Servidor] {self.user} entrou no chat.{COMMANDS}"
        if ctx.kind in ("name", "nick"):
            # Refused: ask again, as the prompt did the first time.
            self._asked = False
            if code in (703, 705):
                why = f"O nome '{ctx.arg}' já está em uso."
            elif code == 702:
                why = "Nome inválido: use de 1 a 32 letras, dígitos, _, - ou ."
            else:
                why = "Não foi possível entrar; tente de novo."
            return f"[Servidor] {why} {PROMPT}"
        if code in (215, 700):
            # Sent (the original tells the sender nothing), or a line that
            # raced a refused name: dropped, as before the name was taken.
            return ""
        if code == 217:
            return f"[Servidor] {self.user} saiu do chat."
        if code == 220:
            return f"Online: {', '.join(reply.names)}"
        if ctx.kind == "private":
            return f"[Servidor] Usuário '{ctx.arg}' não encontrado."
        if ctx.kind == "usage":
            return _USAGE
        if code == 707:
            return (
                f"[Servidor] Mensagem longa demais (máximo {self.max_line - 1} bytes)."
            )
        if code == 708:
            return "[Servidor] Mensagem descartada: não é UTF-8 válido."
        if code == 702:
            return "[Servidor] Mensagem inválida (caracteres de controle)."
        return "[Servidor] Erro interno; tente de novo."

    def message_line(self, msg: Message) -> str:
        if msg.address == "@":
            return f"[Privado de {msg.sender}] {msg.text}"
        if msg.address == "*":
            return f"{msg.sender}: {msg.text}"
        return f"{msg.sender} ({msg.address}): {msg.text}"

    def online_line(self, user: str) -> str:
        return f"[Servidor] {user} entrou no chat."

    def offline_line(self, user: str) -> str:
        return f"[Servidor] {user} saiu do chat."
