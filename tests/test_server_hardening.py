"""The server core against issue 7's attacks, on a virtual clock."""

from __future__ import annotations

from dataclasses import replace

from libbatchat import (
    Chat,
    Closing,
    Help,
    Join,
    Joined,
    Left,
    Login,
    Message,
    Nick,
    Offline,
    Part,
    Ping,
    Quit,
    Register,
    Rooms,
    ServerPing,
    Who,
    hash_password,
)
from libbatchat._grammar import serialize
from libbatchat._lists import budget, page
from libbatchat._skeleton import skeleton
from tests.server_harness import FAST, Net


def test_partial_line_bytes_are_no_sign_of_life() -> None:
    net = Net(replace(FAST, ping_interval=10.0, ping_timeout=20.0))
    c = net.connect()
    c.take()
    assert c.ask(Nick(nick="ana")).code == 218
    c.send_raw(b"CHAT * trick")
    for _ in range(3):
        net.advance(3.0)
        c.send_raw(b"l")
    net.advance(1.0)
    (ping,) = c.take()
    assert isinstance(ping, ServerPing)
    for _ in range(3):
        net.advance(3.0)
        c.send_raw(b"e")
    assert not c.closed
    net.advance(1.0)
    (closing,) = c.take()
    assert isinstance(closing, Closing) and closing.reason == "ping-timeout"
    assert c.closed


def test_a_blank_line_is_a_sign_of_life() -> None:
    net = Net(replace(FAST, ping_interval=10.0, ping_timeout=20.0))
    c = net.connect()
    c.take()
    assert c.ask(Nick(nick="ana")).code == 218
    for _ in range(10):
        net.advance(9.0)
        c.send_raw(b"\n")
    assert c.take() == []
    assert c.ask(Ping(token="x")).text == "x"


def _record(password: str) -> str:
    return hash_password(password, n=16, r=8, p=1)


def test_takeover_moves_the_session_and_tells_no_one() -> None:
    net = Net()
    old = net.user("ana")
    bia = net.user("bia")
    for room in ("#a", "#b"):
        assert old.ask(Join(room=room)).code == 222
    assert bia.ask(Join(room="#a")).code == 222
    old.take()
    new = net.connect("10.0.0.2:2000")
    new.take()
    reply = new.ask(Login(user="ANA", password="pw pw"))
    assert (reply.code, reply.text) == (214, "ana")
    assert new.take() == [Joined(room="#a", user="ana"), Joined(room="#b", user="ana")]
    (closing,) = old.take()
    assert isinstance(closing, Closing) and closing.reason == "taken-over"
    assert closing.text == "logged in again from 10.0.0.2:2000"
    assert old.closed and not old.session.open
    assert bia.take() == []
    assert bia.ask(Who(room="#a")).text == "ana bia"
    assert bia.ask(Chat(target="#a", text="oi")).code == 215
    (message,) = new.take()
    assert isinstance(message, Message) and message.text == "oi"
    assert bia.ask(Chat(target="ana", text="dm")).code == 215
    assert len(new.take()) == 1
    # The new session ends as any other: now the others are told.
    new.send(Quit())
    assert bia.take() == [Left(room="#a", user="ana"), Offline(user="ana")]
    assert [s.name for s in net.core.sessions] == ["bia"]


def test_takeover_needs_the_password_and_an_account() -> None:
    net = Net()
    net.user("ana")
    c = net.connect()
    c.take()
    assert c.ask(Login(user="ana", password="wrong")).code == 704
    g = net.connect()
    assert g.ask(Nick(nick="zed")).code == 218
    # Guests are never taken over, by APELIDO or (should an account of the
    # name appear in a shared store) by ENTRAR.
    assert c.ask(Nick(nick="ZED")).text == "ZED is in use"
    net.core.accounts.create("zed", _record("pw"))
    reply = c.ask(Login(user="zed", password="pw"))
    assert (reply.code, reply.text) == (705, "zed is already online")
    h = net.connect()
    assert h.ask(Nick(nick="\u0431ob")).code == 218
    net.core.accounts.create("6ob", _record("pw"))
    assert skeleton("6ob") == skeleton("\u0431ob")
    reply = c.ask(Login(user="6ob", password="pw"))
    assert (reply.code, reply.text) == (705, "6ob looks like \u0431ob, who is online")
    assert not g.closed and not h.closed


def test_a_name_being_registered_blocks_its_look_alikes() -> None:
    net = Net(inline=False)
    a, b = net.connect(), net.connect()
    a.take()
    b.take()
    a.send(Register(user="ana", password="pw"))
    b.send(Nick(nick="\u0430na"))
    assert b.replies()[0].text == "\u0430na looks like ana"
    b.send(Register(user="ANA", password="pw"))
    assert b.replies()[0].text == "ANA is taken"
    net.run_jobs()
    assert a.codes() == [213]


def test_help_before_login() -> None:
    net = Net()
    c = net.connect()
    c.take()
    reply = c.ask(Help())
    assert reply.code == 225
    assert reply.text.startswith("commands: NOVO|REGISTER ENTRAR|LOGIN ")
    assert "AJUDA|HELP" in reply.text and "PONG" not in reply.text
    for word in ("JOIN", "juntar", "/join"):
        reply = c.ask(Help(command=word))
        assert reply.code == 225
        assert reply.text == (
            "JUNTAR|JOIN <#room>: Join a room, creating it if it does not exist."
            " (needs login)"
        )
    assert c.ask(Help(command="ping")).text.endswith("(works before login)")
    reply = c.ask(Help(command="dance"))
    assert (reply.code, reply.text) == (
        999,
        "unknown command dance; HELP lists the commands",
    )
    c.send_raw(b"help\n")
    assert c.codes() == [225]
    reply = c.ask(Who())
    assert (reply.code, reply.text) == (
        700,
        "log in with ENTRAR, NOVO or APELIDO; HELP explains them",
    )


def test_rooms_are_capped_per_session_and_in_all() -> None:
    net = Net(replace(FAST, rooms_per_session=2, max_rooms=3))
    a, b = net.user("ana"), net.user("bia")
    assert [a.ask(Join(room=r)).code for r in ("#a", "#b")] == [222, 222]
    reply = a.ask(Join(room="#c"))
    assert (reply.code, reply.text) == (711, "you are in 2 rooms, the most allowed")
    assert a.ask(Join(room="#A")).code == 222  # already in it: no new room
    assert b.ask(Join(room="#c")).code == 222
    reply = b.ask(Join(room="#d"))
    assert (reply.code, reply.text) == (
        711,
        "the server has 3 rooms, the most it allows",
    )
    assert b.ask(Join(room="#a")).code == 222  # an existing room is fine
    assert a.ask(Part(room="#a")).code == 223
    assert a.ask(Join(room="#c")).code == 222


def test_page_fits_its_budget_and_counts_the_rest() -> None:
    assert page([], 10) == ""
    assert page(["ab", "cd"], 5) == "ab cd"
    assert page(["ab", "cd", "ef"], 7) == "ab +2"
    assert page(["ab", "cd", "ef"], 8) == "ab cd ef"
    assert page(["ab", "cd", "ef", "gh"], 8) == "ab cd +2"
    assert page(["toolong"], 3) == "+1"
    items = [f"n{i:04d}" for i in range(1000)]
    for size in (20, 100, 4000):
        text = page(items, size)
        assert len(text.encode()) <= size
        shown = text.split()[:-1]
        assert shown == items[: len(shown)]
        assert text.split()[-1] == f"+{1000 - len(shown)}"
    assert budget(4096, "SALAS") == 4096 - len("SALAS-221 \n")


def test_lists_are_paged_within_max_line() -> None:
    net = Net(replace(FAST, max_line=256, max_unterminated=8192, max_rooms=1000))
    a = net.user("ana")
    names = [f"g{i:03d}" + "x" * 28 for i in range(40)]
    for i, name in enumerate(names):
        assert net.connect(f"10.0.1.{i}:1").ask(Nick(nick=name)).code == 218
    a.take()
    seen: list[str] = []
    after: str | None = None
    for _ in range(40):
        reply = a.ask(Who(after=after) if after else Who())
        assert len(serialize(reply)) <= 256
        seen += reply.names
        if not reply.more:
            break
        assert reply.more == 41 - len(seen)
        after = seen[-1]
    assert seen == sorted(["ana", *names], key=str.casefold)
    rooms = [f"#r{i:03d}" + "y" * 28 for i in range(40)]
    for room in rooms:
        assert a.ask(Join(room=room)).code == 222
    got: list[tuple[str, int]] = []
    reply = a.ask(Rooms())
    while True:
        assert len(serialize(reply)) <= 256
        got += reply.rooms
        if not reply.more:
            break
        reply = a.ask(Rooms(after=got[-1][0]))
    assert got == [(r, 1) for r in rooms]
    assert a.ask(Who(room="#r000" + "y" * 28)).names == ("ana",)
    assert a.ask(Who(room="*", after="g039" + "x" * 28)).text == ""


def test_list_replies_parse_their_page_marker() -> None:
    from libbatchat import Reply

    page_of = Reply(code=220, text="ana bia +3")
    assert (page_of.names, page_of.more) == (("ana", "bia"), 3)
    rooms = Reply(code=221, text="#a=2 +12")
    assert (rooms.rooms, rooms.more) == ((("#a", 2),), 12)
    assert Reply(code=220, text="ana").more == 0
    assert Reply(code=220, text="+x").more == 0
    assert Reply(code=222, text="+1").more == 0
    assert Reply(code=222, text="#a").names == ()
