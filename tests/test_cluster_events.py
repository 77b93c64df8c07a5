"""ServerCores on an in-memory bus: bad or unfitting events, the outbox,
and replies ordered after the bus."""

from __future__ import annotations

import json
import logging

import pytest

from libbatchat import (
    Chat,
    Join,
    Joined,
    Left,
    Nick,
    Offline,
    Online,
    Ping,
    Rooms,
    Who,
)
from libbatchat._cluster import Claim, Publish, Release
from tests.cluster_harness import LINE, Bus, texts


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
