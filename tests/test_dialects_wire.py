"""The research page's byte sequences (shared/research/classroom-wire.md),
played against our real dialect listeners, every reply checked byte for byte,
and users on each listener reaching users on the others."""

from __future__ import annotations

import socket
import struct

from adapters_harness import barrier
from dialect_harness import Dialects, dialects

from libbatchat import Chat, Join, Message, Nick, Offline, Online, Register

__all__ = ["dialects"]  # the fixture, imported so pytest finds it

WELCOME = "New User. Você está conectado!".encode()
PROMPT = "Digite seu nome de usuário: ".encode()
COMMANDS = b"Comandos: /private usuario mensagem | /online\n"


def test_batchat1_session_from_the_research_page(dialects: Dialects) -> None:
    a, b = dialects.wire("batchat1"), dialects.wire("batchat1")
    a.send(b"NOVO ana 123")
    a.expect(b"PASS-213")
    a.send(b"ENTRAR ana 123")
    a.expect(b"PASS-214")
    b.send(b"NOVO bruno abc")
    b.expect(b"PASS-213")
    b.send(b"ENTRAR bruno abc")
    b.expect(b"PASS-214")
    a.send(b"LISTA")
    a.expect(b"ana, bruno")
    a.send(b"CHAT bruno oi tudo bem?")
    b.expect(b"ana: oi tudo bem?")
    a.expect(b"CHAT-215")
    a.send(b"CHAT carlos ola")
    a.expect(b"CHAT-216")
    a.send(b"CHAT bruno")
    a.expect(b"ERRO-702")
    # Two lines in one read are two commands here, not one bad one.
    a.send(b"LISTA\nLISTA\n")
    a.expect(b"ana, brunoana, bruno")
    a.send(b"SAIR")
    a.expect_eof()


def test_batchat1_original_client_upper_cases_everything(dialects: Dialects) -> None:
    luan, bob = dialects.wire("batchat1"), dialects.wire("batchat1")
    for wire, name in ((luan, b"LUAN"), (bob, b"BOB")):
        wire.send(b"NOVO " + name + b" 1")
        wire.expect(b"PASS-213")
        wire.send(b"ENTRAR " + name + b" 1")
        wire.expect(b"PASS-214")
    luan.send(b"CHAT BOB OLA BOB")
    bob.expect(b"LUAN: OLA BOB")
    luan.expect(b"CHAT-215")
    bob.send(b"SAIR")
    bob.expect_eof()


def test_batchat1_never_falls_into_the_originals_bugs(dialects: Dialects) -> None:
    a = dialects.wire("batchat1")
    # Before login: LISTA answers (no hang), CHAT is refused (no ': msg').
    a.send(b"LISTA")
    a.expect(b"ERRO-700")
    a.send(b"CHAT ninguem oi")
    a.expect(b"ERRO-700")
    a.send(b"NOVO ana")
    a.expect(b"ERRO-702")
    a.send(b"BOGUS")
    a.expect(b"ERRO-999")
    a.send(b"ENTRAR ana errada")
    a.expect(b"ERRO-704")
    # SAIR before login closes cleanly (the original's handler crashed).
    a.send(b"SAIR")
    a.expect_eof()
    c = dialects.wire("batchat1")
    c.send(b"NOVO ana 123")
    c.expect(b"PASS-213")
    c.send(b"NOVO ana 456")
    c.expect(b"ERRO-703")
    c.send(b"ENTRAR ana 123")
    c.expect(b"PASS-214")
    # A second login of an online account fails instead of stealing it.
    d = dialects.wire("batchat1")
    d.send(b"ENTRAR ana 123")
    d.expect(b"ERRO-704")


def test_batchat1_passwords_are_hashed(dialects: Dialects) -> None:
    a = dialects.wire("batchat1")
    a.send(b"NOVO ana segredo")
    a.expect(b"PASS-213")
    found = dialects.running.core.accounts.get("ana")
    assert found is not None
    assert b"segredo" not in repr(found).encode()


def test_slashchat_session_from_the_research_page(dialects: Dialects) -> None:
    ana, bruno = dialects.wire("slashchat"), dialects.wire("slashchat")
    ana.expect(PROMPT)
    ana.send(b"ana\n")
    ana.expect(b"[Servidor] ana entrou no chat." + COMMANDS)
    bruno.expect(PROMPT)
    bruno.send(b"bruno\n")
    bruno.expect(b"[Servidor] bruno entrou no chat." + COMMANDS)
    ana.expect(b"[Servidor] bruno entrou no chat.")
    ana.send(b"oi pessoal\n")
    bruno.expect(b"ana: oi pessoal")
    ana.send(b"/private bruno segredo aqui\n")
    bruno.expect(b"[Privado de ana] segredo aqui")
    ana.send(b"/online\n")
    # The sender of a broadcast or a private message gets nothing back, so
    # the list is the next thing it reads.
    ana.expect(b"Online: ana, bruno")
    ana.send(b"/private carlos oi\n")
    ana.expect("[Servidor] Usuário 'carlos' não encontrado.".encode())
    ana.send(b"/private bruno\n")
    ana.expect(b"Uso correto: /private usuario mensagem")
    bruno.send(b"/quit\n")
    bruno.expect(b"[Servidor] bruno saiu do chat.")
    bruno.expect_eof()
    ana.expect(b"[Servidor] bruno saiu do chat.")


def test_slashchat_refuses_a_taken_or_bad_name_and_asks_again(
    dialects: Dialects,
) -> None:
    ana, other = dialects.wire("slashchat"), dialects.wire("slashchat")
    ana.expect(PROMPT)
    ana.send(b"ana\n")
    ana.expect(b"[Servidor] ana entrou no chat." + COMMANDS)
    other.expect(PROMPT)
    other.send(b"ANA\n")
    other.expect("[Servidor] O nome 'ANA' já está em uso. ".encode() + PROMPT)
    other.send(b"dois nomes\n")
    other.expect(
        "[Servidor] Nome inválido: use de 1 a 32 letras, dígitos, _, - ou . ".encode()
        + PROMPT
    )
    other.send(b"carla\n")
    other.expect(b"[Servidor] carla entrou no chat." + COMMANDS)
    ana.expect(b"[Servidor] carla entrou no chat.")


def test_minichat_session_from_the_research_page(dialects: Dialects) -> None:
    ana, bruno = dialects.wire("minichat"), dialects.wire("minichat")
    ana.send(b"ana")
    ana.expect(WELCOME + b"SYSTEM: ana entrou no chat.")
    bruno.send(b"bruno")
    bruno.expect(WELCOME + b"SYSTEM: bruno entrou no chat.")
    ana.expect(b"SYSTEM: bruno entrou no chat.")
    ana.send("Olá".encode())
    ana.expect("FROM ana [all]: Olá".encode())
    bruno.expect("FROM ana [all]: Olá".encode())
    ana.send(b"@bruno oi")
    ana.expect(b"SYSTEM: DM para bruno enviada.")
    bruno.expect(b"FROM ana [dm]: oi")
    ana.send(b"@carlos tudo bem?")
    ana.expect(b"ERR user_not_found")
    ana.send(b"@bruno")
    ana.expect("SYSTEM: Formato de DM inválido. Use: @apelido <mensagem>".encode())
    ana.send(b"who")
    ana.expect("SYSTEM: Usuários conectados: ana, bruno".encode())
    carlos = dialects.wire("minichat")
    carlos.send(b"ana")
    carlos.expect(b"ERR apelido_em_uso")
    carlos.expect_eof()
    # A nickname is stripped: the original kept b'dave\n' as 'dave\n'.
    dave = dialects.wire("minichat")
    dave.send(b"dave\n")
    dave.expect(WELCOME + b"SYSTEM: dave entrou no chat.")
    ana.expect(b"SYSTEM: dave entrou no chat.")
    dave.send(b"QUIT")
    dave.expect_eof()
    ana.expect(b"SYSTEM: dave saiu do chat.")
    # 'quit' in lower case is chat, as in the original server.
    bruno.expect(b"SYSTEM: dave entrou no chat.SYSTEM: dave saiu do chat.")
    bruno.send(b"quit")
    bruno.expect(b"FROM bruno [all]: quit")
    ana.expect(b"FROM bruno [all]: quit")


def test_minichat_split_character_is_held_not_fatal(dialects: Dialects) -> None:
    ana = dialects.wire("minichat")
    ana.send(b"ana")
    ana.expect(WELCOME + b"SYSTEM: ana entrou no chat.")
    # 'á' is b'\xc3\xa1': a read that ends between the two bytes waits for
    # the rest rather than ending the message (or the user).
    ana.send(b"ol\xc3")
    ana.send(b"\xa1")
    ana.expect("FROM ana [all]: olá".encode())
    ana.send(b"\xff\xfe")
    ana.expect(b"ERR utf8_invalido")
    ana.send(b"who")
    ana.expect("SYSTEM: Usuários conectados: ana".encode())


def test_chatsocket_session_from_the_research_page(dialects: Dialects) -> None:
    ana, bruno = dialects.wire("chatsocket"), dialects.wire("chatsocket")
    ana.expect(b"SALA")
    # The Tk client sends b'geral' and b'ana' as two sends; TCP may join
    # them, which test_dialect_codecs plays with a virtual clock. Here the
    # room waits for its name behind an LF, as when a person types them.
    ana.send(b"geral\n")
    ana.send(b"ana")
    ana.expect(b"ana Entrou na sala\n")
    bruno.expect(b"SALA")
    bruno.send(b"geral\nbruno\n")  # room and name in one read, newline-framed
    bruno.expect(b"bruno Entrou na sala\n")
    ana.expect(b"bruno Entrou na sala\n")
    ana.send("Olá a todos".encode())
    ana.expect("ana: Olá a todos\n".encode())
    bruno.expect("ana: Olá a todos\n".encode())
    # The forged notice is two lines of text, each shown as bruno's.
    bruno.send(b"nome: falso\nbruno Entrou na sala")
    for wire in (ana, bruno):
        wire.expect(b"bruno: nome: falso\nbruno: bruno Entrou na sala\n")
    bruno.close()
    ana.expect(b"bruno: Saiu da sala\n")


def test_chatsocket_room_list_once_twice_or_coalesced(dialects: Dialects) -> None:
    empty = dialects.wire("chatsocket")
    empty.expect(b"SALA")
    empty.send(b"#LISTAR_SALAS##LISTAR_SALAS#")
    # No rooms still gets an answer (the client would wait for its timeout),
    # and the merged request never becomes a room.
    empty.expect(b"|")
    empty.expect_eof()
    # The connect-and-close probe creates no room either.
    probe = dialects.wire("chatsocket")
    probe.expect(b"SALA")
    probe.close()
    members = []
    for room, name in ((b"geral", b"ana"), (b"outra", b"bia")):
        member = dialects.wire("chatsocket")
        member.expect(b"SALA")
        member.send(room + b"\n" + name + b"\n")
        member.expect(name + b" Entrou na sala\n")
        members.append(member)
    twice = dialects.wire("chatsocket")
    twice.expect(b"SALA")
    twice.send(b"#LISTAR_SALAS#")
    twice.expect(b"geral|outra")
    twice.send(b"#LISTAR_SALAS#")
    twice.expect_eof()
    lines = dialects.wire("chatsocket")
    lines.expect(b"SALA")
    lines.send(b"#LISTAR_SALAS#\n#LISTAR_SALAS#\n")
    lines.expect(b"geral|outra")
    lines.expect_eof()


def test_chatsocket_bad_room_or_taken_name(dialects: Dialects) -> None:
    bad = dialects.wire("chatsocket")
    bad.expect(b"SALA")
    bad.send(b"sala com espacos")
    bad.expect(
        "Sala inválida: 'sala com espacos' "
        "(use de 1 a 32 letras, dígitos, _, - ou .)\n".encode()
    )
    bad.expect_eof()
    ana = dialects.wire("chatsocket")
    ana.expect(b"SALA")
    ana.send(b"geral\nana\n")
    ana.expect(b"ana Entrou na sala\n")
    twin = dialects.wire("chatsocket")
    twin.expect(b"SALA")
    twin.send(b"geral\nAna\n")
    twin.expect("O nome 'Ana' já está em uso.\n".encode())
    twin.expect_eof()
    ana.send(b"ainda aqui")
    ana.expect(b"ana: ainda aqui\n")


def test_every_listener_reaches_every_other(dialects: Dialects) -> None:
    canon = dialects.running.connect()
    assert canon.request(Nick(nick="rita")).code == 218
    assert canon.request(Join(room="#geral")).code == 222
    mini = dialects.wire("minichat")
    mini.send(b"mia")
    mini.expect(WELCOME + b"SYSTEM: mia entrou no chat.")
    assert canon.push() == Online(user="mia")
    # A minichat broadcast reaches the canonical client as CHAT *.
    mini.send(b"oi todos")
    mini.expect(b"FROM mia [all]: oi todos")
    got = canon.push()
    assert isinstance(got, Message)
    assert (got.sender, got.address, got.text) == ("mia", "*", "oi todos")
    # A Chat Socket room is our #room.
    room = dialects.wire("chatsocket")
    room.expect(b"SALA")
    room.send(b"geral\ncris\n")
    room.expect(b"cris Entrou na sala\n")
    assert canon.push() == Online(user="cris")
    joined = canon.push()
    assert joined is not None and joined.WORD == "JOINED"
    assert canon.request(Chat(target="#geral", text="ola sala")).code == 215
    room.expect(b"rita: ola sala\n")
    room.send(b"oi rita")
    room.expect(b"cris: oi rita\n")
    got = canon.push()
    assert isinstance(got, Message)
    assert (got.sender, got.address, got.text) == ("cris", "#geral", "oi rita")
    # A BatChat DM reaches a REPL user, and the answer comes back.
    bat = dialects.wire("batchat1")
    bat.send(b"NOVO beto 1")
    bat.expect(b"PASS-213")
    bat.send(b"ENTRAR beto 1")
    bat.expect(b"PASS-214")
    assert canon.push() == Online(user="beto")
    bat.send(b"CHAT rita oi rita")
    bat.expect(b"CHAT-215")
    got = canon.push()
    assert isinstance(got, Message)
    assert (got.sender, got.address, got.text) == ("beto", "@", "oi rita")
    assert canon.request(Chat(target="beto", text="oi beto")).code == 215
    bat.expect(b"rita: oi beto")
    # A slashchat user hears a canonical broadcast and answers in private.
    slash = dialects.wire("slashchat")
    slash.expect(PROMPT)
    slash.send(b"sara\n")
    slash.expect(b"[Servidor] sara entrou no chat." + COMMANDS)
    assert canon.push() == Online(user="sara")
    assert canon.request(Chat(target="*", text="bem-vindos")).code == 215
    slash.expect(b"rita: bem-vindos")
    mini.expect(b"SYSTEM: cris entrou no chat.SYSTEM: beto entrou no chat.")
    mini.expect(b"SYSTEM: sara entrou no chat.FROM rita [all]: bem-vindos")
    room.expect(b"[todos] rita: bem-vindos\n")
    bat.expect(b"rita (*): bem-vindos")
    slash.send(b"/private rita obrigada\n")
    got = canon.push()
    assert isinstance(got, Message)
    assert (got.sender, got.address, got.text) == ("sara", "@", "obrigada")
    mini.send(b"QUIT")
    mini.expect_eof()
    assert canon.push() == Offline(user="mia")
    barrier(canon)
    assert canon.pushes_now() == []


def test_register_from_canonical_then_log_in_from_batchat1(
    dialects: Dialects,
) -> None:
    canon = dialects.running.connect()
    assert canon.request(Register(user="lia", password="senha")).code == 213
    bat = dialects.wire("batchat1")
    bat.send(b"ENTRAR LIA senha")
    bat.expect(b"PASS-214")
    # The account is one: the guest nickname is taken for minichat too.
    mini = dialects.wire("minichat")
    mini.send(b"lia")
    mini.expect(b"ERR apelido_em_uso")
    mini.expect_eof()


def test_slashchat_reset_connection_leaves_no_ghost(dialects: Dialects) -> None:
    # The original recursed until RecursionError on a reset, kept the ghost
    # in /online and closed every later client right after its name.
    ana, ghost = dialects.wire("slashchat"), dialects.wire("slashchat")
    for wire, name in ((ana, b"ana"), (ghost, b"ghost")):
        wire.expect(PROMPT)
        wire.send(name + b"\n")
        wire.expect(b"[Servidor] " + name + b" entrou no chat." + COMMANDS)
    ana.expect(b"[Servidor] ghost entrou no chat.")
    ghost.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    ghost.close()
    ana.expect(b"[Servidor] ghost saiu do chat.")
    ana.send(b"/online\n")
    ana.expect(b"Online: ana")
    late = dialects.wire("slashchat")
    late.expect(PROMPT)
    late.send(b"bia\n")
    late.expect(b"[Servidor] bia entrou no chat." + COMMANDS)
    ana.expect(b"[Servidor] bia entrou no chat.")
