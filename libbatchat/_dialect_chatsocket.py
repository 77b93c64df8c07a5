"""``chatsocket``: the Tk room chat (seed 004).

The server greets with ``SALA``. A first message of ``#LISTAR_SALAS#`` (once,
twice, or twice run together) asks for the rooms, ``geral|outra``; anything
else names a room (our ``#room``), and the next message the user. Then every
message goes to the room, the sender included, as ``ana: text\\n``.
"""

from __future__ import annotations

from typing import ClassVar

from ._codec import Codec, Ctx
from ._events import Chat, Closing, Join, Message, Nick, Ping, Reply, Rooms
from ._names import check
from ._table import Kind

GREETING = "SALA"
LIST = "#LISTAR_SALAS#"
# An empty room list still gets an answer: the client's read would wait for
# its timeout otherwise. It splits on '|' and drops empty names.
EMPTY_LIST = "|"
_PLAIN = Ctx("plain")


class ChatSocket(Codec):
    name: ClassVar[str] = "chatsocket"
    # Its room list is asked for on a connection that never logs in.
    open_verbs: ClassVar[frozenset[str]] = frozenset({"SALAS"})

    def __init__(self, *, max_line: int = 4096, max_unterminated: int = 8192) -> None:
        super().__init__(max_line=max_line, max_unterminated=max_unterminated)
        self.room = ""  # as the core displays it, '#' included
        self.user = ""
        self._step = "first"  # first, listed, name, chat

    def message(self, text: str) -> None:
        if self._step == "first":
            self._first(text)
        elif self._step == "listed":
            # The client's second list request: the answer is out; hang up.
            self.done = True
            self._step = "chat"
            self.command(Ping, Ctx("hang-up"), _PLAIN)
        elif self._step == "name":
            self._step = "chat"
            self.waiting = False
            self.command(lambda: Nick(nick=text), Ctx("nick", text), Ctx("nick", text))
            self.command(lambda: Join(room=self.room), Ctx("join"), Ctx("join"))
        else:
            said = Ctx("say", text)
            self.command(lambda: Chat(target=self.room, text=text), said, _PLAIN)

    def _first(self, text: str) -> None:
        if not text.replace(LIST, "").strip():
            times = text.count(LIST)
            self._step = "listed" if times == 1 else "chat"
            self.done = times > 1
            self.command(Rooms, Ctx("list", str(times)), _PLAIN)
            return
        try:
            self.room = str(check(Kind.ROOM, "#" + text))
        except ValueError:
            self.done = True
            self.error(702, Ctx("room", text))
            return
        self._step = "name"
        # The client sends its room and name in two sends with nothing
        # between them; when TCP joins them the read holds both, run
        # together, and no name follows. Only a line-framed room (a person
        # typing) may wait for its name as long as the login timeout.
        self.waiting = not self.terminated

    def render_greeting(self) -> str:
        return GREETING

    def render_give_up(self) -> str:
        return (
            "A sala e o nome chegaram juntos e não podem ser separados; "
            "entre na sala de novo.\n"
        )

    def render_closing(self, closing: Closing) -> str:
        return f"Conexão encerrada pelo servidor ({closing.reason}).\n"

    def render_reply(self, reply: Reply, ctx: Ctx) -> str:
        code, kind = reply.code, ctx.kind
        if kind == "list":
            rooms = "|".join(room[1:] for room, _ in reply.rooms) or EMPTY_LIST
            return self.hang_up(rooms) if ctx.arg != "1" else rooms
        if kind == "hang-up":
            return self.hang_up("")
        if kind == "room":
            return self.hang_up(
                f"Sala inválida: {ctx.arg!r} "
                "(use de 1 a 32 letras, dígitos, _, - ou .)\n"
            )
        if kind == "nick":
            if code == 218:
                self.user = reply.text
                return ""
            why = "já está em uso" if code in (703, 705) else "é inválido"
            return self.hang_up(f"O nome {ctx.arg!r} {why}.\n")
        if kind == "join":
            # 700 follows a refused name, whose answer already hung up.
            return self.joined_line(self.room, self.user) if code == 222 else ""
        if code == 215:
            return f"{self.user}: {ctx.arg}\n"
        if code == 707:
            return f"Mensagem longa demais (máximo {self.max_line - 1} bytes).\n"
        if code == 708:
            return "Mensagem descartada: não é UTF-8 válido.\n"
        if code == 702:
            return "Mensagem inválida (caracteres de controle).\n"
        return "Erro interno; tente de novo.\n"

    def message_line(self, msg: Message) -> str:
        if msg.address == "@":
            return f"[privado] {msg.sender}: {msg.text}\n"
        if msg.address == "*":
            return f"[todos] {msg.sender}: {msg.text}\n"
        return f"{msg.sender}: {msg.text}\n"

    def joined_line(self, room: str, user: str) -> str:
        return f"{user} Entrou na sala\n"

    def left_line(self, room: str, user: str) -> str:
        return f"{user}: Saiu da sala\n"
