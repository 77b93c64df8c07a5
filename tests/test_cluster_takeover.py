"""Takeovers across nodes when the bus loses their events (PUB/SUB is at
most once): the heartbeat asks again, so the old session goes within one
heartbeat instead of waiting for the new client's ping timeout."""

from __future__ import annotations

import json

from libbatchat import Closing, Login, Offline, Online, Who
from libbatchat._cluster import TAKE_BEATS, Publish
from tests.cluster_harness import Bus, Node

PW = "pw pw"
LIVE = ["n0", "n1"]


def lose_next(node: Node, kind: str) -> dict[str, str]:
    """Drop ``node``'s next outbox operation, a publish of ``kind``."""
    op = node.cluster.outbox.popleft()
    assert isinstance(op, Publish)
    event: dict[str, str] = json.loads(op.data)
    assert event["k"] == kind
    return event


def test_a_lost_take_is_sent_again_on_the_next_heartbeat() -> None:
    bus = Bus(2)
    a, b = bus.nodes
    ana = bus.user(a, "Ana")
    bob = bus.guest(a, "Bob")
    bus.auto = False
    x = b.connect()
    x.send(Login(user="ana", password=PW))
    lost = lose_next(b, "take")
    assert lost["h"] == "n0"  # the node b's view says holds Ana
    bus.flush()
    assert not ana.closed and x.codes() == []
    bus.auto = True
    b.apply(b.cluster.alive(LIVE))  # the next heartbeat
    assert ana.closed
    assert [e.reason for e in ana.take() if isinstance(e, Closing)] == ["taken-over"]
    assert x.codes() == [214]
    assert bus.names == {"ana": "n1", "bob": "n0"}
    assert bob.pushes() == [Offline(user="Ana"), Online(user="Ana")]
    # Answered: later heartbeats ask nothing more.
    bus.auto = False
    b.apply(b.cluster.alive(LIVE))
    assert not b.cluster.outbox


def test_a_lost_offline_is_sent_again_by_the_asked_node() -> None:
    bus = Bus(3)
    a, b, c = bus.nodes
    ana = bus.user(a, "Ana")
    bus.auto = False
    x = b.connect()
    x.send(Login(user="ana", password=PW))
    bus.step(b)  # the take reaches every node: n0 closes Ana ...
    assert ana.closed
    # ... and frees her name, but the bus loses every event n0 publishes.
    kept = [op for op in a.cluster.outbox if not isinstance(op, Publish)]
    assert kept and len(kept) < len(a.cluster.outbox)
    a.cluster.outbox.clear()
    a.cluster.outbox.extend(kept)
    bus.flush()
    assert x.codes() == []
    # Ana is no longer n0's: asked again, n0 says she is offline; n2,
    # not asked, stays quiet.
    bus.auto = True
    b.apply(b.cluster.alive(["n0", "n1", "n2"]))
    assert x.codes() == [214]
    assert bus.names == {"ana": "n1"}
    assert bus.guest(c, "Cy").ask(Who()).text == "Ana Cy"


def test_a_takeover_nobody_answers_is_refused_after_some_heartbeats() -> None:
    bus = Bus(2)
    a, b = bus.nodes
    ana = bus.user(a, "Ana")
    bus.deaf = True  # every publish is lost on the way to the others
    x = b.connect()
    x.send(Login(user="ana", password=PW))
    for _ in range(TAKE_BEATS):
        b.apply(b.cluster.alive(LIVE))
        assert x.codes() == []
    b.apply(b.cluster.alive(LIVE))
    assert x.codes() == [705]
    assert not ana.closed
    bus.deaf = False
    b.apply(b.cluster.alive(LIVE))
    assert x.ask(Login(user="ana", password=PW)).code == 214
    assert ana.closed


def test_a_takeover_whose_login_has_gone_is_not_asked_again() -> None:
    bus = Bus(2)
    a, b = bus.nodes
    ana = bus.user(a, "Ana")
    bus.auto = False
    x = b.connect()
    x.send(Login(user="ana", password=PW))
    lose_next(b, "take")
    b.apply(b.core.disconnect(x.session))
    bus.flush()
    b.apply(b.cluster.alive(LIVE))
    assert not b.cluster.outbox  # no take asked again
    bus.flush()
    assert not ana.closed
    assert bus.names == {"ana": "n0"}
