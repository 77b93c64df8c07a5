"""The classroom chats' own test cases (shared/seeds), in words every
dialect can say: with the messages/ cases for broadcast, a DM to its target
only and a DM to a missing user, these run on every dialect that has the
feature (docs/dialects.md lists which)."""

from __future__ import annotations

from libbatchat.conformance._engine import Trial, case
from libbatchat.conformance._model import (
    Cap,
    Guest,
    Login,
    Message,
    Offline,
    Outcome,
    Quit,
    Register,
    Send,
)
from libbatchat.conformance._session import CaseFailed, Session

REFUSED = (Outcome.NAME_ONLINE, Outcome.NAME_TAKEN, Outcome.BAD_CREDENTIALS)


@case(
    "seeds/duplicate-name-refused",
    "9.1",
    "a second session cannot take a name that is online (seed 003)",
    needs=[Cap.UNIQUE_NAMES],
)
def duplicate_name(t: Trial) -> None:
    a = t.user("a")
    name = a.name
    twin = t.connect("twin")
    if Cap.GUEST in t.dialect.capabilities:
        twin.do(Guest(nick=name), *REFUSED, what="the same nickname")
    else:
        # Accounts: registering the name again, or logging in a second time.
        twin.do(Register(user=name, password="other-pw"), *REFUSED)
        twin.do(Login(user=name, password="pw-s3cret"), *REFUSED)
    other = t.user("b")
    if Cap.DM in t.dialect.capabilities:
        # The first owner still owns the name: messages still reach it.
        text = t.text()
        other.do(Send(target=name, text=text), Outcome.SENT)
        a.expect(Message(sender=other.name, address="@", text=text))
    twin.quiet("the refused session got someone else's messages")


def _leave(t: Trial, s: Session) -> None:
    if Cap.QUIT in t.dialect.capabilities:
        s.do(Quit(), Outcome.BYE)
    else:
        s.close()


@case(
    "seeds/quit-leaves-others-told",
    "9.1",
    "a user who leaves is announced; the others stay connected (seeds 002-004)",
    needs=[Cap.PRESENCE],
)
def quit_told(t: Trial) -> None:
    a, b, c = t.users(3)
    _leave(t, c)
    for s in (a, b):
        s.expect(Offline(user=c.name), wait=t.timing.timeout)
    text = t.text()
    target = b.name if Cap.DM in t.dialect.capabilities else "*"
    a.do(Send(target=target, text=text), Outcome.SENT)
    address = "@" if target == b.name else "*"
    b.expect(Message(sender=a.name, address=address, text=text))
    if a.eof or b.eof:
        raise CaseFailed("a user leaving closed someone else's connection")
