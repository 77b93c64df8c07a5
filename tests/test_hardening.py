"""Issue 7's attacks, replayed against real servers on loopback (both adapters).

Each test reproduces one row of the issue's table and checks the figure the
closing note quotes.
"""

from __future__ import annotations

import selectors
import threading
import time

from libbatchat import (
    Closing,
    Join,
    Joined,
    Login,
    MemoryStore,
    Nick,
    Reply,
    Rooms,
    ServerPing,
    Who,
)
from libbatchat._accounts import hash_password
from libbatchat._grammar import serialize
from tests.adapters_harness import WAIT, RawClient, Serve, barrier, fast, serve
from tests.test_adapters import nick

__all__ = ["serve"]  # the fixture, imported so pytest finds it

PW = "s3cret pass"


class GatedStore(MemoryStore):
    """Counts password look-ups and holds each until the gate opens, so the
    checks really are in flight together."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.lock = threading.Lock()
        self.checks = 0

    def get(self, name: str) -> tuple[str, str] | None:
        with self.lock:
            self.checks += 1
        self.gate.wait(WAIT)
        return super().get(name)


def _reply(client: RawClient) -> Reply:
    event = client.wait_for(lambda e: isinstance(e, Reply))
    assert isinstance(event, Reply)
    return event


def _replies_while_gated(clients: list[RawClient], wanted: int) -> dict[int, int]:
    """Read until ``wanted`` replies came in; their codes by client index."""
    codes: dict[int, int] = {}
    with selectors.DefaultSelector() as sel:
        for i, client in enumerate(clients):
            sel.register(client.sock, selectors.EVENT_READ, i)
        deadline = time.monotonic() + WAIT
        while len(codes) < wanted and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=deadline - time.monotonic()):
                client = clients[key.data]
                client._read()
                for event in client.events:
                    if isinstance(event, Reply):
                        codes[key.data] = event.code
                        sel.unregister(client.sock)
                        break
                client.events.clear()
    return codes


def test_parallel_wrong_logins_check_at_most_the_limit(serve: Serve) -> None:
    """Row 4: 200 parallel wrong ENTRAR from one address (limit 20)."""
    store = GatedStore()
    store.create("ana", hash_password(PW, n=16, r=8, p=1))
    server = serve(fast(ip_login_attempts=20), accounts=store)
    clients = [server.raw() for _ in range(200)]
    for client in clients:
        client.send(Login(user="ana", password="wrong"))
    # Every check is held at the gate, so the 180 refusals must come while
    # the first 20 checks are still pending: attempts count when they start.
    refused = _replies_while_gated(clients, 180)
    assert sorted(set(refused.values())) == [709]
    assert len(refused) == 180
    # (The worker pool may not have started all 20 checks yet.)
    assert store.checks <= 20
    store.gate.set()
    checked = [c for i, c in enumerate(clients) if i not in refused]
    assert [_reply(c).code for c in checked] == [704] * 20
    assert store.checks == 20


def test_parallel_wrong_logins_on_one_connection(serve: Serve) -> None:
    """Row 4, per connection: 10 pipelined wrong ENTRAR, limit 3."""
    store = GatedStore()
    store.gate.set()
    server = serve(fast(login_attempts=3), accounts=store)
    client = server.raw()
    client.send(*[Login(user="ana", password=f"w{i}") for i in range(10)])
    codes = [_reply(client).code for _ in range(10)]
    assert codes == [704] * 3 + [709] * 7
    assert store.checks == 3


def test_a_byte_at_a_time_is_closed_at_the_ping_timeout(serve: Serve) -> None:
    """Row 10: logged in, then a byte after every PING, never a line end."""
    server = serve(fast(ping_interval=0.2, ping_timeout=0.4))
    client = server.raw()
    client.send(Nick(nick="trickle"))
    assert _reply(client).code == 218
    client.send_raw(b"CHAT * ")
    for _ in range(50):
        event = client.wait_for(lambda e: isinstance(e, ServerPing | Closing))
        if isinstance(event, Closing):
            assert event.reason == "ping-timeout"
            break
        # Before the fix any byte reset the timers, so this went on forever.
        client.send_raw(b"x")
    else:
        raise AssertionError("never closed")
    assert client.read_to_eof() == []


def _ask(client: RawClient, line: bytes) -> Reply:
    client.send_raw(line + b"\n")
    return _reply(client)


def test_names_that_look_like_an_online_account_are_refused(serve: Serve) -> None:
    """Row 5: while account ana is online, every look-alike is refused."""
    server = serve()
    ana = server.raw()
    assert _ask(ana, f"NOVO ana {PW}".encode()).code == 213
    assert _ask(ana, f"ENTRAR ana {PW}".encode()).code == 214
    other = server.raw()
    invisible = ["ana\u034f", "ana\ufe0f", "ana\u3164", "\u3164\u3164"]
    alike = [
        "\u0430na",
        "\u03b1na",
        "\uff41\uff4e\uff41",
        "\U0001d41a\U0001d427\U0001d41a",
    ]
    codes = {}
    for name in invisible + alike:
        reply = _ask(other, f"APELIDO {name}".encode())
        codes[name] = reply.code
        if reply.code == 705:
            assert reply.text == f"{name} looks like ana"
        else:
            assert "(invisible)" in reply.text
    assert codes == {**dict.fromkeys(invisible, 702), **dict.fromkeys(alike, 705)}
    reply = _ask(other, f"NOVO \u0430na {PW}".encode())
    assert (reply.code, reply.text) == (703, "\u0430na looks like ana")
    # Registered, not online: still refused, naming the account. (PASS-217
    # is sent as ana goes offline, so she is offline once it arrives.)
    assert _ask(ana, b"SAIR").code == 217
    reply = _ask(other, "APELIDO \u03b1na".encode())
    assert (reply.code, reply.text) == (703, "\u03b1na looks like the account ana")
    for name in ("Jo\u00e3o", "Z\u00e9", "\u03a9mega", "\u674e\u96f7"):
        assert _ask(server.raw(), f"APELIDO {name}".encode()).code == 218


def test_login_takes_a_dead_session_over(serve: Serve) -> None:
    """Row 11: the old connection is silent (laptop asleep); log in again."""
    server = serve()
    old = server.raw()
    assert _ask(old, f"NOVO ana {PW}".encode()).code == 213
    assert _ask(old, f"ENTRAR ana {PW}".encode()).code == 214
    assert _ask(old, b"JUNTAR #sala").code == 222
    watcher = server.connect()
    nick(watcher, "bia")
    assert watcher.request(Join(room="#sala")).code == 222
    new = server.raw()
    reply = _ask(new, f"ENTRAR ana {PW}".encode())
    assert (reply.code, reply.text) == (214, "ana")
    assert new.next_event() == Joined(room="#sala", user="ana")
    closing = old.wait_for(lambda e: isinstance(e, Closing))
    assert isinstance(closing, Closing) and closing.reason == "taken-over"
    assert old.read_to_eof() == []
    barrier(watcher)
    # No OFFLINE/ONLINE flap, no LEFT/JOINED: bia saw only her own join.
    assert [p for p in watcher.pushes_now() if not isinstance(p, ServerPing)] == []
    assert watcher.request(Who(room="#sala")).names == ("ana", "bia")


def test_a_newcomer_is_helped(serve: Serve) -> None:
    """Row 12: what a newcomer types first."""
    server = serve()
    c = server.raw()
    helped = _ask(c, b"HELP")
    assert helped.code == 225 and "JUNTAR|JOIN" in helped.text
    assert _ask(c, b"ajuda chat").text.startswith("CHAT|MSG <target> <text>: ")
    tail = "HELP lists the commands"
    answers = {
        b"/help": f"unknown command /help: commands take no '/' (AJUDA); {tail}",
        b"/private ana hi": f"unknown command /private; {tail}",
        b"@ana hi": f"unknown command @ana: to write to ana, CHAT ana <text>; {tail}",
        b"/online": f"unknown command /online; {tail}",
        b"hello everyone": f"unknown command hello; {tail}",
    }
    for line, text in answers.items():
        reply = _ask(c, line)
        assert (reply.code, reply.text) == (999, text)
    reply = _ask(c, b"LISTA")
    assert (reply.code, reply.text) == (
        700,
        "log in with ENTRAR, NOVO or APELIDO; HELP explains them",
    )
    assert _ask(c, b"APELIDO newbie").code == 218
    reply = _ask(c, b"JOIN geral")
    assert (reply.code, reply.text) == (
        702,
        "usage: JUNTAR|JOIN <#room>: a room starts with '#'",
    )


def test_rooms_are_capped_and_lists_stay_within_a_line(serve: Serve) -> None:
    """Row 6, scaled down (the replay in the closing note uses 32,000)."""
    server = serve(fast(rooms_per_session=20, max_rooms=500))
    guests = [server.raw() for _ in range(40)]
    for i, guest in enumerate(guests):
        rooms = "".join(
            f"JUNTAR #g{i:02d}r{j:03d}xxxxxxxxxxxxxxxx\n" for j in range(100)
        )
        guest.send_raw(f"APELIDO g{i:02d}\n".encode() + rooms.encode())
    codes: dict[int, int] = {}
    for guest in guests:
        for _ in range(101):
            code = _reply(guest).code
            codes[code] = codes.get(code, 0) + 1
    assert codes == {218: 40, 222: 500, 711: 40 * 100 - 500}
    reader = server.connect()
    nick(reader, "reader")
    seen: list[tuple[str, int]] = []
    reply = reader.request(Rooms())
    for _ in range(1000):
        assert len(serialize(reply)) <= 4096
        seen += reply.rooms
        if not reply.more:
            break
        reply = reader.request(Rooms(after=seen[-1][0]))
    assert len(seen) == 500 and len(set(seen)) == 500
    barrier(reader)  # still connected
