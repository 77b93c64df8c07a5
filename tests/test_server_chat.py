"""ServerCore: LISTA, SALAS, CHAT, JUNTAR, DEIXAR, PING, SAIR, drops and
bad lines."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest

from libbatchat import (
    Chat,
    Closing,
    Join,
    Joined,
    Left,
    Message,
    Nick,
    Offline,
    Part,
    Ping,
    Pong,
    Quit,
    Register,
    Reply,
    Rooms,
    Who,
)
from tests.server_harness import FAST, PW, WALL, Net

# -- LISTA and SALAS -----------------------------------------------------------


def test_who_sorted_case_insensitively() -> None:
    net = Net()
    b = net.user("bruno")
    net.user("Ana")
    net.user("carla")
    assert b.ask(Who()).text == "Ana bruno carla"
    assert b.ask(Who(room="#none")) == Reply(code=220, text="")


def test_who_room_and_rooms() -> None:
    net = Net()
    a, b, c = net.user("ana"), net.user("Bia"), net.user("caio")
    a.ask(Join(room="#Zeta"))
    b.ask(Join(room="#zeta"))
    c.ask(Join(room="#alpha"))
    b.ask(Join(room="#alpha"))
    assert a.ask(Who(room="#ZETA")).text == "ana Bia"
    assert a.ask(Rooms()).text == "#alpha=2 #Zeta=2"
    assert net.connect().ask(Nick(nick="g")).code == 218


def test_rooms_empty() -> None:
    net = Net()
    assert net.user("ana").ask(Rooms()) == Reply(code=221, text="")


# -- CHAT ----------------------------------------------------------------------


def test_direct_message() -> None:
    net = Net()
    a, b, c = net.user("ana"), net.user("bruno"), net.user("caio")
    assert a.ask(Chat(target="BRUNO", text="  oi, tudo bem? ")).code == 215
    (msg,) = b.pushes()
    assert msg == Message(
        sender="ana",
        address="@",
        time=msg.time,  # type: ignore[attr-defined]
        text="  oi, tudo bem? ",
    )
    assert b"FROM ana @ 2026-09-21T" in b.raw[-1]
    assert b.raw[-1].endswith(b".250Z   oi, tudo bem? \n")
    assert c.take() == []
    r = a.ask(Chat(target="carlos", text="hello"))
    assert r.code == 216
    assert "carlos" in r.text


def test_message_to_self() -> None:
    net = Net()
    a = net.user("ana")
    assert a.ask(Chat(target="ana", text="memo")).code == 215
    (msg,) = a.pushes()
    assert isinstance(msg, Message)
    assert msg.address == "@"


def test_broadcast_shares_one_bytes_object() -> None:
    net = Net()
    a, b, c = net.user("ana"), net.user("bruno"), net.user("caio")
    g = net.connect()  # not logged in: not addressed by '*'
    g.take()
    a.ask(Chat(target="*", text="hi all"))
    out = net.outputs[-1]
    lines = [data for s, data in out.sends if s is not a.session]
    assert len(lines) == 2
    assert lines[0] is lines[1]
    for other in (b, c):
        (msg,) = other.pushes()
        assert isinstance(msg, Message)
        assert (msg.sender, msg.address, msg.text) == ("ana", "*", "hi all")
    assert a.pushes() == []
    assert g.take() == []


def test_room_messages_stay_in_the_room() -> None:
    net = Net()
    a, b, c, d = (net.user(n) for n in ("ana", "bruno", "caio", "dora"))
    for x in (a, b, c):
        x.ask(Join(room="#Geral"))
    d.ask(Join(room="#outra"))
    for x in (a, b, c, d):
        x.take()
    assert a.ask(Chat(target="#geral", text="oi sala")).code == 215
    out = net.outputs[-1]
    lines = [data for s, data in out.sends if s is not a.session]
    assert len(lines) == 2
    assert lines[0] is lines[1]
    for x in (b, c):
        (msg,) = x.pushes()
        assert isinstance(msg, Message)
        assert msg.address == "#Geral"
    assert a.pushes() == []
    assert d.take() == []
    assert d.ask(Chat(target="#geral", text="intruso")).code == 216
    assert d.ask(Chat(target="#nowhere", text="x")).code == 216
    assert [x.take() for x in (a, b, c)] == [[], [], []]


def test_message_time_from_wall_clock() -> None:
    net = Net()
    a, b = net.user("ana"), net.user("bruno")
    a.ask(Chat(target="bruno", text="x"))
    (msg,) = b.pushes()
    assert isinstance(msg, Message)
    assert msg.time.timestamp() == WALL


# -- JUNTAR and DEIXAR ---------------------------------------------------------


def test_join_and_part_notices() -> None:
    net = Net()
    a, b, c = net.user("ana"), net.user("bruno"), net.user("caio")
    r = a.ask(Join(room="#Geral"))
    assert (r.code, r.text) == (222, "#Geral")
    r = b.ask(Join(room="#GERAL"))
    assert (r.code, r.text) == (222, "#Geral")
    assert a.pushes() == [Joined(room="#Geral", user="bruno")]
    # Joining again: the same reply, and no one is told.
    assert b.ask(Join(room="#geral")).code == 222
    assert a.pushes() == []
    assert c.take() == []
    r = a.ask(Part(room="#geral"))
    assert (r.code, r.text) == (223, "#Geral")
    assert b.pushes() == [Left(room="#Geral", user="ana")]
    assert a.ask(Part(room="#geral")).code == 706
    assert a.ask(Part(room="#nowhere")).code == 706
    b.ask(Part(room="#geral"))
    assert a.ask(Rooms()).text == ""
    # The room ceased to exist: the next to join names it afresh.
    assert c.ask(Join(room="#gERAL")).text == "#gERAL"


# -- PING, PONG, SAIR ----------------------------------------------------------


def test_ping_and_pong() -> None:
    net = Net()
    c = net.connect()
    c.take()
    assert c.ask(Ping(token="abc")) == Reply(code=224, text="abc")
    assert c.ask(Ping()) == Reply(code=224, text="")
    c.send(Pong(token="x"))
    assert c.take() == []


def test_quit_notices_rooms_then_offline() -> None:
    net = Net()
    a, b, c = net.user("ana"), net.user("bruno"), net.user("caio")
    a.ask(Join(room="#one"))
    a.ask(Join(room="#two"))
    b.ask(Join(room="#one"))
    c.ask(Join(room="#two"))
    for x in (a, b, c):
        x.take()
    a.send(Quit())
    assert a.take() == [Reply(code=217, text="bye")]
    assert a.closed
    assert b.pushes() == [Left(room="#one", user="ana"), Offline(user="ana")]
    assert c.pushes() == [Left(room="#two", user="ana"), Offline(user="ana")]
    assert a.session not in net.core.sessions
    assert b.ask(Rooms()).text == "#one=1 #two=1"
    # Anything sent after the close is ignored.
    net.apply(net.core.receive(a.session, b"PING x\n"))
    assert net.outputs[-1].sends == []


def _drop_notices(how: str) -> tuple[list[object], list[object]]:
    net = Net()
    a, b = net.user("ana"), net.user("bruno")
    a.ask(Join(room="#r"))
    b.ask(Join(room="#r"))
    a.take()
    b.take()
    if how == "quit":
        a.send(Quit())
    elif how == "eof":
        a.send_raw(b"")
        assert a.closed
    else:
        net.apply(net.core.disconnect(a.session))
        assert net.outputs[-1].closes == []
        # Idempotent.
        net.apply(net.core.disconnect(a.session))
        assert net.outputs[-1] == type(net.outputs[-1])()
    return [*b.pushes()], [s.name for s in net.core.sessions]


@pytest.mark.parametrize("how", ["eof", "disconnect"])
def test_drop_gives_the_notices_of_quit(how: str) -> None:
    assert _drop_notices(how) == _drop_notices("quit")


def test_anonymous_leaving_tells_no_one() -> None:
    net = Net()
    a = net.user("ana")
    c = net.connect()
    c.send(Quit())
    assert c.closed
    assert a.take() == []


def test_eof_drops_held_lines() -> None:
    net = Net(inline=False)
    c = net.connect()
    c.take()
    c.send(Register(user="x", password=PW), Ping(token="held"))
    c.send_raw(b"")
    assert c.closed
    net.run_jobs()
    assert c.take() == []


# -- bad lines -----------------------------------------------------------------


def test_bad_lines_are_answered_in_order_and_kept() -> None:
    limits = replace(FAST, max_line=64, max_unterminated=128)
    net = Net(limits)
    c = net.connect()
    c.take()
    c.send_raw(b"FOO bar\nPING a\n\xff\xfe\n" + b"x" * 70 + b"\n  \nPING b\r\n")
    assert c.codes() == [999, 224, 708, 707, 224]
    assert not c.closed


def test_unterminated_flood_closes() -> None:
    limits = replace(FAST, max_line=64, max_unterminated=128)
    net = Net(limits)
    a = net.user("ana")
    c = net.connect()
    c.ask(Nick(nick="g"))
    c.take()
    a.take()
    c.send_raw(b"PING x\n" + b"y" * 200)
    # The line that ended before the flood is answered, then the close.
    reply, closing = c.take()
    assert isinstance(reply, Reply) and reply.text == "x"
    assert isinstance(closing, Closing)
    assert closing.reason == "line-too-long"
    assert c.closed
    assert a.pushes() == [Offline(user="g")]


def test_internal_error_is_answered_710(caplog: pytest.LogCaptureFixture) -> None:
    net = Net()
    c = net.connect()
    c.take()

    def boom(*args: object) -> None:
        raise RuntimeError("bug")

    net.core._handlers[Ping] = boom
    with caplog.at_level(logging.ERROR, logger="libbatchat.server"):
        assert c.ask(Ping()).code == 710
    assert "bug" in caplog.text
    assert c.ask(Register(user="ana", password=PW)).code == 213
