"""Who hears ONLINE and OFFLINE (protocol.md 9.1): everyone on a small server,
the people a user chats with on a larger one, and never N^2 lines."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from libbatchat import Chat, Join, Left, Nick, Offline, Online, Quit
from libbatchat._presence import Contacts
from tests.server_harness import FAST, Client, Net

# Two sessions count as a small server: past that, contacts only.
SMALL = replace(FAST, presence_all=2)


def guest(net: Net, nick: str) -> Client:
    # Loopback: exempt from the per-address cap, so crowds can be large.
    c = net.connect("127.0.0.1:1")
    assert c.ask(Nick(nick=nick)).code == 218
    return c


def crowd(net: Net, *nicks: str) -> list[Client]:
    clients = [guest(net, n) for n in nicks]
    for c in clients:
        c.take()
    return clients


# -- the contacts table ----------------------------------------------------------


def test_contacts_follow_both_ways_by_name() -> None:
    contacts: Contacts[str] = Contacts()
    contacts.exchanged("s1", "ana", "s2", "bia")
    assert list(contacts.followers("ana")) == ["s2"]
    assert list(contacts.followers("bia")) == ["s1"]
    assert list(contacts.followers("caio")) == []
    assert len(contacts) == 2
    contacts.forget("s1")
    assert list(contacts.followers("bia")) == []
    # s2 still follows ana, whose session (s1) is gone: the tie is to the name.
    assert list(contacts.followers("ana")) == ["s2"]
    assert contacts.follows("s1") == ()
    contacts.forget("s1")
    assert len(contacts) == 1


def test_contacts_drop_the_least_recently_used() -> None:
    contacts: Contacts[str] = Contacts(limit=2)
    contacts.exchanged("me", "me", "x1", "a")
    contacts.exchanged("me", "me", "x2", "b")
    contacts.exchanged("me", "me", "x1", "a")  # a is fresh again
    contacts.exchanged("me", "me", "x3", "c")
    assert contacts.follows("me") == ("a", "c")
    assert list(contacts.followers("b")) == []
    # Those who messaged "me" still follow it: only me's list has a limit.
    assert list(contacts.followers("me")) == ["x1", "x2", "x3"]


# -- the server ------------------------------------------------------------------


_SESSIONS = ["s1", "s2", "s3", "s4"]
_steps = st.lists(
    st.tuples(
        st.sampled_from(["exchanged", "follow", "forget"]),
        st.sampled_from(_SESSIONS),
        st.sampled_from(_SESSIONS),
    ),
    max_size=40,
)


@given(steps=_steps)
def test_exchanged_is_following_both_ways(steps: list[tuple[str, str, str]]) -> None:
    # exchanged() skips the work when each is the other's latest contact
    # already; against two follow() calls, nothing may tell the difference
    # (the order of contacts decides what the limit evicts).
    fast: Contacts[str] = Contacts(limit=2)
    slow: Contacts[str] = Contacts(limit=2)
    for step, a, b in steps:
        if step == "forget":
            fast.forget(a)
            slow.forget(a)
        elif step == "follow":
            fast.follow(a, b.upper())
            slow.follow(a, b.upper())
        elif a != b:
            fast.exchanged(a, a.upper(), b, b.upper())
            slow.follow(a, b.upper())
            slow.follow(b, a.upper())
        for s in _SESSIONS:
            assert fast.follows(s) == slow.follows(s)
            assert list(fast.followers(s.upper())) == list(slow.followers(s.upper()))


def test_small_server_tells_everyone() -> None:
    net = Net(SMALL)
    (ana,) = crowd(net, "ana")
    guest(net, "bia")
    assert ana.pushes() == [Online(user="bia")]


def test_past_the_threshold_strangers_are_not_told() -> None:
    net = Net(SMALL)
    ana, bia = crowd(net, "ana", "bia")
    caio = guest(net, "caio")
    assert ana.pushes() == [] and bia.pushes() == []
    caio.send(Quit())
    assert ana.pushes() == [] and bia.pushes() == []


@pytest.mark.parametrize("writer", ["ana", "caio"])
def test_direct_message_contacts_see_each_other_come_and_go(writer: str) -> None:
    # Sending a message and receiving one both make a contact.
    net = Net(SMALL)
    ana, bia, caio = crowd(net, "ana", "bia", "caio")
    sender, receiver = (ana, caio) if writer == "ana" else (caio, ana)
    assert sender.ask(Chat(target=receiver.session._name, text="oi")).code == 215
    receiver.take()
    caio.send(Quit())
    assert ana.pushes() == [Offline(user="caio")]
    assert bia.pushes() == []
    # ana follows the name, so caio's next session is announced to her.
    guest(net, "Caio")
    assert ana.pushes() == [Online(user="Caio")]
    assert bia.pushes() == []


def test_room_mates_get_left_then_offline_once() -> None:
    net = Net(SMALL)
    ana, bia, caio = crowd(net, "ana", "bia", "caio")
    for c in (ana, caio):
        c.ask(Join(room="#a"))
        c.ask(Join(room="#b"))
    assert ana.ask(Chat(target="caio", text="oi")).code == 215
    for c in (ana, caio):
        c.take()
    caio.send(Quit())
    # A mate of two rooms and a contact besides: OFFLINE still comes once.
    assert ana.pushes() == [
        Left(room="#a", user="caio"),
        Left(room="#b", user="caio"),
        Offline(user="caio"),
    ]
    assert bia.pushes() == []


def test_a_follower_that_ended_is_not_told() -> None:
    net = Net(SMALL)
    ana, bia, caio, _ = crowd(net, "ana", "bia", "caio", "dora")
    assert ana.ask(Chat(target="caio", text="oi")).code == 215
    ana.send(Quit())
    for c in (bia, caio):
        c.take()
    caio.send(Quit())
    assert bia.pushes() == []
    assert len(net.core._contacts) == 0


def test_a_message_to_oneself_makes_no_contact() -> None:
    net = Net(SMALL)
    ana, _, _ = crowd(net, "ana", "bia", "caio")
    assert ana.ask(Chat(target="ana", text="note")).code == 215
    assert len(net.core._contacts) == 0


def test_logins_past_the_threshold_cost_nothing_each() -> None:
    # The storm the old rule made quadratic: 300 logins, 2 told about each.
    net = Net(SMALL)
    crowd(net, *(f"u{i}" for i in range(300)))
    sent = [d for out in net.outputs for _, d in out.sends]
    # u1's login, while u0 alone was online, is the only one announced.
    assert [d for d in sent if d.startswith(b"ONLINE")] == [b"ONLINE u1\n"]
