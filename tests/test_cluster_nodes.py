"""ServerCores on an in-memory bus: presence, rooms and messages across
nodes; nodes joining, killed, shut down; bus outages and resyncs."""

from __future__ import annotations

from dataclasses import replace

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
    Quit,
    Rooms,
    Who,
)
from tests.cluster_harness import PW, Bus, texts
from tests.server_harness import FAST


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
