"""Issue 7's attacks, replayed against real servers on loopback (both adapters).

Each test reproduces one row of the issue's table and checks the figure the
closing note quotes.
"""

from __future__ import annotations

import selectors
import threading
import time

from libbatchat import Closing, Login, MemoryStore, Nick, Reply, ServerPing
from libbatchat._accounts import hash_password
from tests.adapters_harness import WAIT, RawClient, Serve, fast, serve

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
