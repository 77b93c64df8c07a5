"""The dialect codecs without sockets: a ServerCore on a virtual clock, raw
bytes in, every session's bytes out (docs/dialects.md)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from server_harness import FAST, WALL, Clock

from libbatchat import Closing, Limits, LocalProtocolError, Message, Reply, ServerPing
from libbatchat._codec import PATIENCE, Codec, Ctx, deliver, incomplete_tail
from libbatchat._dialect_batchat1 import BatChat1
from libbatchat._dialect_chatsocket import ChatSocket
from libbatchat._dialect_minichat import MiniChat
from libbatchat._dialect_slashchat import SlashChat
from libbatchat._dialects import codec_class, names
from libbatchat._server import Output, ServerCore, Session
from libbatchat.adapters._common import Listen

PROMPT = "Digite seu nome de usuário: ".encode()
T = datetime(2026, 1, 1, tzinfo=UTC)


class Wire:
    """One session's bytes, as a list of writes."""

    def __init__(self, net: Net, session: Session) -> None:
        self.net, self.session = net, session
        self.writes: list[bytes] = []
        self.closed = False

    def send(self, data: bytes) -> None:
        self.net.apply(self.net.core.receive(self.session, data))

    def take(self) -> list[bytes]:
        got, self.writes = self.writes, []
        return got


class Net:
    def __init__(self, limits: Limits = FAST, **kwargs: object) -> None:
        self.clock = Clock()
        self.core = ServerCore(
            limits=limits,
            clock=self.clock,
            wall=lambda: WALL,
            **kwargs,  # type: ignore[arg-type]
        )
        self.wires: dict[Session, Wire] = {}

    def connect(self, dialect: str, peer: str = "10.0.0.1:1000") -> Wire:
        session, out = self.core.connect(peer, dialect)
        wire = self.wires[session] = Wire(self, session)
        self.apply(out)
        return wire

    def apply(self, out: Output) -> None:
        for session, data in out.sends:
            self.wires[session].writes.append(data)
        for session in out.closes:
            self.wires[session].closed = True
        for job in out.jobs:
            self.apply(self.core.finish(job, job.run()))

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.apply(self.core.tick())


def minichat(net: Net, nick: bytes) -> Wire:
    wire = net.connect("minichat")
    wire.send(nick)
    assert wire.take()[0].endswith(b"SYSTEM: " + nick + b" entrou no chat.")
    return wire


def test_names_and_listen_specs() -> None:
    assert names() == ["canonical", "batchat1", "slashchat", "minichat", "chatsocket"]
    assert codec_class("canonical") is None
    with pytest.raises(ValueError, match="known: canonical, batchat1"):
        codec_class("irc")
    spec = Listen.parse("minichat@[::1]:50001")
    assert (spec.dialect, spec.host, spec.port, str(spec)) == (
        "minichat",
        "::1",
        50001,
        "minichat@[::1]:50001",
    )
    assert str(Listen.parse("batchat1@127.0.0.1:0")) == "batchat1@127.0.0.1:0"
    for bad in ("minichat", "minichat@host", "@h:1", "minichat@:1", "x@h:1"):
        with pytest.raises(ValueError):
            Listen.parse(bad)
    with pytest.raises(ValueError, match="out of range"):
        Listen("minichat", "h", 70000)


def test_incomplete_tail() -> None:
    assert not incomplete_tail(b"")
    assert not incomplete_tail(b"abc")
    assert incomplete_tail(b"a\xc3")
    assert not incomplete_tail("á".encode())
    assert incomplete_tail("€".encode()[:2])
    assert incomplete_tail("😀".encode()[:3])
    assert not incomplete_tail("😀".encode())
    # Four continuation bytes with no lead: broken, but not a tail to hold.
    assert not incomplete_tail(b"\x80\x80\x80\x80")
    assert not incomplete_tail(b"\xff")


def test_framing_limits_and_eof() -> None:
    net = Net(Limits(max_line=16, max_unterminated=32, scrypt_n=16))
    ana = minichat(net, b"ana")
    ana.send(b"x" * 20)
    assert ana.take() == [b"ERR mensagem_longa"]
    ana.send(b"ok\r\n   \n")
    assert ana.take() == [b"FROM ana [all]: ok"]
    ana.send(b"\xff")
    assert ana.take() == [b"ERR utf8_invalido"]
    conn = ana.session.connection
    assert isinstance(conn, Codec)
    # Reads that always end inside a 'character' cannot be held for ever.
    ana.send(b"\xe2")
    ana.send(b"\x82" * 40 + b"\xe2")
    assert ana.take() == [
        "SYSTEM: conexão encerrada pelo servidor (line-too-long).".encode()
    ]
    assert ana.closed
    bob = minichat(net, b"bob")
    bob.send(b"")
    assert bob.closed
    conn = bob.session.connection
    assert isinstance(conn, Codec)
    with pytest.raises(LocalProtocolError):
        conn.receive_data(b"more")


def test_a_held_tail_over_the_limit_is_fatal() -> None:
    codec = MiniChat(max_line=4, max_unterminated=4)
    codec._held = bytearray(b"abcd")
    with pytest.raises(Exception, match="broken character") as caught:
        codec.next_event()
    assert getattr(caught.value, "fatal", False)


def test_base_codec_hooks() -> None:
    codec = Codec()
    with pytest.raises(NotImplementedError):
        codec.message("x")
    with pytest.raises(NotImplementedError):
        codec.render_reply(Reply(code=215), Ctx("x"))
    with pytest.raises(NotImplementedError):
        codec.message_line(Message(sender="a", address="@", time=T, text="t"))
    assert codec.send(ServerPing(token="1")) == b""
    assert codec.render(ServerPing(token="1")) == b""
    assert codec.give_up() == b""
    assert codec.render_closing(Closing(reason="shutdown", text="x")) == ""
    mini = MiniChat()
    from libbatchat import Joined, Left

    assert mini.render(Joined(room="#r", user="a")) == b""
    assert mini.render(Left(room="#r", user="a")) == b""
    mini.done = True
    mini.receive_data(b"dropped after QUIT")
    assert mini.buffered == 0
    assert mini.send(Message(sender="a", address="#r", time=T, text="t")) == (
        b"FROM a [#r]: t"
    )


def test_deliver_spells_once_per_format() -> None:
    net = Net()
    canon_session, _ = net.core.connect("10.0.0.9:1")
    bat = net.connect("batchat1")
    sends: list[tuple[Session, bytes]] = []
    push = Message(sender="ana", address="@", time=T, text="oi")
    deliver(sends, push, [canon_session, bat.session, bat.session])
    assert sends[0][1].startswith(b"FROM ana @ ")
    assert sends[1][1] == b"ana: oi" and sends[1][1] is sends[2][1]
    sends.clear()
    from libbatchat import Online

    deliver(sends, Online(user="ana"), [bat.session])
    assert sends == []


def test_batchat1_codes() -> None:
    net = Net()
    a = net.connect("batchat1")
    assert a.take() == []  # nothing on connect
    for data, want in (
        (b"NOVO ana", b"ERRO-702"),
        (b"NOVO ana! 1", b"ERRO-702"),
        (b"NOVO ana 1", b"PASS-213"),
        (b"ENTRAR ana 2", b"ERRO-704"),
        (b"ENTRAR ana 1", b"PASS-214"),
        (b"ENTRAR ana 1", b"ERRO-702"),  # already logged in: 701
        (b"lista", b"ana"),
        (b"CHAT ana", b"ERRO-702"),
        (b"CHAT ana \x01", b"ERRO-702"),
        (b"CHAT ana oi", b"ana: oiCHAT-215"),
        (b"CHAT * todos", b"CHAT-215"),
        (b"XYZ", b"ERRO-999"),
    ):
        a.send(data)
        assert b"".join(a.take()) == want, data
    b = net.connect("batchat1")
    b.send(b"ENTRAR ana 1")
    assert b.take() == [b"ERRO-704"]  # online elsewhere: 705
    for _ in range(3):
        b.send(b"ENTRAR ana x")
    b.take()
    b.send(b"ENTRAR ana x")
    assert b.take() == [b"ERRO-704"]  # throttled: 709
    conn = a.session.connection
    assert isinstance(conn, BatChat1)
    assert conn.render_reply(Reply(code=710), Ctx("args")) == "ERRO-702"
    room = Message(sender="rui", address="#sala", time=T, text="oi")
    assert conn.render(room) == b"rui (#sala): oi"
    a.send(b"SAIR")
    assert a.take() == [] and a.closed


def test_slashchat_every_answer() -> None:
    net = Net()
    ana = net.connect("slashchat")
    assert ana.take() == [PROMPT]
    ana.send(b"ana\n")
    ana.take()
    ana.send(b"/private bob oi\n")
    assert ana.take() == ["[Servidor] Usuário 'bob' não encontrado.".encode()]
    ana.send(b"/private bob! oi\n")
    assert ana.take() == ["[Servidor] Usuário 'bob!' não encontrado.".encode()]
    ana.send(b"/private\n")
    assert ana.take() == [b"Uso correto: /private usuario mensagem"]
    ana.send(b"tab\tok \x01\n")
    assert ana.take() == [
        "[Servidor] Mensagem inválida (caracteres de controle).".encode()
    ]
    ana.send(b"\xff\n")
    assert ana.take() == [
        "[Servidor] Mensagem descartada: não é UTF-8 válido.".encode()
    ]
    ana.send(b"y" * 5000 + b"\n")
    assert ana.take() == [
        "[Servidor] Mensagem longa demais (máximo 4095 bytes).".encode()
    ]
    conn = ana.session.connection
    assert isinstance(conn, SlashChat)
    assert conn.render_reply(Reply(code=710), Ctx("all")) == (
        "[Servidor] Erro interno; tente de novo."
    )
    assert conn.render_reply(Reply(code=710), Ctx("nick", "x")).startswith(
        "[Servidor] Não foi possível entrar; tente de novo."
    )
    room = Message(sender="rui", address="#sala", time=T, text="oi")
    assert conn.render(room) == b"rui (#sala): oi"
    assert conn.send(Closing(reason="shutdown", text="x")) == (
        "[Servidor] Conexão encerrada pelo servidor (shutdown).".encode()
    )


def test_slashchat_lines_racing_a_refused_name_are_dropped() -> None:
    net = Net()
    first = net.connect("slashchat")
    first.send(b"ana\n")
    late = net.connect("slashchat")
    late.take()
    late.send(b"ana\noi\n")
    assert late.take() == ["[Servidor] O nome 'ana' já está em uso. ".encode() + PROMPT]


def test_minichat_every_answer() -> None:
    net = Net()
    bad = net.connect("minichat")
    bad.send(b"dois nomes")
    assert bad.take() == [b"ERR apelido_invalido"] and bad.closed
    ana = minichat(net, b"ana")
    ana.send(b"@bob \x01")
    assert ana.take() == [b"ERR user_not_found"]
    ana.send(b"oi \x01")
    assert ana.take() == [b"ERR mensagem_invalida"]
    conn = ana.session.connection
    assert isinstance(conn, MiniChat)
    assert conn.render_reply(Reply(code=710), Ctx("plain")) == "ERR erro_interno"
    assert conn.send(Closing(reason="shutdown", text="x")) == (
        "SYSTEM: conexão encerrada pelo servidor (shutdown).".encode()
    )
    # A line that raced a refused nickname is dropped with the session.
    late = net.connect("minichat")
    late.send(b"ana\noi")
    assert late.take() == [b"ERR apelido_em_uso"] and late.closed


def test_chatsocket_coalesced_room_and_name_is_refused_after_a_pause() -> None:
    net = Net()
    joined = net.connect("chatsocket")
    joined.send(b"geral")
    joined.send(b"ana")
    assert joined.take() == [b"SALA", b"ana Entrou na sala\n"]
    both = net.connect("chatsocket")
    both.send(b"geralbia")  # b'geral' and b'bia' joined by TCP: no name follows
    assert both.take() == [b"SALA"]
    net.advance(PATIENCE - 0.5)
    assert both.take() == [] and not both.closed
    net.advance(1.0)
    assert both.take() == [
        "A sala e o nome chegaram juntos e não podem ser separados; "
        "entre na sala de novo.\n".encode()
    ]
    assert both.closed
    assert list(net.core._rooms) == ["#geral"]
    # A room typed behind an LF waits for its name as long as a login may.
    typed = net.connect("chatsocket")
    typed.send(b"outra\n")
    net.advance(PATIENCE * 5)
    typed.send(b"cris\n")
    assert typed.take() == [b"SALA", b"cris Entrou na sala\n"]


def test_chatsocket_every_answer() -> None:
    net = Net()
    ana = net.connect("chatsocket")
    ana.send(b"geral\nana\n")
    ana.take()
    ana.send(b"oi \x01")
    assert ana.take() == ["Mensagem inválida (caracteres de controle).\n".encode()]
    ana.send(b"\xff")
    assert ana.take() == ["Mensagem descartada: não é UTF-8 válido.\n".encode()]
    ana.send(b"z" * 5000)
    assert ana.take() == ["Mensagem longa demais (máximo 4095 bytes).\n".encode()]
    conn = ana.session.connection
    assert isinstance(conn, ChatSocket)
    assert conn.render_reply(Reply(code=710), Ctx("plain")) == (
        "Erro interno; tente de novo.\n"
    )
    assert conn.render_reply(Reply(code=700), Ctx("join")) == ""
    for address, want in (("@", b"[privado] rui: oi\n"), ("*", b"[todos] rui: oi\n")):
        push = Message(sender="rui", address=address, time=T, text="oi")
        assert conn.render(push) == want
    bad = net.connect("chatsocket")
    bad.send(b"geral\nnome ruim\n")
    assert bad.take() == [b"SALA", "O nome 'nome ruim' é inválido.\n".encode()]
    assert bad.closed
    assert conn.send(Closing(reason="shutdown", text="x")) == (
        "Conexão encerrada pelo servidor (shutdown).\n".encode()
    )


def test_dialect_sessions_are_never_pinged_but_must_log_in() -> None:
    net = Net()
    ana = minichat(net, b"ana")
    idle = net.connect("batchat1")
    net.advance(FAST.ping_timeout * 3)
    assert not ana.closed and ana.take() == []
    assert idle.closed and idle.take() == []  # the login timeout, silently


def test_limits_apply_to_dialects() -> None:
    net = Net(Limits(max_per_ip=1, exempt_loopback=False, scrypt_n=16))
    first = net.connect("minichat", "10.1.1.1:1")
    second = net.connect("minichat", "10.1.1.1:2")
    assert second.closed
    assert second.take() == [
        "SYSTEM: conexão encerrada pelo servidor (too-many-connections).".encode()
    ]
    assert not first.closed
    net = Net(Limits(lines_before_login=2, scrypt_n=16))
    bat = net.connect("batchat1")
    bat.send(b"LISTA\nLISTA\nLISTA\n")
    assert bat.take() == [b"ERRO-700", b"ERRO-700"] and bat.closed
    # A slow reader is closed like any other, told in its own words.
    slow = minichat(net, b"lenta")
    net.apply(net.core.send_queue(slow.session, FAST.send_queue_hard))
    assert slow.closed
    assert slow.take() == [
        "SYSTEM: conexão encerrada pelo servidor (send-queue).".encode()
    ]


def test_flood_control_delays_dialect_messages() -> None:
    net = Net(Limits(burst=2, rate=1.0, scrypt_n=16))
    ana = net.connect("minichat")
    ana.send(b"ana")
    ana.take()
    ana.send(b"um\ndois\ntres\n")
    assert ana.take() == [b"FROM ana [all]: um"]
    net.advance(1.0)
    assert ana.take() == [b"FROM ana [all]: dois"]
    net.advance(1.0)
    assert ana.take() == [b"FROM ana [all]: tres"]
