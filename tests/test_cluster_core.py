"""Two and three ServerCores as one chat through an in-memory bus."""

from __future__ import annotations

import json
import logging
from dataclasses import replace

import pytest

from libbatchat import (
    Chat,
    Closing,
    Join,
    Joined,
    Left,
    Login,
    Message,
    Nick,
    Offline,
    Online,
    Part,
    Ping,
    Quit,
    Register,
    Rooms,
    Who,
)
from libbatchat._cluster import Claim, Cluster, Publish, Release
from tests.cluster_harness import Bus
from tests.server_harness import FAST

PW = "pw pw"
LINE = "FROM x {} 2026-09-21T12:00:00.000Z y\n"


def texts(client: object) -> list[str]:
    return [p.text for p in client.pushes() if isinstance(p, Message)]  # type: ignore[attr-defined]


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


def test_presence_past_presence_all_follows_rooms_and_contacts() -> None:
    # Past presence_all users in the whole cluster, a remote user's ONLINE and
    # OFFLINE reach only its local room mates and direct-message contacts.
    bus = Bus(2, limits=replace(FAST, presence_all=1))
    a, b = bus.nodes
    ana = bus.user(a, "Ana")
    ana.send(Join(room="#r"))
    cy = bus.guest(a, "Cy")
    bob = bus.guest(b, "Bob")
    assert ana.pushes() == [] and cy.pushes() == []
    assert ana.ask(Chat(target="bob", text="hi")).code == 215
    bob.send(Join(room="#r"), Join(room="#s"))
    assert ana.pushes() == [Joined(room="#r", user="Bob")]
    assert texts(bob) == ["hi"]
    bob.send(Quit())
    assert ana.pushes() == [Left(room="#r", user="Bob"), Offline(user="Bob")]
    assert cy.pushes() == []
    # Bob's node heard from Ana: a new Bob there is told when she goes.
    bob2 = bus.guest(b, "Bob")
    assert bob2.ask(Chat(target="ana", text="back")).code == 215
    ana.send(Quit())
    assert bob2.pushes() == [Offline(user="Ana")]


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


def test_presence_rooms_and_messages_cross_nodes() -> None:
    bus = Bus(3)
    a, b, c = bus.nodes
    ana = bus.user(a, "Ana")
    bob = bus.user(b, "Bob")
    assert ana.pushes() == []
    cy = bus.guest(c, "Cy")
    assert cy.pushes() == []
    bus.clear()
    dee = c.connect()
    assert dee.ask(Nick(nick="Dee")).code == 218
    assert ana.pushes() == [Online(user="Dee")]
    assert bob.pushes() == [Online(user="Dee")]
    assert cy.pushes() == [Online(user="Dee")]
    assert ana.ask(Who()).text == "Ana Bob Cy Dee"
    assert dee.ask(Who()).text == "Ana Bob Cy Dee"

    assert ana.ask(Join(room="#Sala")).text == "#Sala"
    assert bob.ask(Join(room="#sala")).text == "#Sala"
    assert ana.pushes() == [Joined(room="#Sala", user="Bob")]
    assert cy.ask(Join(room="#SALA")).text == "#Sala"
    assert bob.ask(Join(room="#sala")).code == 222
    assert ana.pushes() == [Joined(room="#Sala", user="Cy")]
    assert bob.pushes() == [Joined(room="#Sala", user="Cy")]
    assert dee.ask(Rooms()).text == "#Sala=3"
    assert dee.ask(Who(room="#sala")).text == "Ana Bob Cy"
    assert ana.ask(Who(room="#nope")).text == ""
    assert dee.ask(Join(room="#other")).code == 222
    assert ana.ask(Rooms()).text == "#other=1 #Sala=3"

    for i in range(3):
        assert ana.ask(Chat(target="#sala", text=f"r{i}")).code == 215
    assert texts(bob) == ["r0", "r1", "r2"]
    assert texts(cy) == ["r0", "r1", "r2"]
    assert texts(ana) == texts(dee) == []
    assert dee.ask(Chat(target="#sala", text="no")).code == 216
    # A room with no member elsewhere publishes nothing.
    sent = len(c.cluster.outbox)
    assert dee.ask(Chat(target="#other", text="alone")).code == 215
    assert len(c.cluster.outbox) == sent

    assert bob.ask(Chat(target="*", text="all")).code == 215
    assert texts(ana) == texts(cy) == texts(dee) == ["all"]
    assert texts(bob) == []
    assert ana.ask(Chat(target="dee", text="dm")).code == 215
    assert ana.ask(Chat(target="ana", text="me")).code == 215
    assert texts(dee) == ["dm"]
    assert texts(ana) == ["me"]
    assert texts(cy) == []
    (msg,) = [ana.ask(Chat(target="Bob", text="x")), *[]]
    assert msg.code == 215
    (got,) = bob.pushes()
    assert isinstance(got, Message) and got.sender == "Ana" and got.address == "@"
    assert ana.ask(Chat(target="nobody", text="x")).code == 216

    assert cy.ask(Part(room="#Sala")).code == 223
    assert ana.pushes() == [Left(room="#Sala", user="Cy")]
    assert bob.pushes() == [Left(room="#Sala", user="Cy")]
    bob.send(Quit())
    assert ana.pushes() == [Left(room="#Sala", user="Bob"), Offline(user="Bob")]
    assert cy.pushes() == [Offline(user="Bob")]
    assert dee.ask(Rooms()).text == "#other=1 #Sala=1"
    ana.send(Quit())
    assert dee.ask(Rooms()).text == "#other=1"
    assert cy.ask(Who()).text == "Cy Dee"


def test_a_new_node_learns_the_state() -> None:
    bus = Bus(1)
    (a,) = bus.nodes
    ana = bus.user(a, "Ana")
    ana.ask(Join(room="#R"))
    b = bus.add("n1")
    assert ana.pushes() == []
    x = bus.guest(b, "Xu")
    assert x.ask(Who()).text == "Ana Xu"
    assert x.ask(Rooms()).text == "#R=1"
    assert x.ask(Join(room="#r")).text == "#R"
    assert ana.pushes() == [Joined(room="#R", user="Xu")]


def test_a_killed_node_s_users_leave_everywhere() -> None:
    bus = Bus(3)
    a, b, c = bus.nodes
    ana = bus.user(a, "Ana")
    bob = bus.user(b, "Bob")
    ana.ask(Join(room="#R"))
    bob.ask(Join(room="#R"))
    ana.take()
    bus.kill(b)
    assert ana.pushes() == [Left(room="#R", user="Bob"), Offline(user="Bob")]
    assert ana.ask(Who()).text == "Ana"
    assert ana.ask(Rooms()).text == "#R=1"
    x = c.connect()
    assert x.ask(Login(user="bob", password=PW)).code == 214
    assert ana.pushes() == [Online(user="Bob")]
    # Liveness that still lists everyone changes nothing.
    a.apply(a.cluster.alive(["n0", "n2"]))
    assert ana.pushes() == []


def test_a_login_on_a_node_that_saw_the_kill_first() -> None:
    bus = Bus(3)
    a, b, c = bus.nodes
    ana = bus.user(a, "Ana")
    ana.send(Join(room="#R"))
    cy = bus.user(c, "Cy")
    cy.ask(Join(room="#R"))
    bus.clear()
    # n0 vanishes, and only n1's heartbeat has noticed when Ana logs in there.
    bus.nodes.remove(a)
    bus.names = {k: v for k, v in bus.names.items() if v != "n0"}
    waiting = c.connect()  # logging in as Ana on n2: it waits for her OFFLINE
    waiting.send(Login(user="ana", password=PW))
    b.apply(b.cluster.alive(["n1", "n2"]))
    again = b.connect()
    assert again.ask(Login(user="ana", password=PW)).code == 214
    # n1 won the name: n2's view of Ana on n0 is stale, and is replaced.
    assert cy.pushes() == [
        Left(room="#R", user="Ana"),
        Offline(user="Ana"),
        Online(user="Ana"),
    ]
    assert waiting.codes() == [705]  # the race for the account went to n1
    c.apply(c.cluster.alive(["n1", "n2"]))
    assert cy.pushes() == []
    assert cy.ask(Who()).text == "Ana Cy"
    assert bus.names == {"ana": "n1", "cy": "n2"}


def test_shutdown_frees_names_and_tells_the_others() -> None:
    bus = Bus(2)
    a, b = bus.nodes
    ana = bus.user(a, "Ana")
    bob = bus.user(b, "Bob")
    bob.ask(Join(room="#R"))
    ana.ask(Join(room="#R"))
    bob.take()
    a.apply(a.core.shutdown())
    assert bob.pushes() == [Left(room="#R", user="Ana"), Offline(user="Ana")]
    assert bus.names == {"bob": "n1"}


def test_bus_outage_and_resync() -> None:
    bus = Bus(2)
    a, b = bus.nodes
    ana = bus.user(a, "Ana")
    bus.user(b, "Bob")
    bus.set_down(True)
    assert a.cluster.link(False).sends == []  # no change: no second warning
    # A DM to another node's user is refused while the bus is away.
    assert ana.ask(Chat(target="bob", text="x")).code == 216
    assert ana.ask(Chat(target="ana", text="me")).code == 215
    c = b.connect()
    assert c.ask(Nick(nick="Kim")).code == 710
    bus.set_down(False)
    a.apply(a.cluster.link(True))
    assert ana.ask(Chat(target="bob", text="x")).code == 215


def test_name_taken_elsewhere_while_apart_is_resolved() -> None:
    bus = Bus(2)
    a, b = bus.nodes
    bus.deaf = True
    ana = bus.guest(a, "Ana")  # n1 never hears of her
    bus.names.clear()  # and the bus forgets every name (a restart)
    other = bus.guest(b, "ana")
    bus.deaf = False
    a.cluster.resync()
    b.cluster.resync()
    bus.flush()
    # One of the two must go: the one whose node re-claimed last.
    (push,) = [p for p in ana.take() if isinstance(p, Closing)]
    assert push.reason == "name-conflict"
    assert ana.closed and not other.closed
    assert bus.names == {"ana": "n1"}
    assert other.ask(Who()).text == "ana"


def test_resync_rebuilds_the_view() -> None:
    bus = Bus(2)
    a, b = bus.nodes
    ana = bus.user(a, "Ana")
    bob = bus.user(b, "Bob")
    bob.ask(Join(room="#R"))
    ana.ask(Join(room="#R"))
    bus.clear()
    bus.deaf = True
    bob.ask(Part(room="#R"))
    bob.ask(Join(room="#S"))
    bus.guest(b, "Cy")
    bus.deaf = False
    b.cluster.resync()
    bus.flush()
    assert ana.pushes() == [
        Left(room="#R", user="Bob"),
        Online(user="Cy"),
    ]
    assert ana.ask(Rooms()).text == "#R=1 #S=1"
    assert ana.ask(Who()).text == "Ana Bob Cy"
    assert bus.names == {"ana": "n0", "bob": "n1", "cy": "n1"}
    # A second resync changes nothing anyone can see.
    a.cluster.resync()
    bus.flush()
    assert ana.pushes() == []
    assert bob.pushes() == []


def test_bad_events_are_ignored(caplog: pytest.LogCaptureFixture) -> None:
    bus = Bus(1)
    (a,) = bus.nodes
    ana = bus.user(a, "Ana")
    caplog.set_level(logging.WARNING, "libbatchat.cluster")
    for data in (
        b"not json",
        b"[]",
        b'{"k": "on"}',
        b'{"n": "z", "k": "what"}',
        b'{"n": "z", "k": "on", "u": 5}',
        b'{"n": "z", "k": "all", "l": "ONLINE x"}',
        b'{"n": "z", "k": "all", "l": "NONSENSE"}',
    ):
        a.apply(a.cluster.receive(data))
    assert len(caplog.records) == 7
    assert ana.pushes() == []


def test_events_that_do_not_fit_the_view() -> None:
    bus = Bus(1)
    (a,) = bus.nodes
    ana = bus.user(a, "Ana")
    ana.ask(Join(room="#R"))

    def send(**event: object) -> None:
        a.apply(a.cluster.receive(json.dumps(event).encode()))

    send(n="z", k="on", u="ana")  # Ana is ours: a conflict, ignored
    send(n="z", k="on", u="Zoe")
    send(n="z", k="on", u="zoe")  # already known from that node
    send(n="y", k="off", u="zoe")  # not y's user
    send(n="y", k="join", r="#R", u="zoe")
    send(n="y", k="part", r="#R", u="zoe")
    send(n="z", k="part", r="#R", u="zoe")  # not a member
    send(n="z", k="join", r="#R", u="zoe")
    send(n="z", k="join", r="#r", u="zoe")  # already a member
    send(n="z", k="room", r="#nowhere", l=LINE.format("#nowhere"))
    send(n="z", k="dm", t="nobody", l=LINE.format("@"))
    send(n=a.cluster.node, k="all", l="ours: ignored\n")
    assert ana.pushes() == [Online(user="Zoe"), Joined(room="#R", user="Zoe")]
    assert a.cluster.outbox == type(a.cluster.outbox)()
    # An OFFLINE whose LEFTs were lost still empties the rooms first.
    send(n="z", k="off", u="zoe")
    assert ana.pushes() == [Left(room="#R", user="Zoe"), Offline(user="Zoe")]
    # Another node claimed a name the view has on z: z's hold was stale.
    send(n="z", k="on", u="Zed")
    send(n="y", k="on", u="zed")
    assert ana.pushes() == [Online(user="Zed"), Offline(user="Zed"), Online(user="zed")]
    assert a.cluster.who(None) == [("zed", "zed")]


def test_outbox_operations_are_data() -> None:
    assert Publish(b"x") == Publish(b"x")
    assert Release("k") == Release("k")
    assert Claim("k") != Claim("k")  # each claim is its own request
    bus = Bus(1)
    (a,) = bus.nodes
    out = a.cluster.claimed(Claim("stray"), True)
    assert out.sends == []


def test_replies_wait_for_the_bus_to_take_our_events() -> None:
    bus = Bus(2, auto=False)
    a, b = bus.nodes
    bus.flush()
    ana = a.connect()
    bob = b.connect()
    ana.send(Nick(nick="Ana"))
    bus.flush()
    ana.take()
    bob.send(Nick(nick="Bob"))
    bus.step(b)  # the claim: Bob is online on b, its ONLINE not yet out
    assert bob.replies() == []  # so PASS waits for the event to come back
    bob.send(Ping(token="t"))
    bus.flush()
    assert [r.code for r in bob.replies()] == [218, 224]
    assert ana.pushes() == [Online(user="Bob")]
    # A session gone while its reply waited is simply skipped.
    bob.send(Join(room="#R"))
    b.apply(b.core.disconnect(bob.session))
    bus.flush()
    assert ana.pushes() == [Offline(user="Bob")]
    # The bus lost: what waited is answered at once.
    cy = b.connect()
    cy.send(Nick(nick="Cy"))
    bus.step(b)
    cy.send(Join(room="#S"))
    assert cy.replies() == []
    b.apply(b.cluster.link(False))
    assert [r.code for r in cy.replies()] == [218, 222]


def test_a_synced_line_counts_once_before_login() -> None:
    bus = Bus(2)
    a, _ = bus.nodes
    x = a.connect()
    for _ in range(3):
        assert x.ask(Ping(token="p")).code == 224
    assert x.session._lines == 3


def test_reads_after_a_resync_wait_for_the_other_nodes_state() -> None:
    bus = Bus(2)
    a, b = bus.nodes
    ana = bus.user(a, "Ana")
    bob = bus.user(b, "Bob")
    bus.clear()
    bus.set_down(True)
    ana.ask(Join(room="#Local"))  # while apart: n1 never hears of it
    bus.set_down(False)
    bus.auto = False
    b.apply(b.cluster.link(True))
    b.cluster.resync()
    bus.step(b)  # n1's claim of Bob again
    bob.send(Who(room="#local"))
    while bus.step(b):
        pass  # n1's state and hello are out; n0 has not answered yet
    assert bob.replies() == []
    bus.flush()
    assert bob.replies()[0].text == "Ana"
    # A node that never answers is waited for only until liveness is judged.
    b.cluster.resync()
    bob.send(Who())
    bus.down = True  # a's answer is lost
    bus.flush()
    assert bob.replies() == []
    bus.down = False
    b.apply(b.cluster.alive(["n0", "n1"]))
    bus.flush()
    assert bob.replies()[0].text == "Ana Bob"
    # Or until the bus is lost again: then the node answers from its view.
    b.cluster.resync()
    bob.send(Rooms())
    bus.set_down(True)
    assert bob.replies()[0].text == "#Local=1"


def test_a_room_message_reaches_a_member_whose_join_is_still_on_the_bus() -> None:
    # Redis hands a publish to each subscriber in its own time: Bob's join
    # has come back to his node (so he has his reply) but not yet to Ana's
    # when she speaks. Her node must publish the message all the same.
    bus = Bus(2)
    a, b = bus.nodes
    ana, bob = bus.user(a, "Ana"), bus.user(b, "Bob")
    ana.send(Join(room="#r"))
    bus.clear()
    bus.auto = False
    bob.send(Join(room="#r"))
    held = []
    while b.cluster.outbox:
        op = b.cluster.outbox.popleft()
        assert isinstance(op, Publish)
        held.append(op.data)
        b.apply(b.cluster.receive(op.data))
    assert [r.code for r in bob.replies()] == [222]
    ana.send(Chat(target="#r", text="hi"))
    for data in held:
        a.apply(a.cluster.receive(data))
    bus.flush()
    assert texts(bob) == ["hi"]
