"""Sections 3.4, 3.5 and 5.2: names that cannot impersonate, and takeover."""

from __future__ import annotations

from libbatchat.conformance._engine import Trial, case
from libbatchat.conformance._model import (
    Cap,
    Guest,
    Join,
    Joined,
    Login,
    Message,
    Outcome,
    Register,
    Send,
)
from libbatchat.conformance._session import CaseFailed, Session

# Latin letters and the Cyrillic letters drawn the same (UTS #39 confusables).
_CYRILLIC = str.maketrans("aceopx", "\u0430\u0441\u0435\u043e\u0440\u0445")


def _alike(name: str) -> list[str]:
    """Spellings of ``name`` (which holds an "a") that look like it: Cyrillic
    letters, fullwidth
    characters (U+FF01 on), and a different case."""
    cyrillic = name.translate(_CYRILLIC)
    fullwidth = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in name)
    return [cyrillic, fullwidth, name.upper()]


def _refuses_alike(s: Session, name: str, refusal: Outcome, code: str) -> None:
    """Every look-alike of ``name`` is refused as a nick (``refusal``, the
    reply naming ``name`` unless only the case differs) and as an account."""
    for other in _alike(name):
        reply = s.do(Guest(nick=other), refusal, what=f"APELIDO {other}")
        if other != name.upper() and name not in reply.text:
            raise CaseFailed(f"{code} should name {name}: {reply.text!r}")
        s.do(
            Register(user=other, password="pw s3cret"),
            Outcome.NAME_TAKEN,
            what=f"NOVO {other}",
        )


@case(
    "names/invisible-characters",
    "3.4",
    "a name with an invisible character (joiner, selector, filler) is refused",
    needs=[Cap.GUEST, Cap.NAME_RULES],
)
def invisible(t: Trial) -> None:
    base = t.name("ana")
    s = t.connect()
    for hidden in ("\u034f", "\ufe0f", "\u200b", "\u3164", "\u115f"):
        s.do(
            Guest(nick=base + hidden),
            Outcome.INVALID_ARGS,
            what=f"APELIDO {base}+U+{ord(hidden):04X}",
        )
    s.do(Guest(nick="\u3164\u3164"), Outcome.INVALID_ARGS, what="APELIDO of fillers")
    s.do(Guest(nick=base), Outcome.NICK_OK, what="the name without them")


@case(
    "names/real-names-welcome",
    "3.4",
    "names in any script are accepted",
    needs=[Cap.GUEST, Cap.NAME_RULES],
)
def welcome(t: Trial) -> None:
    for hint in ("Jo\u00e3o", "Z\u00e9", "\u03a9mega", "\u674e\u96f7"):
        t.guest(name=t.name(hint))


@case(
    "names/look-alike-online",
    "3.5",
    "a name that looks like one online is refused (ERRO-705, naming it)",
    needs=[Cap.GUEST, Cap.ACCOUNTS, Cap.NAME_RULES],
)
def alike_online(t: Trial) -> None:
    owner = t.guest(name=t.name("ana"))
    name = owner.name or ""
    _refuses_alike(t.connect(), name, Outcome.NAME_ONLINE, "ERRO-705")


@case(
    "names/look-alike-registered",
    "3.5",
    "a name that looks like a registered account is refused (ERRO-703)",
    needs=[Cap.GUEST, Cap.ACCOUNTS, Cap.NAME_RULES],
)
def alike_registered(t: Trial) -> None:
    name = t.name("ana")
    s = t.connect()
    s.do(Register(user=name, password="pw s3cret"), Outcome.REGISTERED)
    _refuses_alike(s, name, Outcome.NAME_TAKEN, "ERRO-703")


@case(
    "login/takeover",
    "5.2",
    "ENTRAR to an online account takes it over; no one else sees a thing",
    needs=[Cap.ACCOUNTS, Cap.TAKEOVER, Cap.ROOMS, Cap.PRESENCE, Cap.CLOSING],
)
def takeover(t: Trial) -> None:
    room = t.room()
    old = t.account("old", password="pw s3cret")
    name = old.name or ""
    old.do(Join(room=room), Outcome.JOINED)
    watcher = t.user("watcher")
    watcher.do(Join(room=room), Outcome.JOINED)
    watcher.settle()
    old.settle()
    new = t.connect("new")
    reply = new.do(Login(user=name, password="pw s3cret"), Outcome.LOGGED_IN)
    if reply.text != name:
        raise CaseFailed(f"PASS-214 should name {name}: {reply.text!r}")
    new.expect(Joined(room=room, user=name), "JOINED for itself in the room it holds")
    old.expect_closed("taken-over")
    watcher.quiet("a takeover must not show as OFFLINE/ONLINE or LEFT/JOINED")
    text = t.text()
    watcher.do(Send(target=room, text=text), Outcome.SENT)
    new.expect(Message(sender=watcher.name or "", address=room, text=text))
