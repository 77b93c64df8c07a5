"""Sections 3.3, 5.4, 5.6, 5.12, 7.3 and 10.8: help, helpful errors, list
pages, room limits, and partial lines that are no sign of life."""

from __future__ import annotations

import re

from libbatchat.conformance._engine import Trial, case
from libbatchat.conformance._model import (
    Cap,
    Help,
    Join,
    Leave,
    ListRooms,
    Outcome,
    Reply,
    Who,
)
from libbatchat.conformance._session import CaseFailed, CaseSkipped, Session


@case(
    "help/commands",
    "5.12",
    "AJUDA/HELP lists the commands before login and explains one",
    needs=[Cap.HELP],
)
def help_commands(t: Trial) -> None:
    s = t.connect()
    listed = s.do(Help(), Outcome.HELP).text
    words = set(re.split(r"[ |;:,]+", listed))
    for verb in ("NOVO", "ENTRAR", "APELIDO", "CHAT", "JUNTAR", "JOIN", "AJUDA"):
        if verb not in words:
            raise CaseFailed(f"AJUDA-225 does not list {verb}: {listed!r}")
    for word in ("JOIN", "juntar", "/join"):
        text = s.do(Help(command=word), Outcome.HELP, what=f"HELP {word}").text
        if "JUNTAR" not in text or "#" not in text:
            raise CaseFailed(f"HELP {word} should give JUNTAR's usage: {text!r}")
    s.do(Help(command=t.name("nosuch")), Outcome.UNKNOWN_COMMAND)


@case(
    "grammar/errors-say-what-next",
    "3.3",
    "ERRO-999, ERRO-702 and ERRO-700 say what to do instead",
    needs=[Cap.GRAMMAR, Cap.HELP],
)
def errors_say_what_next(t: Trial) -> None:
    s = t.connect()
    text = s.line("/help", Outcome.UNKNOWN_COMMAND).text
    if "HELP" not in text:
        raise CaseFailed(f"ERRO-999 should point to HELP: {text!r}")
    text = s.line("LISTA", Outcome.NOT_LOGGED_IN).text
    if not all(v in text for v in ("ENTRAR", "NOVO", "APELIDO")):
        raise CaseFailed(f"ERRO-700 should say how to log in: {text!r}")
    text = s.line("JOIN geral", Outcome.INVALID_ARGS).text
    if not all(v in text for v in ("JUNTAR", "JOIN", "#")):
        raise CaseFailed(f"ERRO-702 should give both spellings and the '#': {text!r}")


@case(
    "rooms/per-session-limit",
    "10.8",
    "a session in rooms-per-session rooms gets ERRO-711 for one more",
    needs=[Cap.ROOMS, Cap.ROOM_LIMITS, Cap.GREETING],
)
def per_session_limit(t: Trial) -> None:
    limit = int(t.limit("rooms-per-session"))
    if limit > 200:
        raise CaseSkipped(f"rooms-per-session={limit}: too many rooms to fill here")
    burst, rate = t.limit("burst"), t.limit("rate")
    t.need(max(0.0, limit + 4 - burst) / rate + t.timing.timeout, "joining the rooms")
    s = t.user()
    rooms = [t.room() for _ in range(limit + 1)]
    _join_all(s, rooms[:limit])
    s.do(Join(room=rooms[limit]), Outcome.TOO_MANY_ROOMS, what="one room too many")
    s.do(Join(room=rooms[0]), Outcome.JOINED, what="a room it is in")
    s.do(Leave(room=rooms[0]), Outcome.PARTED)
    s.do(Join(room=rooms[limit]), Outcome.JOINED, what="after leaving one")


def _join_all(s: Session, rooms: list[str]) -> None:
    data = "".join(f"JUNTAR {r}\n" for r in rooms).encode()
    s.send_raw(data, replies=len(rooms), what=f"{len(rooms)} JUNTAR")
    for room in rooms:
        s.reply(Outcome.JOINED, what=f"JUNTAR {room}")


def _fits(reply: Reply, max_line: float) -> None:
    size = len(reply.code) + 1 + len(reply.text.encode()) + 1
    if size > max_line:
        raise CaseFailed(f"{reply.code} of {size} bytes, over max-line {max_line:g}")


@case(
    "lists/rooms-paged",
    "5.6",
    "SALAS replies fit in max-line and page through every room",
    needs=[Cap.ROOMS, Cap.ROOM_LIST, Cap.PAGING, Cap.GREETING, Cap.GRAMMAR],
)
def rooms_paged(t: Trial) -> None:
    max_line = t.limit("max-line")
    per = int(t.limit_or("rooms-per-session", 50))
    # Rooms with long names, enough that one line cannot hold them all.
    stem = "x" * max(0, 28 - len(t.prefix))
    wanted = int(max_line // (len(t.prefix) + len(stem) + 8)) + 10
    if wanted > 2000 or wanted > t.limit_or("max-rooms", 5000) // 2:
        raise CaseSkipped(f"max-line={max_line:g} needs {wanted} rooms to overflow")
    burst, rate = t.limit("burst"), t.limit("rate")
    t.need(
        max(0.0, min(per, wanted) - burst) / rate + t.timing.timeout * 2,
        f"joining {wanted} rooms",
    )
    sessions = [t.user(f"j{i}") for i in range(-(-wanted // per))]
    rooms = [t.room(stem) for _ in range(wanted)]
    batches = [rooms[i : i + per] for i in range(0, wanted, per)]
    for s, batch in zip(sessions, batches, strict=True):
        data = "".join(f"JUNTAR {r}\n" for r in batch).encode()
        s.send_raw(data, replies=len(batch), what=f"{len(batch)} JUNTAR")
    for s, batch in zip(sessions, batches, strict=True):
        for room in batch:
            s.reply(Outcome.JOINED, what=f"JUNTAR {room}")
    seen: list[str] = []
    reply = sessions[0].do(ListRooms(), Outcome.ROOMS)
    pages = 1
    for _ in range(10_000):
        _fits(reply, max_line)
        seen += [room for room, _ in reply.rooms]
        if not reply.more:
            break
        if not reply.rooms:
            raise CaseFailed(f"{reply.code} says +{reply.more} but lists no room")
        reply = sessions[0].do(ListRooms(after=seen[-1]), Outcome.ROOMS)
        pages += 1
    ours = [r for r in seen if r.casefold().startswith("#" + t.prefix.casefold())]
    if sorted(ours) != sorted(rooms) or len(set(seen)) != len(seen):
        raise CaseFailed(
            f"{pages} pages showed {len(ours)} of our {wanted} rooms "
            f"({len(seen) - len(set(seen))} repeated)"
        )
    if pages < 2:
        raise CaseFailed(f"{wanted} long room names fit in one {reply.code}")


@case(
    "lists/who-after",
    "5.4",
    "LISTA * <name> lists the names after it",
    needs=[Cap.WHO, Cap.PAGING],
)
def who_after(t: Trial) -> None:
    users = t.users(3)
    names = sorted((u.name or "" for u in users), key=str.casefold)
    after = _pages(users[0], names[0])
    if names[0] in after or not set(names[1:]) <= set(after):
        raise CaseFailed(f"LISTA * {names[0]} should list {names[1:]}, got {after}")


def _pages(s: Session, after: str) -> list[str]:
    """The names listed after ``after``, through every page."""
    seen: list[str] = []
    reply = s.do(Who(room="*", after=after), Outcome.USERS)
    for _ in range(1000):
        seen += reply.users
        if not reply.more or not reply.users:
            break
        reply = s.do(Who(room="*", after=reply.users[-1]), Outcome.USERS)
    return seen


@case(
    "liveness/partial-line",
    "7.3",
    "bytes that never end a line are no sign of life: CLOSING ping-timeout",
    needs=[Cap.SERVER_PING, Cap.CLOSING, Cap.GRAMMAR],
)
def partial_line(t: Trial) -> None:
    interval, timeout = t.limit("ping"), t.limit("ping-timeout")
    t.need(timeout + t.timing.timeout, "waiting for the ping timeout")
    s = t.user()
    s.auto_pong = False
    s.send_raw(b"CHAT * no end", what="a line begun")
    s.read_for(interval + t.timing.timeout / 2)
    if not s.server_pings:
        raise CaseFailed(f"no PING push after {interval:g}s without a line")
    # A byte after the PING: a server counting bytes as life would wait on.
    s.send_raw(b"x", what="one more byte")
    s.expect_closed("ping-timeout", within=timeout + t.timing.timeout)
