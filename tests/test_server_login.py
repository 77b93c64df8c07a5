"""ServerCore: the greeting, NOVO, ENTRAR, APELIDO, and what needs a login."""

from __future__ import annotations

from dataclasses import replace

import pytest

from libbatchat import (
    VERBS,
    Chat,
    Closing,
    Command,
    Greeting,
    Join,
    Limits,
    Login,
    MemoryStore,
    Nick,
    Offline,
    Online,
    Part,
    Quit,
    Register,
    Rooms,
    Who,
)
from libbatchat._events import COMMAND_TYPES
from libbatchat._server import ServerCore
from tests.server_harness import FAST, PW, Net

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
