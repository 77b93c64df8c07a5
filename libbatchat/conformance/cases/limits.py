"""Sections 4.3, 7.3, 7.4, 10 and 12: limits, liveness, refusals and the
spec's own example. Cases that must wait for a server clock are skipped when
the wait exceeds the run's budget."""

from __future__ import annotations

import time

from libbatchat.conformance._engine import Trial, case
from libbatchat.conformance._model import (
    Cap,
    Join,
    Joined,
    Left,
    Login,
    Message,
    Offline,
    Online,
    Outcome,
    Ping,
    Quit,
    Register,
    Send,
    Who,
)
from libbatchat.conformance._session import CaseFailed, CaseSkipped

_REASONS = {
    "shutdown",
    "line-too-long",
    "too-many-lines",
    "login-timeout",
    "ping-timeout",
    "send-queue",
    "too-many-connections",
    "taken-over",
}


def _refused(t: Trial) -> None:
    """Open connections until one is refused for its address."""
    for _ in range(64):
        s = t.connect(greet=False)
        s.wait_greeting()
        if s.closing is not None:
            if s.greeting is not None:
                raise CaseFailed("a refused connection should get no greeting")
            if s.closing.reason != "too-many-connections":
                raise CaseFailed(f"refused with CLOSING {s.closing.reason}")
            s.expect_closed("too-many-connections")
            _release(t)
            return
    raise CaseSkipped(
        "64 connections were all accepted: no limit below that, or this "
        "address is exempt; to run it, start the server with "
        "--no-exempt-loopback (and --max-per-ip below 64)"
    )


def _release(t: Trial) -> None:
    """Hand back the address's connections before the liveness check: a
    server counts a connection until it has handled its end, and a socket
    merely closed here may still count when the check connects, which is
    then refused too. A QUIT answered by the server's close is a barrier."""
    held = [s for s in t.sessions if not s.eof]
    if Cap.QUIT not in t.dialect.capabilities:
        return  # no barrier to wait for: dispose() closes them
    for s in held:
        s.send(Quit())
    for s in held:
        s.wait_closed(t.timing.timeout)


@case(
    "greeting/refusal",
    "4.3",
    "a refused connection gets CLOSING instead of the greeting",
    needs=[Cap.CLOSING, Cap.GREETING],
    exclusive=True,
)
def refusal(t: Trial) -> None:
    _refused(t)


@case(
    "limits/connections-per-address",
    "10.7",
    "connections beyond max_per_ip are refused",
    needs=[Cap.CLOSING],
    exclusive=True,
)
def per_address(t: Trial) -> None:
    _refused(t)


@case(
    "liveness/answered-ping",
    "7.3",
    "a client answering the server's PING stays connected",
    needs=[Cap.SERVER_PING, Cap.PING],
)
def answered_ping(t: Trial) -> None:
    interval, timeout = t.limit("ping"), t.limit("ping-timeout")
    t.need(timeout + t.timing.timeout, "waiting past the ping timeout")
    s = t.user()
    deadline = time.monotonic() + timeout + t.timing.timeout / 2
    s.read_for(interval + t.timing.timeout)
    if not s.server_pings:
        raise CaseFailed(f"no PING push after {interval:g}s of silence")
    # The session answers each PING push itself; stay silent otherwise.
    s.read_for(max(0.0, deadline - time.monotonic()))
    if s.eof:
        raise CaseFailed(f"closed although PINGs were answered (CLOSING {s.closing})")
    s.do(Ping(token="still"), Outcome.PONG)


@case(
    "liveness/ping-timeout",
    "10.4",
    "silence past ping-timeout closes with CLOSING ping-timeout",
    needs=[Cap.SERVER_PING, Cap.CLOSING],
)
def ping_timeout(t: Trial) -> None:
    timeout = t.limit("ping-timeout")
    t.need(timeout + t.timing.timeout, "waiting for the ping timeout")
    s = t.user()
    s.auto_pong = False
    start = time.monotonic()
    s.expect_closed("ping-timeout", within=timeout + t.timing.timeout)
    if not s.server_pings:
        raise CaseFailed("closed for ping-timeout without sending PING first")
    if time.monotonic() - start < timeout * 0.9:
        raise CaseFailed(
            f"closed after {time.monotonic() - start:.2f}s, "
            f"before the {timeout:g}s ping timeout"
        )


@case(
    "pushes/closing-last",
    "7.4",
    "CLOSING names a listed reason and is the last line",
    needs=[Cap.CLOSING, Cap.GRAMMAR],
)
def closing_last(t: Trial) -> None:
    s = t.user()
    size = int(t.limit_or("max-unterminated", 8192))
    s.send_raw(b"CHAT * " + b"q" * (size - 7), what=f"{size} bytes without LF")
    # The session fails the case on any line after CLOSING.
    s.expect_closed("line-too-long")
    if s.closing is None or s.closing.reason not in _REASONS:
        raise CaseFailed(f"CLOSING reason not in section 7.4: {s.closing}")


@case(
    "limits/flood-burst",
    "10.1",
    "100 messages sent at once all arrive, in order",
    needs=[Cap.DM, Cap.GRAMMAR],
)
def flood(t: Trial) -> None:
    burst, rate = t.limit("burst"), t.limit("rate")
    count = 100
    t.need(
        max(0.0, count - burst) / rate + t.timing.timeout,
        "a 100-line burst under flood control",
    )
    a, b = t.users(2)
    texts = [f"{t.prefix} burst {i:03d}" for i in range(count)]
    data = "".join(f"CHAT {b.name} {x}\n" for x in texts).encode()
    # The session's model of the bucket sets each reply's deadline.
    a.send_raw(data, replies=count, what=f"{count} CHAT lines in one write")
    for i in range(count):
        a.reply(Outcome.SENT, what=f"CHAT #{i}")
    b.sync()
    b.read_for(t.timing.grace)
    got = [
        m.text for m in b.take_all() if isinstance(m, Message) and m.sender == a.name
    ]
    if got != texts:
        missing = sorted(set(texts) - set(got))
        raise CaseFailed(
            f"{len(got)}/{count} arrived; missing {missing[:3]}; "
            f"in order: {got == sorted(got)}"
        )


@case(
    "limits/slow-reader",
    "10.2",
    "a reader that never reads is closed with CLOSING send-queue; others go on",
    needs=[Cap.DM, Cap.GRAMMAR, Cap.CLOSING],
)
def slow_reader(t: Trial) -> None:
    rate, size = t.limit("rate"), int(t.limit("max-line")) - 64
    # send_queue_hard (1 MiB by default) plus what the kernels buffer.
    need_bytes = 8 << 20
    t.need(
        need_bytes / (rate * size) + t.timing.timeout, "filling a slow reader's queue"
    )
    v = t.connect("victim", rcvbuf=4096)
    v.name = t.name("slow")
    v.send_raw(f"APELIDO {v.name}\n".encode(), replies=1)
    v.reply(Outcome.NICK_OK)
    a = t.user("a")
    body = (t.prefix + " ") * (size // (len(t.prefix) + 1))
    batch = 64
    sent = 0
    dropped = False
    while sent < 8 * need_bytes and not dropped:
        lines = f"CHAT {v.name} {body}\n".encode() * batch
        a.send_raw(lines, replies=batch, what=f"{batch} long DMs")
        sent += len(lines)
        for _ in range(batch):
            if a.reply(Outcome.SENT, Outcome.NOT_SENT).outcome is Outcome.NOT_SENT:
                dropped = True
    if not dropped:
        raise CaseFailed(f"the slow reader was still online after {sent >> 20} MiB")
    a.do(Ping(token="fine"), Outcome.PONG, what="PING while the slow reader is cut off")
    # What was queued for the victim may be lost when the server drops it, so
    # the CLOSING line may be too; if one does arrive it must say why.
    v.reset_ok = True
    v.wait_closed(t.timing.timeout * 10)
    if v.closing is not None and v.closing.reason != "send-queue":
        raise CaseFailed(f"victim: CLOSING {v.closing.reason}, expected send-queue")


@case(
    "limits/lines-before-login",
    "10.3",
    "the line after lines-before-login gets CLOSING too-many-lines",
    needs=[Cap.LOGIN_LIMITS, Cap.CLOSING, Cap.GRAMMAR],
)
def lines_before_login(t: Trial) -> None:
    burst, rate = t.limit("burst"), t.limit("rate")
    allowed = int(t.limit_or("lines-before-login", 100))
    takes = max(0.0, allowed - burst) / rate
    t.need(takes + t.timing.timeout, f"{allowed + 1} lines under flood control")
    if takes >= t.limit("login-timeout"):
        # The login timeout would close the connection first: with these
        # settings the limit cannot be reached, so there is nothing to check.
        raise CaseSkipped(
            f"{allowed} lines at rate {rate:g}/s take {takes:.1f}s, "
            f"past the login timeout ({t.limit('login-timeout'):g}s); to run "
            "it, start the server with a higher rate (--rate 1000)"
        )
    s = t.connect()
    s.send_raw(b"PING x\n" * allowed, replies=allowed, what=f"{allowed} PINGs")
    for _ in range(allowed):
        s.reply(Outcome.PONG)
    s.send_raw(b"PING over\n", what=f"line {allowed + 1}")
    s.expect_closed("too-many-lines")


@case(
    "limits/login-timeout",
    "10.3",
    "no login within login-timeout gets CLOSING login-timeout",
    needs=[Cap.LOGIN_LIMITS, Cap.CLOSING],
)
def login_timeout(t: Trial) -> None:
    limit = t.limit("login-timeout")
    t.need(limit + t.timing.timeout, "waiting for the login timeout")
    s = t.connect()
    start = time.monotonic()
    s.expect_closed("login-timeout", within=limit + t.timing.timeout)
    if time.monotonic() - start < limit * 0.9:
        raise CaseFailed(
            f"closed after {time.monotonic() - start:.2f}s, before {limit:g}s"
        )


@case(
    "limits/failed-logins",
    "10.5",
    "after login-attempts failed logins ENTRAR is refused unchecked",
    needs=[Cap.LOGIN_LIMITS, Cap.ACCOUNTS],
)
def failed_logins(t: Trial) -> None:
    user = t.name()
    attempts = int(t.limit_or("login-attempts", 3))
    if attempts > 20:
        raise CaseSkipped(f"login-attempts={attempts}: too many to use up here")
    s = t.connect()
    s.do(Register(user=user, password="right"), Outcome.REGISTERED)
    for i in range(attempts):
        reply = s.do(
            Login(user=user, password=f"wrong{i}"),
            Outcome.BAD_CREDENTIALS,
            Outcome.TOO_MANY_ATTEMPTS,
        )
        if reply.outcome is Outcome.TOO_MANY_ATTEMPTS:
            raise CaseSkipped(
                "this address is already throttled for failed logins; to run "
                "it, wait out the server's login window or restart it"
            )
    s.do(
        Login(user=user, password="right"),
        Outcome.TOO_MANY_ATTEMPTS,
        what=f"ENTRAR after {attempts} failures, right password",
    )
    t.connect().do(
        Login(user=user, password="right"),
        Outcome.LOGGED_IN,
        what="ENTRAR on a fresh connection",
    )


@case(
    "limits/passwords-not-sent",
    "10.6",
    "a password never appears in anything the server sends",
    needs=[Cap.ACCOUNTS],
)
def passwords(t: Trial) -> None:
    user, secret = t.name(), f"{t.prefix} s3cret pass"
    a = t.connect()
    a.do(Register(user=user, password=secret), Outcome.REGISTERED)
    a.do(Register(user=user, password=secret), Outcome.NAME_TAKEN)
    t.connect().do(
        Login(user=user, password=secret + "x"),
        Outcome.BAD_CREDENTIALS,
        Outcome.TOO_MANY_ATTEMPTS,
    )
    a.do(Login(user=user, password=secret), Outcome.LOGGED_IN)
    # Online already: taken over (5.2), or refused by a server without takeover.
    t.connect().do(
        Login(user=user, password=secret), Outcome.LOGGED_IN, Outcome.NAME_ONLINE
    )
    leaked = [line for line in t.transcript.lines if " < " in line and "s3cret" in line]
    if leaked:
        raise CaseFailed(f"the password came back: {leaked[0]}")


@case(
    "example/walkthrough",
    "12",
    "the example session of section 12, step by step",
    needs=[Cap.ACCOUNTS, Cap.DM, Cap.ROOMS, Cap.WHO, Cap.PRESENCE, Cap.ROOM_NOTICES],
)
def example(t: Trial) -> None:
    bruno = t.user("bruno")
    room = t.room("geral")
    bruno.do(Join(room=room), Outcome.JOINED)
    bruno.settle()
    ana, password = t.name("ana"), "s3cret pass"
    c = t.connect("ana")
    c.do(Register(user=ana, password=password), Outcome.REGISTERED)
    c.do(Login(user=ana, password=password), Outcome.LOGGED_IN)
    # Section 12 runs on a small server, where bruno hears ana log in; on a
    # larger one he need not (9.1: they have not chatted yet).
    bruno.sync()
    heard = bruno.take_all()
    if heard not in ([], [Online(user=ana)]):
        raise CaseFailed(f"after ana's login expected ONLINE {ana} or nothing: {heard}")
    c.do(Send(target=bruno.name or "", text=f"oi, tudo bem? {t.prefix}"), Outcome.SENT)
    bruno.expect(Message(sender=ana, address="@", text=f"oi, tudo bem? {t.prefix}"))
    c.do(Join(room=room), Outcome.JOINED)
    bruno.expect(Joined(room=room, user=ana))
    c.do(Send(target=t.name("carlos"), text="hello"), Outcome.NOT_SENT)
    names = c.do(Who(), Outcome.USERS).users
    if ana not in names or bruno.name not in names:
        raise CaseFailed(f"LISTA-220 should show {ana} and {bruno.name}: {names}")
    c.do(Quit(), Outcome.BYE)
    bruno.expect(Left(room=room, user=ana))
    bruno.expect(Offline(user=ana))
    bruno.quiet()
