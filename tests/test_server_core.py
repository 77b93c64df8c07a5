from __future__ import annotations

import logging
from dataclasses import replace

import pytest

from libbatchat import (
    VERBS,
    Chat,
    Closing,
    Command,
    Greeting,
    Join,
    Joined,
    Left,
    Limits,
    Login,
    MemoryStore,
    Message,
    Nick,
    Offline,
    Online,
    Part,
    Ping,
    Pong,
    Quit,
    Register,
    Reply,
    Rooms,
    ServerPing,
    StoreError,
    Who,
)
from libbatchat._events import COMMAND_TYPES
from libbatchat._server import ServerCore
from libbatchat._session import Failure
from tests.server_harness import FAST, WALL, Clock, Net

PW = "s3cret pass"


# -- greeting and connection ---------------------------------------------------


def test_greeting_advertises_limits() -> None:
    limits = replace(FAST, max_line=2048, ping_interval=60.0, ping_timeout=70.0)
    net = Net(limits)
    c = net.connect()
    (greeting,) = c.take()
    assert greeting == Greeting(
        max_line=2048,
        burst=1000,
        rate=1000.0,
        ping=60.0,
        ping_timeout=70.0,
        login_timeout=30.0,
    )
    assert c.session in net.core.sessions
    assert c.session.name is None
    assert c.session.peer == "10.0.0.1:1000"
    assert repr(c.session) == "<Session 1 10.0.0.1:1000 ->"


def test_default_core_has_default_limits_and_memory_store() -> None:
    core = ServerCore()
    assert core.limits == Limits()
    assert isinstance(core.accounts, MemoryStore)
    assert core.next_deadline() is None
    assert core.earliest_deadline() is None


# -- NOVO ----------------------------------------------------------------------


def test_register() -> None:
    net = Net()
    c = net.connect()
    c.take()
    assert c.ask(Register(user="Ana", password=PW)).code == 213
    assert c.ask(Register(user="ANA", password="other")).code == 703
    found = net.core.accounts.get("ana")
    assert found is not None
    assert found[0] == "Ana"
    assert PW not in found[1]


def test_register_bad_args() -> None:
    net = Net()
    c = net.connect()
    c.take()
    c.send_raw(b"NOVO ana\n")
    c.send_raw(b"NOVO an@ pw\n")
    assert c.codes() == [702, 702]


def test_register_while_logged_in_is_accepted() -> None:
    net = Net()
    a = net.user("ana")
    assert a.ask(Register(user="bia", password=PW)).code == 213


def test_register_name_of_online_guest() -> None:
    net = Net()
    g = net.connect()
    assert g.ask(Nick(nick="Zed")).code == 218
    c = net.connect()
    assert c.ask(Register(user="zed", password=PW)).code == 703


def test_register_name_being_claimed() -> None:
    net = Net(inline=False)
    a, b, g = net.connect(), net.connect(), net.connect()
    a.send(Register(user="ana", password=PW))
    b.send(Register(user="ANA", password=PW))
    g.send(Nick(nick="Ana"))
    # b and g are refused at once: a holds the name while its job runs.
    assert len(net.jobs) == 1
    assert b.codes() == [703]
    assert g.codes() == [705]
    net.run_jobs()
    assert a.codes() == [213]
    # The claim is gone; the account now owns the name.
    b.send(Register(user="ana", password=PW))
    net.run_jobs()
    g.send(Nick(nick="ana"))
    net.run_jobs()
    assert b.codes() == [703]
    assert g.codes() == [703]


# -- ENTRAR --------------------------------------------------------------------


def test_login_shows_the_registered_name() -> None:
    net = Net()
    c = net.connect()
    c.ask(Register(user="Ana", password=PW))
    r = c.ask(Login(user="aNA", password=PW))
    assert (r.code, r.text) == (214, "Ana")
    assert c.session.name == "Ana"


def test_login_unknown_user_and_bad_password_look_alike() -> None:
    net = Net()
    c = net.connect()
    c.ask(Register(user="ana", password=PW))
    bad_pw = c.ask(Login(user="ana", password="nope"))
    unknown = c.ask(Login(user="nobody", password=PW))
    assert (bad_pw.code, bad_pw.text) == (unknown.code, unknown.text)
    assert bad_pw.code == 704


def test_login_already_logged_in() -> None:
    net = Net()
    a = net.user("ana")
    assert a.ask(Login(user="ana", password="pw pw")).code == 701
    assert a.ask(Nick(nick="other")).code == 701


def test_concurrent_logins_one_name_online_once() -> None:
    net = Net(inline=False)
    net.core.accounts.create("ana", _record("pw"))
    a, b = net.connect(), net.connect()
    a.send(Login(user="ana", password="pw"))
    b.send(Login(user="ana", password="pw"))
    assert len(net.jobs) == 2
    net.run_job(1)
    net.run_job(0)
    # The last to log in takes the session over (spec 5.2): still one online.
    assert b.codes() == [214]
    assert a.codes() == [214]
    closing = b.take()[-1]
    assert isinstance(closing, Closing) and closing.reason == "taken-over"
    assert [s.name for s in net.core.sessions] == ["ana"]


def _record(password: str) -> str:
    from libbatchat import hash_password

    return hash_password(password, n=16, r=8, p=1)


def test_failed_login_throttle_per_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    limits = replace(FAST, login_attempts=3, login_window=60.0)
    net = Net(limits)
    calls = []
    import libbatchat._login as login
    from libbatchat import verify_password as real

    def counting(password: str, record: str) -> bool:
        calls.append(1)
        return real(password, record)

    monkeypatch.setattr(login, "_verify", counting)
    c = net.connect()
    c.ask(Register(user="ana", password=PW))
    for _ in range(3):
        assert c.ask(Login(user="ana", password="bad")).code == 704
    jobs_before = sum(len(o.jobs) for o in net.outputs)
    assert c.ask(Login(user="ana", password=PW)).code == 709
    # Refused without running a job: the password was not checked.
    assert sum(len(o.jobs) for o in net.outputs) == jobs_before
    assert len(calls) == 3
    net.clock.advance(60.0)
    assert c.ask(Login(user="ana", password=PW)).code == 214


def test_failed_login_throttle_per_address() -> None:
    limits = replace(FAST, login_attempts=100, ip_login_attempts=4)
    net = Net(limits)
    clients = [net.connect(f"10.0.0.9:{i}") for i in range(3)]
    other = net.connect("10.0.0.10:1")
    for c in clients[:2]:
        for _ in range(2):
            assert c.ask(Login(user="x", password="y")).code == 704
    assert clients[2].ask(Login(user="x", password="y")).code == 709
    assert other.ask(Login(user="x", password="y")).code == 704


def test_failed_login_counts_even_if_the_client_hangs_up() -> None:
    limits = replace(FAST, ip_login_attempts=1)
    net = Net(limits, inline=False)
    a = net.connect("10.0.0.9:1")
    a.send(Login(user="x", password="y"))
    net.apply(net.core.disconnect(a.session))
    net.run_jobs()
    assert a.raw[-1:] == [a.raw[0]]  # nothing but the greeting reached it
    b = net.connect("10.0.0.9:2")
    assert b.ask(Login(user="x", password="y")).code == 709


# -- APELIDO -------------------------------------------------------------------


def test_guest() -> None:
    net = Net()
    a = net.user("ana")
    g = net.connect()
    r = g.ask(Nick(nick="Zé"))
    assert (r.code, r.text) == (218, "Zé")
    assert a.pushes() == [Online(user="Zé")]
    assert g.ask(Who()).text == "ana Zé"
    h = net.connect()
    assert h.ask(Nick(nick="zÉ")).code == 705
    assert h.ask(Nick(nick="ANA")).code == 705
    assert h.ask(Register(user="bob", password=PW)).code == 213
    assert h.ask(Nick(nick="Bob")).code == 703
    g.send(Quit())
    assert a.pushes() == [Offline(user="Zé")]


def test_guest_name_taken_while_checking() -> None:
    # A name that came online by another path while the check ran (another
    # server sharing the account file, say) is refused, not doubled.
    net = Net(inline=False)
    g = net.connect()
    g.send(Nick(nick="ana"))
    (job,) = net.jobs
    net.jobs.clear()
    net.core.accounts.create("ana", _record("pw"))
    a = net.connect()
    a.send(Login(user="ana", password="pw"))
    net.run_jobs()
    assert a.codes() == [214]
    net.apply(net.core.finish(job, None))
    assert g.codes() == [705]


# -- login required ------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [Who(), Chat(target="*", text="hi"), Rooms(), Join(room="#a"), Part(room="#a")],
)
def test_commands_needing_login(command: Command) -> None:
    assert command.spec().needs_login
    net = Net()
    c = net.connect()
    c.take()
    assert c.ask(command).code == 700


def test_every_verb_is_handled() -> None:
    core = ServerCore()
    for verb, spec in VERBS.items():
        assert (COMMAND_TYPES[verb] in core._handlers) == spec.has_reply


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


# -- jobs ----------------------------------------------------------------------


def test_replies_wait_for_a_pending_job() -> None:
    net = Net(inline=False)
    a = net.connect()
    a.take()
    a.send(
        Register(user="ana", password=PW),
        Ping(token="1"),
        Login(user="ana", password=PW),
        Who(),
        Ping(token="2"),
    )
    assert a.take() == []
    assert len(net.jobs) == 1
    net.run_job()
    assert a.codes() == [213, 224]
    net.run_job()
    assert a.codes() == [214, 220, 224]


class BrokenStore:
    def create(self, name: str, record: str) -> bool:
        raise StoreError("disk full")

    def get(self, name: str) -> tuple[str, str] | None:
        raise StoreError("disk gone")

    def similar(self, name: str) -> str | None:
        raise StoreError("disk full")

    def close(self) -> None:
        pass


def test_store_errors_become_710(caplog: pytest.LogCaptureFixture) -> None:
    net = Net(accounts=BrokenStore())
    c = net.connect()
    c.take()
    with caplog.at_level(logging.ERROR, logger="libbatchat.server"):
        assert c.ask(Register(user="ana", password=PW)).code == 710
        assert c.ask(Login(user="ana", password=PW)).code == 710
        assert c.ask(Nick(nick="ana")).code == 710
    assert "disk full" in caplog.text
    assert "disk gone" in caplog.text
    assert PW not in caplog.text
    # Nothing is left claimed: a working retry may go ahead.
    assert net.core._claims == {}


@pytest.mark.parametrize(
    "command",
    [Register(user="ana", password=PW), Login(user="ana", password=PW), Nick(nick="a")],
)
def test_unexpected_job_results_become_710(command: Command) -> None:
    net = Net(inline=False)
    c = net.connect()
    c.take()
    c.send(command)
    (job,) = net.jobs
    net.apply(net.core.finish(job, 42))
    assert c.codes() == [710]


def test_job_run_never_raises() -> None:
    net = Net(inline=False, accounts=BrokenStore())
    c = net.connect()
    c.send(Register(user="ana", password=PW))
    (job,) = net.jobs
    result = job.run()
    assert isinstance(result, Failure)
    assert isinstance(result.error, StoreError)


def test_finish_unknown_or_stale_job() -> None:
    net = Net(inline=False)
    c = net.connect()
    c.send(Register(user="ana", password=PW))
    (job,) = net.jobs
    net.apply(net.core.finish(job, job.run()))
    # A second finish of the same job does nothing.
    assert net.core.finish(job, True) == type(net.outputs[-1])()


def test_finish_after_the_session_ended() -> None:
    net = Net(inline=False)
    c = net.connect()
    c.take()
    c.send(Register(user="ana", password=PW))
    c.send(Quit())
    assert c.take() == []
    (job,) = net.jobs
    net.apply(net.core.disconnect(c.session))
    assert net.core._claims  # held until the job is done
    out = net.core.finish(job, job.run())
    assert out.sends == []
    assert net.core._claims == {}
    # The account exists: the registration did complete.
    assert net.core.accounts.get("ana") is not None


# -- flood control -------------------------------------------------------------


def test_flood_is_delayed_not_dropped() -> None:
    limits = replace(FAST, burst=3, rate=2.0)
    net = Net(limits)
    c = net.connect()
    c.take()
    c.send(*(Ping(token=str(i)) for i in range(8)))
    assert [r.text for r in c.replies()] == ["0", "1", "2"]
    start = net.clock.now
    assert net.core.next_deadline() == pytest.approx(start + 0.5)
    net.advance(0.4)
    assert c.take() == []
    net.advance(0.1)
    assert [r.text for r in c.replies()] == ["3"]
    # Two quiet seconds refill the bucket only up to its burst.
    net.advance(2.0)
    assert [r.text for r in c.replies()] == ["4", "5", "6"]
    net.advance(0.5)
    assert [r.text for r in c.replies()] == ["7"]
    assert not c.closed


def test_flood_of_one_client_does_not_slow_another() -> None:
    limits = replace(FAST, burst=2, rate=1.0)
    net = Net(limits)
    a, b = net.connect(), net.connect()
    a.take()
    b.take()
    a.send(*(Ping() for _ in range(10)))
    assert b.ask(Ping(token="b")).text == "b"


def test_reading_pauses_while_the_backlog_is_large() -> None:
    limits = replace(
        FAST, burst=1, rate=0.01, recv_queue=50, max_unterminated=50, max_line=32
    )
    net = Net(limits)
    c = net.connect()
    c.ask(Nick(nick="g"))
    c.take()
    c.send(*(Ping(token=f"t{i:02}") for i in range(10)))  # 9 bytes a line
    assert c.paused
    assert len(c.replies()) == 0
    # Paused 200 s: that silence is the server's doing, so no ping timeout.
    for _ in range(4):
        net.advance(50.0)
    assert c.paused
    assert not c.closed
    assert len(c.replies()) == 2
    net.advance(100.0)
    net.advance(100.0)
    assert c.paused
    net.advance(100.0)
    assert not c.paused  # five lines (45 bytes) left
    assert len(c.replies()) == 3
    net.advance(140.0)
    assert not c.closed
    net.advance(20.0)
    assert c.closed  # silent for real now
    assert isinstance(c.take()[-1], Closing)


# -- timeouts ------------------------------------------------------------------


def test_login_timeout() -> None:
    net = Net()
    c = net.connect()
    c.take()
    assert net.core.next_deadline() == net.clock.now + 30.0
    net.advance(29.9)
    assert not c.closed
    net.advance(0.1)
    (closing,) = c.take()
    assert isinstance(closing, Closing)
    assert closing.reason == "login-timeout"
    assert c.closed


def test_logged_in_sessions_have_no_login_timeout() -> None:
    net = Net()
    c = net.connect()
    c.ask(Nick(nick="g"))
    net.advance(31.0)
    assert not c.closed
    assert net.core.next_deadline() == pytest.approx(net.clock.now - 31.0 + 90.0)


def test_ping_then_ping_timeout() -> None:
    net = Net()
    a = net.user("ana")
    b = net.user("bruno")
    net.advance(89.0)
    assert a.take() == []
    net.advance(1.0)
    (ping,) = a.take()
    assert isinstance(ping, ServerPing)
    net.advance(30.0)
    assert a.take() == []  # one PING per silence
    a.send(Pong(token=ping.token))
    net.advance(60.0)
    assert not a.closed
    assert b.closed
    closing = b.take()[-1]
    assert isinstance(closing, Closing)
    assert closing.reason == "ping-timeout"
    assert a.pushes()[-1] == Offline(user="bruno")


def test_too_many_lines_before_login() -> None:
    limits = replace(FAST, lines_before_login=3)
    net = Net(limits)
    c = net.connect()
    c.take()
    c.send(Ping(), Pong(token="x"))
    c.send_raw(b"BOGUS\n")
    assert c.codes() == [224, 999]
    c.send(Ping())
    (closing,) = c.take()
    assert isinstance(closing, Closing)
    assert closing.reason == "too-many-lines"


def test_lines_after_login_do_not_count() -> None:
    limits = replace(FAST, lines_before_login=2)
    net = Net(limits)
    c = net.connect()
    c.send(Nick(nick="g"), *(Ping() for _ in range(5)))
    assert len(c.replies()) == 6
    assert not c.closed


# -- send queue ----------------------------------------------------------------


def test_send_queue_hard_limit() -> None:
    limits = replace(FAST, send_queue_hard=1000, send_queue_soft=100)
    net = Net(limits)
    a, b = net.user("ana"), net.user("bruno")
    net.apply(net.core.send_queue(b.session, 999))
    assert not b.closed
    net.apply(net.core.send_queue(b.session, 1000))
    assert b.closed
    assert isinstance(b.take()[-1], Closing)
    assert a.pushes() == [Offline(user="bruno")]
    # Reports about a closed session are ignored.
    assert net.core.send_queue(b.session, 10**9).sends == []


def test_send_queue_soft_limit_held() -> None:
    limits = replace(
        FAST, send_queue_hard=1000, send_queue_soft=100, send_queue_soft_seconds=10.0
    )
    net = Net(limits)
    b = net.user("bruno")
    net.apply(net.core.send_queue(b.session, 500))
    assert net.core.next_deadline() == net.clock.now + 10.0
    net.advance(5.0)
    net.apply(net.core.send_queue(b.session, 50))  # drained: timer resets
    net.apply(net.core.send_queue(b.session, 500))
    net.advance(9.0)
    assert not b.closed
    net.advance(1.0)
    closing = b.take()[-1]
    assert isinstance(closing, Closing)
    assert closing.reason == "send-queue"


def test_send_queue_soft_limit_checked_on_report() -> None:
    limits = replace(FAST, send_queue_soft=100, send_queue_soft_seconds=1.0)
    net = Net(limits)
    b = net.user("bruno")
    net.apply(net.core.send_queue(b.session, 500))
    net.clock.advance(2.0)
    net.apply(net.core.send_queue(b.session, 500))
    assert b.closed


# -- connections per address ---------------------------------------------------


def test_max_per_ip() -> None:
    limits = replace(FAST, max_per_ip=2)
    net = Net(limits)
    a = net.connect("10.1.1.1:1")
    net.connect("10.1.1.1:2")
    refused = net.connect("10.1.1.1:3")
    (closing,) = refused.take()
    assert isinstance(closing, Closing)
    assert closing.reason == "too-many-connections"
    assert refused.closed
    assert refused.session not in net.core.sessions
    assert not net.connect("10.1.1.2:1").closed
    assert all(not net.connect("127.0.0.1:9").closed for _ in range(4))
    a.send(Quit())
    assert not net.connect("10.1.1.1:4").closed


# -- shutdown ------------------------------------------------------------------


def test_shutdown() -> None:
    net = Net()
    a, b = net.user("ana"), net.user("bruno")
    a.ask(Join(room="#r"))
    b.take()
    g = net.connect()
    g.take()
    net.apply(net.core.shutdown("bye all"))
    for c in (a, b, g):
        assert c.take() == [Closing(reason="shutdown", text="bye all")]
        assert c.closed
    assert list(net.core.sessions) == []
    assert net.core.next_deadline() is None
    assert net.core.disconnect(a.session).sends == []


# -- deadlines -----------------------------------------------------------------


def test_next_deadline_follows_the_earliest_session() -> None:
    net = Net()
    a = net.connect()
    net.clock.advance(10.0)
    b = net.connect()
    assert net.core.next_deadline() == 1030.0
    a.ask(Nick(nick="a"))
    # a no longer has a login deadline; b's is next.
    assert net.core.next_deadline() == 1040.0
    b.ask(Nick(nick="b"))
    # Both logged in: a's ping (last heard at 1010) is next.
    assert net.core.next_deadline() == 1100.0
    b.send(Quit())
    a.send(Quit())
    assert net.core.next_deadline() is None


def test_earliest_deadline_is_never_later_than_the_next() -> None:
    # Adapters re-arm their timer by this cheap peek; it may be early (a
    # stale entry), never late.
    net = Net()
    a = net.connect()
    assert net.core.earliest_deadline() == net.core.next_deadline() == 1030.0
    a.ask(Nick(nick="a"))
    earliest = net.core.earliest_deadline()
    assert earliest is not None and earliest <= 1030.0
    assert net.core.next_deadline() == 1090.0
    assert net.core.earliest_deadline() == 1090.0


def test_tick_skips_stale_entries() -> None:
    limits = replace(FAST, burst=1, rate=1.0)
    net = Net(limits)
    a = net.connect()
    b = net.connect()
    a.send(Ping(), Ping())
    b.send(Quit())
    net.advance(1.0)
    assert a.codes() == [224, 224]
    net.advance(100.0)
    assert a.closed


def test_logs(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="libbatchat.server"):
        net = Net()
        a = net.user("ana", password="hunter2 secret")
        a.ask(Join(room="#r"))
        a.ask(Part(room="#r"))
        a.send(Quit())
    text = caplog.text
    for word in ("ana logged in", "joined #r", "left #r", "ana logged out"):
        assert word in text
    assert "hunter2" not in text


def test_tick_terminates_when_float_sums_round() -> None:
    # last_rx + ping_interval rounds to exactly ``now`` while
    # now - last_rx < ping_interval: tick() once looped forever on this.
    limits = replace(FAST, ping_interval=5.0, ping_timeout=9.0)
    clock = Clock(3.850265853018727)
    net = Net(limits, clock=clock)
    c = net.connect()
    c.take()
    clock.now = 3.850265853018727 + 5.0
    assert clock.now - 3.850265853018727 < 5.0
    net.tick()
    assert [type(p).__name__ for p in c.pushes()] == ["ServerPing"]
    assert net.core.next_deadline() == 3.850265853018727 + 9.0
