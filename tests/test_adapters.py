"""The protocol end to end over real sockets; every test runs on both adapters."""

from __future__ import annotations

import pytest

from libbatchat import (
    Chat,
    Closing,
    Greeting,
    Join,
    Joined,
    Left,
    Login,
    Message,
    Nick,
    Offline,
    Online,
    Part,
    Ping,
    Push,
    Quit,
    Register,
    Reply,
    Rooms,
    ServerPing,
    Who,
)
from libbatchat._grammar import serialize
from tests.adapters_harness import (
    FAST,
    Serve,
    SyncClient,
    barrier,
    fast,
    serve,
)

__all__ = ["serve"]  # the fixture, imported so pytest finds it


def nick(client: SyncClient, name: str) -> None:
    assert client.request(Nick(nick=name)).code == 218


def next_of(client: SyncClient, kind: type[Push], limit: int = 500) -> Push:
    """The next push of ``kind``, skipping others (bounded)."""
    for _ in range(limit):
        push = client.push()
        assert push is not None, f"connection ended before a {kind.__name__}"
        if isinstance(push, kind):
            return push
    raise AssertionError(f"no {kind.__name__} in {limit} pushes")


def until_end(client: SyncClient, limit: int = 500) -> list[Push]:
    """Every push left, once the server has closed the connection."""
    pushes: list[Push] = []
    for _ in range(limit):
        push = client.push()
        if push is None:
            return pushes
        pushes.append(push)
    raise AssertionError(f"still open after {limit} pushes")


def test_greeting_advertises_the_limits(serve: Serve) -> None:
    limits = fast(max_line=1024, ping_interval=70.0, ping_timeout=140.0)
    server = serve(limits)
    client = server.connect()
    assert client.greeting == Greeting(
        max_line=1024,
        burst=limits.burst,
        rate=limits.rate,
        ping=70.0,
        ping_timeout=140.0,
        login_timeout=limits.login_timeout,
        lines_before_login=limits.lines_before_login,
    )


def test_register_and_login(serve: Serve) -> None:
    server = serve()
    ana = server.connect()
    assert ana.request(Who()).code == 700
    assert ana.request(Register(user="Ana", password="s3cret pass")).code == 213
    assert ana.request(Register(user="ANA", password="other")).code == 703
    assert ana.request(Login(user="ana", password="wrong")).code == 704
    assert ana.request(Login(user="nobody", password="s3cret pass")).code == 704
    reply = ana.request(Login(user="ana", password="s3cret pass"))
    assert (reply.code, reply.text) == (214, "Ana")
    assert ana.request(Login(user="Ana", password="s3cret pass")).code == 701
    # Logging in again takes the session over (spec 5.2.1).
    again = server.connect()
    assert again.request(Login(user="Ana", password="s3cret pass")).code == 214
    closing = next_of(ana, Closing)
    assert isinstance(closing, Closing) and closing.reason == "taken-over"


def test_guest_nicknames(serve: Serve) -> None:
    server = serve()
    owner = server.connect()
    assert owner.request(Register(user="bruno", password="pw")).code == 213
    guest = server.connect()
    assert guest.request(Nick(nick="Bruno")).code == 703
    reply = guest.request(Nick(nick="Carla"))
    assert (reply.code, reply.text) == (218, "Carla")
    assert guest.request(Nick(nick="other")).code == 701
    assert server.connect().request(Nick(nick="carla")).code == 705


def test_who_lists_names_sorted(serve: Serve) -> None:
    server = serve()
    clients = [server.connect() for _ in range(3)]
    for client, name in zip(clients, ["zeca", "Ana", "bruno"], strict=True):
        nick(client, name)
    reply = clients[0].request(Who())
    assert reply.code == 220
    assert reply.names == ("Ana", "bruno", "zeca")


def test_direct_and_broadcast_messages(serve: Serve) -> None:
    server = serve()
    ana, bruno, carla = (server.connect() for _ in range(3))
    for client, name in ((ana, "ana"), (bruno, "bruno"), (carla, "carla")):
        nick(client, name)
    assert ana.request(Chat(target="bruno", text=" hi  there ")).code == 215
    got = next_of(bruno, Message)
    assert isinstance(got, Message)
    assert (got.sender, got.address, got.text) == ("ana", "@", " hi  there ")
    assert ana.request(Chat(target="nobody", text="hello")).code == 216
    assert ana.request(Chat(target="*", text="all")).code == 215
    for client in (bruno, carla):
        got = next_of(client, Message)
        assert isinstance(got, Message)
        assert (got.address, got.text) == ("*", "all")
    # Never echoed back to the sender, and a DM reaches only its target.
    for client in (ana, carla):
        barrier(client)
    assert not [p for p in ana.pushes_now() if isinstance(p, Message)]
    assert not [p for p in carla.pushes_now() if isinstance(p, Message)]


def test_rooms_join_leave_and_room_messages(serve: Serve) -> None:
    server = serve()
    ana, bruno, carla = (server.connect() for _ in range(3))
    for client, name in ((ana, "ana"), (bruno, "bruno"), (carla, "carla")):
        nick(client, name)
    assert ana.request(Chat(target="#geral", text="x")).code == 216
    assert ana.request(Join(room="#Geral")).text == "#Geral"
    reply = bruno.request(Join(room="#geral"))
    assert (reply.code, reply.text) == (222, "#Geral")
    joined = next_of(ana, Joined)
    assert joined == Joined(room="#Geral", user="bruno")
    assert bruno.request(Join(room="#GERAL")).code == 222  # again: no notice
    assert carla.request(Join(room="#outra")).code == 222
    rooms = ana.request(Rooms())
    assert rooms.code == 221
    assert rooms.rooms == (("#Geral", 2), ("#outra", 1))
    assert ana.request(Who(room="#geral")).names == ("ana", "bruno")
    assert ana.request(Chat(target="#geral", text="oi sala")).code == 215
    got = next_of(bruno, Message)
    assert isinstance(got, Message)
    assert (got.sender, got.address, got.text) == ("ana", "#Geral", "oi sala")
    assert carla.request(Chat(target="#geral", text="intruder")).code == 216
    assert bruno.request(Part(room="#geral")).code == 223
    assert next_of(ana, Left) == Left(room="#Geral", user="bruno")
    assert bruno.request(Part(room="#geral")).code == 706
    for client in (ana, carla):
        barrier(client)
    # No message crossed rooms, and no one heard twice about bruno's rejoin.
    assert not [p for p in carla.pushes_now() if isinstance(p, Message | Joined)]
    assert not [p for p in ana.pushes_now() if isinstance(p, Joined)]
    assert carla.request(Part(room="#outra")).code == 223
    assert ana.request(Rooms()).rooms == (("#Geral", 1),)


def test_presence_quit_and_drop_notices(serve: Serve) -> None:
    server = serve()
    ana = server.connect()
    nick(ana, "ana")
    bruno = server.connect()
    nick(bruno, "bruno")
    assert next_of(ana, Online) == Online(user="bruno")
    carla = server.connect()
    nick(carla, "carla")
    for client in (ana, bruno, carla):
        assert client.request(Join(room="#r")).code == 222
    reply = bruno.request(Quit())
    assert reply.code == 217
    until_end(bruno)  # the server closes the connection
    with pytest.raises(ConnectionError):
        bruno.request(Ping())
    for client in (ana, carla):
        assert next_of(client, Left) == Left(room="#r", user="bruno")
        assert next_of(client, Offline) == Offline(user="bruno")
    # A dropped connection produces exactly the notices SAIR would.
    carla.close()
    assert next_of(ana, Left) == Left(room="#r", user="carla")
    assert next_of(ana, Offline) == Offline(user="carla")
    assert ana.request(Who()).names == ("ana",)


def test_ping_replies_in_any_state(serve: Serve) -> None:
    server = serve()
    client = server.connect()
    reply = client.request(Ping())
    assert (reply.code, reply.text) == (224, "")
    nick(client, "ana")
    assert client.request(Ping(token="t-1")).text == "t-1"


def test_clients_answer_server_ping(serve: Serve) -> None:
    server = serve(fast(ping_interval=0.2, ping_timeout=0.5))
    client = server.connect()
    nick(client, "ana")
    silent = server.raw()  # never answers the PING
    assert isinstance(silent.wait_for(lambda e: isinstance(e, ServerPing)), ServerPing)
    closing = silent.wait_for(lambda e: isinstance(e, Closing))
    assert isinstance(closing, Closing) and closing.reason == "ping-timeout"
    # The library client connected first, so it was pinged first; had it not
    # answered, it would be gone by now.
    barrier(client)
    assert not [p for p in client.pushes_now() if isinstance(p, Closing)]


def test_pending_request_fails_when_the_connection_is_lost(serve: Serve) -> None:
    # One line at once, then one per 100 s: the second PING waits in the
    # server until the login timeout closes the connection under it.
    server = serve(fast(burst=1, rate=0.01, login_timeout=0.3))
    client = server.connect()
    assert client.request(Ping(token="first")).code == 224
    with pytest.raises(ConnectionError):
        client.request(Ping(token="second"))
    pushes = until_end(client)
    assert isinstance(pushes[-1], Closing) and pushes[-1].reason == "login-timeout"


def test_login_timeout_closes(serve: Serve) -> None:
    server = serve(fast(login_timeout=0.2))
    raw = server.raw()
    closing = raw.wait_for(lambda e: isinstance(e, Closing))
    assert isinstance(closing, Closing) and closing.reason == "login-timeout"
    raw.read_to_eof()
    assert raw.eof


def test_flood_is_delayed_not_dropped_and_reading_pauses(serve: Serve) -> None:
    server = serve(
        fast(burst=2, rate=400.0, recv_queue=256, max_unterminated=256, max_line=128)
    )
    raw = server.raw()
    raw.wait_for(lambda e: isinstance(e, Greeting))
    raw.send(*(Ping(token=f"p{i}") for i in range(150)))
    for i in range(150):
        reply = raw.wait_for(lambda e: isinstance(e, Reply))
        assert isinstance(reply, Reply)
        assert reply.text == f"p{i}"


def test_bad_input(serve: Serve) -> None:
    server = serve(fast(max_line=1024, max_unterminated=4096))
    raw = server.raw()
    raw.wait_for(lambda e: isinstance(e, Greeting))

    def reply_to(data: bytes) -> int:
        # A PING right after shows the line got exactly one reply, in order.
        raw.send_raw(data)
        raw.send(Ping(token="after"))
        first = raw.wait_for(lambda e: isinstance(e, Reply))
        second = raw.wait_for(lambda e: isinstance(e, Reply))
        assert isinstance(first, Reply) and isinstance(second, Reply)
        assert second.text == "after"
        return first.code

    assert reply_to(b"x" * 2000 + b"\n") == 707
    assert reply_to(b"CHAT ana \xff\xfe\n") == 708
    assert reply_to(b"DANCE now\n") == 999
    assert reply_to(b"JUNTAR notaroom\n") == 702
    # Blank lines get no reply: the next reply is the PING's own.
    assert reply_to(b"\n   \r\nPING x\n") == 224
    raw.send_raw(b"y" * 4096)
    closing = raw.wait_for(lambda e: isinstance(e, Closing))
    assert isinstance(closing, Closing) and closing.reason == "line-too-long"
    raw.read_to_eof()
    assert raw.eof


def test_too_many_connections_refused(serve: Serve) -> None:
    server = serve(fast(max_per_ip=2, exempt_loopback=False))
    first, second = server.connect(), server.connect()
    nick(first, "first")
    nick(second, "second")
    with pytest.raises(ConnectionError):
        server.connect()
    first.close()
    # The slot is free again once the server has handled the drop, which it
    # tells second. (A PING on second is no barrier on the threaded adapter:
    # each connection's input is read by its own thread.)
    assert next_of(second, Offline) == Offline(user="first")
    third = server.connect()
    assert third.request(Ping()).code == 224


def test_many_clients_at_once(serve: Serve) -> None:
    server = serve()
    clients = [server.connect() for _ in range(50)]
    for i, client in enumerate(clients):
        nick(client, f"u{i}")
    assert len(clients[0].request(Who()).names) == 50
    for i, client in enumerate(clients):
        assert client.request(Chat(target="*", text=f"from u{i}")).code == 215
    for i, client in enumerate(clients):
        texts = set()
        for _ in range(49):
            got = next_of(client, Message)
            assert isinstance(got, Message)
            texts.add(got.text)
        assert texts == {f"from u{j}" for j in range(50) if j != i}


def test_bursts_from_several_senders_arrive_whole_and_in_order(serve: Serve) -> None:
    # Each sender writes 150 lines at once, so the server reads them in
    # several reads over several loop iterations, and the asyncio adapter
    # gathers what those produce for one peer into one write: nothing may
    # be lost, doubled or reordered on the way, replies included.
    server = serve()
    clients = [server.raw() for _ in range(4)]
    for i, raw in enumerate(clients):
        raw.send(Nick(nick=f"s{i}"))
        raw.wait_for(lambda e: isinstance(e, Reply))
    count = 150
    for i, raw in enumerate(clients):
        raw.send(*(Chat(target="*", text=f"s{i} {n}") for n in range(count)))
    for i, raw in enumerate(clients):
        replies: list[int] = []
        texts: dict[str, list[str]] = {f"s{j}": [] for j in range(4) if j != i}
        for _ in range(100_000):
            if len(replies) == count and all(len(t) == count for t in texts.values()):
                break
            event = raw.next_event()
            assert event is not None, "connection ended early"
            if isinstance(event, Reply):
                replies.append(event.code)
            elif isinstance(event, Message):
                texts[event.sender].append(event.text)
        assert replies == [215] * count
        for sender, got in texts.items():
            assert got == [f"{sender} {n}" for n in range(count)]


def test_senders_at_once_reach_every_member_in_order(serve: Serve) -> None:
    # Several connections write flat out into one room at the same time, so
    # lines for one member are queued while others are being sent to it (and
    # joined into one write): each member still gets every message once, in
    # each sender's order.
    server = serve()
    members = [server.connect() for _ in range(12)]
    for i, member in enumerate(members):
        nick(member, f"m{i}")
        assert member.request(Join(room="#sala")).code == 222
    senders = [server.raw() for _ in range(4)]
    for j, sender in enumerate(senders):
        sender.send(Nick(nick=f"s{j}"), Join(room="#sala"))
        sender.wait_for(lambda e: isinstance(e, Reply) and e.code == 222)
    count = 150
    for k in range(count):
        for j, sender in enumerate(senders):
            sender.send_raw(serialize(Chat(target="#sala", text=f"{j} {k}")))
    for member in members:
        seen: dict[str, list[int]] = {f"s{j}": [] for j in range(len(senders))}
        for _ in range(count * len(senders)):
            got = next_of(member, Message, limit=count * len(senders) + 50)
            assert isinstance(got, Message)
            seen[got.sender].append(int(got.text.split()[1]))
        assert all(got == list(range(count)) for got in seen.values()), seen
        barrier(member)
        assert not [p for p in member.pushes_now() if isinstance(p, Message)]


def test_slow_reader_is_closed_others_keep_receiving(serve: Serve) -> None:
    limits = fast(
        send_queue_hard=64 << 10, send_queue_soft=32 << 10, send_queue_soft_seconds=60
    )
    server = serve(limits)
    reported: list[tuple[int, int]] = []
    core = server.core
    real = core.send_queue

    def spy(session, queued):  # type: ignore[no-untyped-def]
        reported.append((session.id, queued))
        return real(session, queued)

    core.send_queue = spy
    slow = server.raw(rcvbuf=4096)
    slow.send(Nick(nick="slow"))
    slow.wait_for(lambda e: isinstance(e, Reply))  # then never reads again
    watcher = server.connect()
    nick(watcher, "watcher")
    flooder = server.connect()
    nick(flooder, "flooder")
    text = "z" * 4000
    sent = 0
    for _ in range(10_000):
        if flooder.request(Chat(target="slow", text=text)).code != 215:
            break
        sent += 1
    else:
        raise AssertionError("the slow reader was never closed")
    assert next_of(watcher, Offline) == Offline(user="slow")
    # Everyone else is served as before.
    assert flooder.request(Chat(target="watcher", text="still here")).code == 215
    got = next_of(watcher, Message)
    assert isinstance(got, Message) and got.text == "still here"
    # The slow reader gets everything queued for it, then the CLOSING line.
    events = slow.read_to_eof()
    assert events and isinstance(events[-1], Closing)
    assert events[-1].reason == "send-queue"
    at_close = max(q for _, q in reported)
    assert at_close >= limits.send_queue_hard
    print(
        f"[{server.adapter}] slow reader closed with {at_close} bytes queued "
        f"after {sent} messages; it then read {slow.received} bytes"
    )


def test_server_close_tells_everyone(serve: Serve) -> None:
    server = serve(FAST)
    clients = [server.connect() for _ in range(5)]
    for i, client in enumerate(clients):
        nick(client, f"c{i}")
    server.close()
    for client in clients:
        pushes = until_end(client)
        assert pushes[-1] == Closing(reason="shutdown", text="server shutting down")
        with pytest.raises(ConnectionError):
            client.request(Ping())
