"""Sections 7 and 9: pushes, presence, rooms and messages (the classroom
chats' own tests among them)."""

from __future__ import annotations

import datetime

from libbatchat.conformance._engine import Trial, case
from libbatchat.conformance._model import (
    Cap,
    Join,
    Joined,
    Leave,
    Left,
    Login,
    Message,
    Offline,
    Online,
    Outcome,
    Quit,
    Send,
)
from libbatchat.conformance._session import CaseFailed, Session

# The password ``Trial.account`` gives an account unless told otherwise.
PASSWORD = "pw-s3cret"


def _contacts(a: Session, b: Session, text: str) -> None:
    """``a`` messages ``b`` directly: each now hears the other come and go,
    on a server of any size (9.1)."""
    a.do(Send(target=b.name or "", text=text), Outcome.SENT)
    b.expect(Message(sender=a.name, address="@", text=text))


def _back(t: Trial, gone: Session, label: str) -> Session:
    """A new session under ``gone``'s name, logged in as ``t.user`` did."""
    name = gone.name or ""
    if Cap.GUEST in t.dialect.capabilities:
        return t.guest(label, name=name)
    back = t.connect(label)
    back.do(Login(user=name, password=PASSWORD), Outcome.LOGGED_IN)
    back.name = name
    return back


@case(
    "pushes/kinds",
    "7.1",
    "each push kind arrives as section 7.1 spells it",
    needs=[Cap.PRESENCE, Cap.ROOMS, Cap.ROOM_NOTICES, Cap.DM],
)
def kinds(t: Trial) -> None:
    a, b = t.users(2)
    text = t.text()
    b.do(Send(target=a.name or "", text=text), Outcome.SENT)
    a.expect(Message(sender=b.name, address="@", text=text))
    room = t.room()
    a.do(Join(room=room), Outcome.JOINED)
    b.do(Join(room=room), Outcome.JOINED)
    a.expect(Joined(room=room, user=b.name))
    b.do(Leave(room=room), Outcome.PARTED)
    a.expect(Left(room=room, user=b.name))
    b.do(Quit(), Outcome.BYE)
    a.expect(Offline(user=b.name))
    _back(t, b, "b2")
    a.expect(Online(user=b.name))
    a.quiet()


@case(
    "pushes/from-time",
    "7.2",
    "FROM carries the server's UTC time with milliseconds",
    needs=[Cap.DM, Cap.TIMESTAMPS],
)
def from_time(t: Trial) -> None:
    a, b = t.users(2)
    text = t.text()
    a.do(Send(target=b.name or "", text=text), Outcome.SENT)
    got = b.expect(Message(sender=a.name, address="@", text=text))
    assert isinstance(got, Message)
    try:
        datetime.datetime.strptime(got.time or "", "%Y-%m-%dT%H:%M:%S.%fZ")
    except ValueError:
        raise CaseFailed(f"FROM time {got.time!r} is not a valid UTC time") from None


@case(
    "presence/online-notice",
    "9.1",
    "logging in tells ONLINE to those who exchanged messages with the name",
    needs=[Cap.PRESENCE, Cap.ACCOUNTS, Cap.DM],
)
def online(t: Trial) -> None:
    a, b = t.users(2)
    d = t.account("d")
    # A small server told everyone about d's first login; a larger one need
    # not have, as no one had chatted with d yet. Either way, forget it.
    for s in (a, b):
        s.settle()
    # One contact made each way: a wrote to d, d wrote to b.
    _contacts(a, d, t.text())
    _contacts(d, b, t.text())
    d.do(Quit(), Outcome.BYE)
    for s in (a, b):
        s.expect(Offline(user=d.name))
    d2 = t.connect("d2")
    d2.do(Login(user=d.name or "", password=PASSWORD), Outcome.LOGGED_IN)
    d2.name = d.name
    for s in (a, b):
        s.expect(Online(user=d.name))
        s.quiet()
    d2.quiet("one's own ONLINE is not pushed to oneself")


@case(
    "presence/quit-notice",
    "9.1",
    "quitting leaves the others connected and tells its contacts OFFLINE",
    needs=[Cap.PRESENCE, Cap.PING, Cap.DM],
)
def quit_notice(t: Trial) -> None:
    a, b, c = t.users(3)
    _contacts(c, a, t.text())
    _contacts(b, c, t.text())
    c.do(Quit(), Outcome.BYE)
    c.expect_closed(None)
    for s in (a, b):
        s.expect(Offline(user=c.name))
        s.quiet()
    a.do(Send(target=b.name or "", text=t.text()), Outcome.SENT)


def _dropped(t: Trial, reset: bool) -> None:
    a, b = t.users(2)
    room = t.room()
    a.do(Join(room=room), Outcome.JOINED)
    b.do(Join(room=room), Outcome.JOINED)
    a.settle()
    b.close(reset=reset)
    # No barrier can tell when the server notices a drop: wait for it.
    a.expect(Left(room=room, user=b.name), "LEFT before OFFLINE", wait=t.timing.timeout)
    a.expect(Offline(user=b.name), wait=t.timing.timeout)
    a.quiet("a drop gives exactly the notices SAIR would")


@case(
    "presence/abrupt-disconnect",
    "9.1",
    "a dropped connection gives the notices SAIR would",
    needs=[Cap.PRESENCE, Cap.ROOMS, Cap.ROOM_NOTICES],
)
def abrupt(t: Trial) -> None:
    _dropped(t, reset=False)


@case(
    "presence/reset-disconnect",
    "9.1",
    "a reset connection gives the notices SAIR would",
    needs=[Cap.PRESENCE, Cap.ROOMS, Cap.ROOM_NOTICES],
)
def reset(t: Trial) -> None:
    _dropped(t, reset=True)


@case(
    "presence/left-before-offline",
    "9.1",
    "ending a session leaves its rooms first (LEFT, then OFFLINE)",
    needs=[Cap.PRESENCE, Cap.ROOMS, Cap.ROOM_NOTICES],
)
def left_first(t: Trial) -> None:
    a, b = t.users(2)
    room = t.room()
    a.do(Join(room=room), Outcome.JOINED)
    b.do(Join(room=room), Outcome.JOINED)
    a.settle()
    b.do(Quit(), Outcome.BYE)
    a.sync()
    a.read_for(t.timing.grace)
    got = a.take_all()
    want = [Left(room=room, user=b.name or ""), Offline(user=b.name or "")]
    if got != want:
        raise CaseFailed(f"after SAIR expected {want}, got {got}")


@case(
    "rooms/join-leave-notices",
    "9.2",
    "members are told JOINED and LEFT; the user itself is not",
    needs=[Cap.ROOMS, Cap.ROOM_NOTICES],
)
def join_leave(t: Trial) -> None:
    a, b, c = t.users(3)
    room = t.room()
    a.do(Join(room=room), Outcome.JOINED)
    b.do(Join(room=room), Outcome.JOINED)
    a.expect(Joined(room=room, user=b.name))
    c.do(Join(room=room), Outcome.JOINED)
    a.expect(Joined(room=room, user=c.name))
    b.expect(Joined(room=room, user=c.name))
    c.do(Leave(room=room), Outcome.PARTED)
    a.expect(Left(room=room, user=c.name))
    b.expect(Left(room=room, user=c.name))
    for s in (a, b, c):
        s.quiet()


@case(
    "rooms/notices-stay-in-room",
    "9.2",
    "room notices reach only that room's members",
    needs=[Cap.ROOMS, Cap.ROOM_NOTICES],
)
def notices_stay(t: Trial) -> None:
    a, b, out = t.users(3)
    room, other = t.room(), t.room()
    out.do(Join(room=other), Outcome.JOINED)
    a.do(Join(room=room), Outcome.JOINED)
    b.do(Join(room=room), Outcome.JOINED)
    b.do(Leave(room=room), Outcome.PARTED)
    a.expect(Joined(room=room, user=b.name))
    a.expect(Left(room=room, user=b.name))
    out.quiet("notices of a room one is not in")


@case(
    "rooms/leave-on-quit",
    "9.2",
    "ending a session tells its rooms LEFT",
    needs=[Cap.ROOMS, Cap.ROOM_NOTICES],
)
def leave_on_quit(t: Trial) -> None:
    a, b = t.users(2)
    r1, r2 = t.room(), t.room()
    for r in (r1, r2):
        a.do(Join(room=r), Outcome.JOINED)
        b.do(Join(room=r), Outcome.JOINED)
    a.settle()
    b.do(Quit(), Outcome.BYE)
    a.expect(Left(room=r1, user=b.name))
    a.expect(Left(room=r2, user=b.name))


@case(
    "messages/broadcast",
    "9.3",
    "a broadcast reaches everyone but the sender",
    needs=[Cap.BROADCAST],
)
def broadcast(t: Trial) -> None:
    a, b, c = t.users(3)
    text = t.text()
    a.do(Send(target="*", text=text), Outcome.SENT)
    for s in (b, c):
        s.expect(Message(sender=a.name, address="*", text=text))
    for s in (a, b, c):
        s.quiet("messages are never echoed to the sender" if s is a else "")


@case(
    "messages/broadcast-not-to-anonymous",
    "9.3",
    "a broadcast does not reach sessions not logged in",
    needs=[Cap.BROADCAST],
)
def broadcast_anon(t: Trial) -> None:
    a = t.user()
    anon = t.connect()
    a.do(Send(target="*", text=t.text()), Outcome.SENT)
    anon.quiet("a session not logged in got a broadcast")


@case("messages/dm-only-target", "9.3", "a DM reaches only its target", needs=[Cap.DM])
def dm_only(t: Trial) -> None:
    a, b, c = t.users(3)
    text = t.text()
    a.do(Send(target=b.name or "", text=text), Outcome.SENT)
    b.expect(Message(sender=a.name, address="@", text=text))
    for s in (a, b, c):
        s.quiet()


@case("messages/dm-self", "9.3", "a DM to oneself works", needs=[Cap.DM])
def dm_self(t: Trial) -> None:
    a = t.user()
    text = t.text()
    a.do(Send(target=a.name or "", text=text), Outcome.SENT)
    a.expect(Message(sender=a.name, address="@", text=text))
    a.quiet()


@case(
    "messages/dm-missing-user",
    "9.3",
    "a DM to a missing user gives the sender alone an error",
    needs=[Cap.DM],
)
def dm_missing(t: Trial) -> None:
    a, b = t.users(2)
    a.do(Send(target=t.name("gone"), text=t.text()), Outcome.NOT_SENT)
    for s in (a, b):
        s.quiet()
    b.do(Send(target=a.name or "", text=t.text()), Outcome.SENT)


@case(
    "messages/room",
    "9.3",
    "a room message reaches every member but the sender",
    needs=[Cap.ROOMS],
)
def room_message(t: Trial) -> None:
    a, b, c, out = t.users(4)
    room = t.room()
    for s in (a, b, c):
        s.do(Join(room=room), Outcome.JOINED)
    for s in (a, b, c):
        s.settle()
    text = t.text()
    a.do(Send(target=room, text=text), Outcome.SENT)
    for s in (b, c):
        s.expect(Message(sender=a.name, address=room, text=text))
    for s in (a, b, c, out):
        s.quiet()


@case(
    "messages/rooms-never-leak", "9.3", "messages never cross rooms", needs=[Cap.ROOMS]
)
def no_leak(t: Trial) -> None:
    a, b, c, d = t.users(4)
    r1, r2 = t.room(), t.room()
    for s in (a, b):
        s.do(Join(room=r1), Outcome.JOINED)
    for s in (c, d):
        s.do(Join(room=r2), Outcome.JOINED)
    for s in (a, b, c, d):
        s.settle()
    t1, t2 = t.text("one"), t.text("two")
    a.do(Send(target=r1, text=t1), Outcome.SENT)
    c.do(Send(target=r2, text=t2), Outcome.SENT)
    b.expect(Message(sender=a.name, address=r1, text=t1))
    d.expect(Message(sender=c.name, address=r2, text=t2))
    for s in (a, b, c, d):
        s.quiet("a message crossed rooms")


@case(
    "messages/non-member-refused",
    "9.3",
    "only members may send to a room",
    needs=[Cap.ROOMS],
)
def non_member(t: Trial) -> None:
    a, out = t.users(2)
    room = t.room()
    a.do(Join(room=room), Outcome.JOINED)
    a.settle()
    out.do(Send(target=room, text=t.text()), Outcome.NOT_SENT)
    a.quiet()
