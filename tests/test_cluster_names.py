"""ServerCores on an in-memory bus: names claimed across nodes, logins
taking sessions over, registration races."""

from __future__ import annotations

import json

import pytest

from libbatchat import (
    Closing,
    Join,
    Left,
    Login,
    Nick,
    Offline,
    Online,
    Quit,
    Register,
)
from libbatchat._cluster import Claim, Cluster
from tests.cluster_harness import PW, Bus


def test_bad_node_id() -> None:
    with pytest.raises(ValueError, match="bad node id"):
        Cluster("a b")
    with pytest.raises(ValueError, match="bad node id"):
        Cluster("")


def test_detached_cluster_has_no_core() -> None:
    with pytest.raises(AssertionError, match="not attached"):
        _ = Cluster("x").core


def test_names_are_unique_across_nodes() -> None:
    bus = Bus(3)
    a, b, c = bus.nodes
    ana = bus.user(a, "Ana")
    x = b.connect()
    assert x.ask(Nick(nick="ANA")).code == 705
    g = bus.guest(c, "Bob")
    assert x.ask(Register(user="bob", password=PW)).code == 703
    assert x.ask(Nick(nick="bob")).code == 705
    assert bus.names == {"ana": "n0", "bob": "n2"}
    ana.send(Quit())
    g.send(Quit())
    assert bus.names == {}
    assert x.ask(Login(user="Ana", password=PW)).code == 214


def test_login_on_another_node_takes_the_session_over() -> None:
    bus = Bus(2)
    a, b = bus.nodes
    ana = bus.user(a, "Ana")
    ana.send(Join(room="#r"))
    bob = bus.guest(a, "Bob")
    bob.send(Join(room="#r"))
    bus.clear()
    x = b.connect()
    assert x.ask(Login(user="ana", password=PW)).code == 214
    assert ana.closed
    closing = [e for e in ana.take() if isinstance(e, Closing)]
    assert [c.reason for c in closing] == ["taken-over"]
    assert bus.names == {"ana": "n1", "bob": "n0"}
    # Unlike a takeover on one node, the others see Ana go and come back.
    kinds = [type(p) for p in bob.pushes()]
    assert kinds == [Left, Offline, Online]


def test_takeover_across_nodes_refused_or_abandoned() -> None:
    bus = Bus(2)
    a, b = bus.nodes
    bus.user(a, "Ana")
    zed = bus.guest(a, "Zed")

    def event(**fields: str) -> bytes:
        return json.dumps({"n": "n9", "s": 1, **fields}).encode()

    # A guest is kept (its node answers "kept"); a name not held is ignored.
    a.apply(a.cluster.receive(event(k="take", u="Zed", p="10.0.0.9:1")))
    a.apply(a.cluster.receive(event(k="take", u="Nobody", p="10.0.0.9:1")))
    assert not zed.closed
    bus.auto = False
    x, y = b.connect(), b.connect()
    x.send(Login(user="ana", password=PW))
    y.send(Login(user="ana", password=PW))
    b.apply(b.core.disconnect(y.session))
    b.apply(b.cluster.receive(event(k="kept", u="Ana")))
    assert x.codes() == [705]
    # Gone before Ana's OFFLINE came: nothing is claimed for it.
    z = b.connect()
    z.send(Login(user="ana", password=PW))
    b.apply(b.core.disconnect(z.session))
    bus.flush()
    assert bus.names == {"zed": "n0"}
    # The bus lost: a waiting taker is refused; none starts while it is down.
    bus.auto = True
    ana = a.connect()
    assert ana.ask(Login(user="Ana", password=PW)).code == 214
    bus.auto = False
    w = b.connect()
    w.send(Login(user="ana", password=PW))
    b.apply(b.cluster.link(False))
    assert w.codes() == [705]
    assert w.ask(Login(user="ana", password=PW)).code == 705
    assert not ana.closed


def test_a_look_alike_entering_while_the_claim_is_out() -> None:
    bus = Bus(2, auto=False)
    a, _ = bus.nodes
    y, z = a.connect(), a.connect()
    y.send(Nick(nick="Bob"))
    z.send(Nick(nick="B\u043eb"))  # Cyrillic o: looks like o
    bus.flush()
    assert y.codes() == [218]
    assert [r.code for r in z.replies()] == [705]
    assert bus.names == {"bob": "n0"}


def test_claim_race_gives_one_pass_and_one_705() -> None:
    bus = Bus(2, auto=False)
    a, b = bus.nodes
    bus.flush()
    x, y = a.connect(), b.connect()
    x.send(Nick(nick="Zed"))
    y.send(Nick(nick="zed"))
    # Both claims are queued before either is answered.
    assert isinstance(a.cluster.outbox[0], Claim)
    assert isinstance(b.cluster.outbox[0], Claim)
    bus.flush()
    codes = sorted(x.codes() + y.codes())
    assert codes == [218, 705]


def test_register_holds_the_name_across_nodes() -> None:
    bus = Bus(2, auto=False)
    a, b = bus.nodes
    bus.flush()
    x, y = a.connect(), b.connect()
    a.inline = False
    x.send(Register(user="Cy", password=PW))
    bus.step(a)  # the claim; hashing waits in a.jobs
    assert a.jobs
    y.send(Nick(nick="cy"))
    bus.flush()
    assert y.codes() == [705]
    a.run_jobs()
    bus.flush()
    assert x.codes() == [213]
    assert bus.names == {}
    # The account exists now: no guest may take it.
    y.send(Nick(nick="cy"))
    bus.flush()
    assert y.codes() == [703]


def test_register_loses_the_race_to_a_guest() -> None:
    bus = Bus(2, auto=False)
    a, b = bus.nodes
    bus.flush()
    x, y = a.connect(), b.connect()
    y.send(Nick(nick="Jo"))
    x.send(Register(user="jo", password=PW))
    assert bus.step(b)  # the guest's claim comes first
    bus.flush()
    assert y.codes() == [218]
    assert x.codes() == [703]
    assert "jo" not in a.core._claims


def test_register_claim_lost_or_failed() -> None:
    bus = Bus(2)
    a, b = bus.nodes
    bus.guest(b, "Dee")
    x = a.connect()
    assert x.ask(Register(user="dee", password=PW)).code == 703
    bus.set_down(True)
    assert x.ask(Register(user="eve", password=PW)).code == 710
    assert x.ask(Nick(nick="eve")).code == 710
    bus.set_down(False)
    assert x.ask(Register(user="eve", password=PW)).code == 213


def test_session_gone_before_claim_is_answered() -> None:
    bus = Bus(2, auto=False)
    a, b = bus.nodes
    bus.flush()
    x = a.connect()
    x.send(Nick(nick="Fay"))
    a.apply(a.core.disconnect(x.session))
    bus.flush()
    assert bus.names == {}
    y = a.connect()
    y.send(Register(user="Gus", password=PW))
    a.apply(a.core.disconnect(y.session))
    bus.flush()
    assert bus.names == {}
    assert "gus" not in a.core._claims
    z = b.connect()
    z.send(Nick(nick="Hal"))
    b.apply(b.core.disconnect(z.session))
    bus.set_down(True)
    bus.flush()  # the claim fails: nothing to release
    bus.set_down(False)
    assert bus.names == {}


def test_two_local_logins_of_one_account() -> None:
    bus = Bus(2)
    a, _ = bus.nodes
    x = a.connect()
    assert x.ask(Register(user="Ivy", password=PW)).code == 213
    a.inline = False
    bus.auto = False
    y = a.connect()
    x.send(Login(user="ivy", password=PW))
    y.send(Login(user="ivy", password=PW))
    a.run_jobs()
    bus.flush()
    assert sorted(x.codes() + y.codes()) == [214, 705]
    assert bus.names == {"ivy": "n0"}
