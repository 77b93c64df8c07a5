"""Random command sequences from several sessions keep the server's promises.

Jobs finish in random order, sessions drop at random, and after every step:
a name is online at most once and no guest holds an account's name; each
member's view of a room, built from the JOINED/LEFT it saw, matches the room;
no one receives a message not addressed to them; every command gets exactly
one reply, in order.

PYTEST_DONT_REWRITE: while shrinking, Hypothesis fails thousands of runs, and
pytest's rewritten asserts would describe each failure at length.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from libbatchat import (
    Chat,
    Closing,
    Command,
    Greeting,
    Join,
    Joined,
    Left,
    Limits,
    Login,
    Message,
    Nick,
    Part,
    Ping,
    Quit,
    Register,
    Reply,
    Rooms,
    State,
    Who,
    hash_password,
)
from libbatchat._names import fold
from libbatchat._server import Job, Output, Session
from libbatchat._skeleton import skeleton
from libbatchat._state import COMMAND_STATES
from tests.server_harness import FAST, Client, Clock, Net

# "\u0430na" (Cyrillic a) looks like ana: it may never be online beside it.
NAMES = ["ana", "ANA", "\u0430na", "bia", "Caio", "dora"]
ROOMS = ["#a", "#A", "#b"]
RECORD = hash_password("pw", n=16, r=8, p=1)


class Watch:
    """What the test knows about one client."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.expected: deque[Command] = deque()
        self.name: str | None = None
        self.guest = False
        self.views: dict[str, set[str]] = {}
        self.ended = False


class WatchedNet(Net):
    def __init__(self, machine: ServerMachine) -> None:
        super().__init__(FAST, inline=False)
        self.machine = machine

    def apply(self, out: Output) -> None:
        self.outputs.append(out)
        for session, data in out.sends:
            client = self.clients[session]
            client.feed(data)
            for event in client.take():
                self.machine.on_event(session, event)
        for session in out.closes:
            self.clients[session].closed = True
            self.machine.on_end(session)
        self.jobs.extend(out.jobs)


class ServerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.net = WatchedNet(self)
        for name in ("ana", "bia"):
            self.net.core.accounts.create(name, RECORD)
        self.watches: dict[Session, Watch] = {}
        self.members: dict[str, set[Session]] = {}
        self.texts: dict[str, tuple[Session, str]] = {}
        self.counter = 0
        self.done: list[tuple[Job, object]] = []
        # Rooms (and views) of sessions taken over, for the session taking over.
        self.taken: dict[str, dict[str, set[str]]] = {}

    # -- reactions to what clients receive -----------------------------------

    def on_event(self, session: Session, event: object) -> None:
        if isinstance(event, Greeting):
            return
        w = self.watches[session]
        if isinstance(event, Reply):
            assert w.expected, "a reply to no command"
            command = w.expected.popleft()
            assert event.command is command, "replies out of order"
            self.on_reply(session, w, command, event)
        elif isinstance(event, Joined) and event.user == w.name:
            # After a takeover, the rooms it now holds (spec 5.2).
            assert fold(event.room) in w.views
        elif isinstance(event, Joined):
            view = w.views[fold(event.room)]
            assert event.user not in view
            view.add(event.user)
        elif isinstance(event, Left):
            w.views[fold(event.room)].remove(event.user)
        elif isinstance(event, Message):
            sender, target = self.texts[event.text]
            sw = self.watches[sender]
            assert event.sender == sw.name
            assert w.name is not None
            if target == "*":
                assert event.address == "*"
                assert session is not sender
            elif target.startswith("#"):
                assert fold(event.address) == fold(target)
                assert fold(target) in w.views
                assert session is not sender
            else:
                assert event.address == "@"
                assert fold(target) == fold(w.name)
        elif isinstance(event, Closing):
            if event.reason == "taken-over":
                assert w.name is not None and not w.guest
                self.taken[fold(w.name)] = dict(w.views)
            self.on_end(session)

    def on_reply(self, session: Session, w: Watch, command: Command, r: Reply) -> None:
        if r.code in (214, 218):
            w.name = r.text
            w.guest = r.code == 218
            for key, view in self.taken.pop(fold(r.text), {}).items():
                self.members[key].add(session)
                w.views[key] = view
        elif r.code == 222:
            assert isinstance(command, Join)
            key = fold(command.room)
            room = self.members.setdefault(key, set())
            if session not in room:
                w.views[key] = {self.watches[s].name or "" for s in room} | {
                    w.name or ""
                }
                room.add(session)
        elif r.code == 223:
            assert isinstance(command, Part)
            key = fold(command.room)
            self.members[key].discard(session)
            del w.views[key]
        elif r.code == 217:
            self.on_end(session)

    def on_end(self, session: Session) -> None:
        w = self.watches[session]
        w.ended = True
        w.views.clear()
        for room in self.members.values():
            room.discard(session)

    # -- rules ---------------------------------------------------------------

    def live(self) -> list[Watch]:
        return [w for w in self.watches.values() if not w.ended]

    @precondition(lambda self: len(self.live()) < 4)
    @rule(data=st.data(), name=st.sampled_from(NAMES))
    def connect(self, data: st.DataObject, name: str) -> None:
        client = self.net.connect(f"10.0.0.{len(self.watches) % 3}:1")
        w = self.watches[client.session] = Watch(client)
        client.take()
        # Most sessions start by logging in, so that there is someone to talk to.
        self.counter += 1
        first = data.draw(
            st.sampled_from(
                [
                    Login(user=name, password="pw"),
                    Nick(nick=name),
                    Nick(nick=f"g{self.counter}"),
                    Ping(),
                ]
            )
        )
        w.expected.append(first)
        client.send(first)
        if data.draw(st.booleans()):
            # Pipelined behind the login, so it waits for the login's job.
            join = Join(room=data.draw(st.sampled_from(ROOMS)))
            w.expected.append(join)
            client.send(join)

    def sender(self, data: st.DataObject) -> Watch | None:
        able = [
            w
            for w in self.live()
            if w.client.conn.state in COMMAND_STATES and not w.client.closed
        ]
        return data.draw(st.sampled_from(able)) if able else None

    def send(self, data: st.DataObject, choices: list[Command]) -> None:
        w = self.sender(data)
        if w is None:
            return
        command = data.draw(st.sampled_from(choices))
        if isinstance(command, Chat):
            self.texts[command.text] = (w.client.session, command.target)
        w.expected.append(command)
        w.client.send(command)
        # Finish some of the waiting jobs, in any order: sessions spend most
        # of their time with none pending, but overlaps must happen too.
        self.work(data)

    @rule(data=st.data(), name=st.sampled_from(NAMES))
    def enter(self, data: st.DataObject, name: str) -> None:
        choices: list[Command] = [
            Register(user=name, password="pw"),
            Login(user=name, password="pw"),
            Login(user=name, password="wrong"),
            Nick(nick=name),
        ]
        self.send(data, choices)

    @rule(data=st.data(), room=st.sampled_from(ROOMS))
    def rooms(self, data: st.DataObject, room: str) -> None:
        self.send(data, [Join(room=room), Join(room=room), Part(room=room)])

    @rule(data=st.data())
    def chat(self, data: st.DataObject) -> None:
        w = self.sender(data)
        if w is None:
            return
        # Mostly rooms the sender is in and names that are online: those are
        # the messages that reach someone.
        online = [s.name for s in self.net.core.sessions if s.name is not None]
        to = data.draw(
            st.sampled_from([*w.views, *w.views, *online, *NAMES, *ROOMS, "*"])
        )
        self.counter += 1
        command = Chat(target=to, text=f"m{self.counter}")
        self.texts[command.text] = (w.client.session, to)
        w.expected.append(command)
        w.client.send(command)
        self.work(data)

    @rule(data=st.data())
    def other(self, data: st.DataObject) -> None:
        self.counter += 1
        self.send(data, [Who(), Rooms(), Ping(token=f"p{self.counter}")])

    def work(self, data: st.DataObject) -> None:
        """Run and finish some jobs, in any order, as worker threads would.

        A job's work (``run``) and its ``finish`` are separate steps, so one
        job may do its store I/O while another has run but not yet finished.
        """
        for _ in range(data.draw(st.integers(0, 2 * len(self.net.jobs)))):
            if bool(self.net.jobs) and data.draw(st.booleans()):
                job = self.net.jobs.pop(
                    data.draw(st.integers(0, len(self.net.jobs) - 1))
                )
                self.done.append((job, job.run()))
            elif self.done:
                job, result = self.done.pop(
                    data.draw(st.integers(0, len(self.done) - 1))
                )
                self.net.apply(self.net.core.finish(job, result))

    @precondition(lambda self: bool(self.net.jobs or self.done))
    @rule(data=st.data())
    def finish_job(self, data: st.DataObject) -> None:
        self.work(data)

    @rule(data=st.data(), how=st.sampled_from(["quit", "eof", "drop"]))
    def leave(self, data: st.DataObject, how: str) -> None:
        if how == "quit":
            self.send(data, [Quit()])
            return
        live = self.live()
        if not live:
            return
        w = data.draw(st.sampled_from(live))
        session = w.client.session
        if how == "eof":
            self.net.apply(self.net.core.receive(session, b""))
        else:
            self.net.apply(self.net.core.disconnect(session))
            self.on_end(session)

    # -- invariants ----------------------------------------------------------

    @invariant()
    def names_online_once(self) -> None:
        names = [skeleton(s.name) for s in self.net.core.sessions if s.name]
        assert len(names) == len(set(names))
        for w in self.live():
            if w.guest and w.name is not None:
                assert self.net.core.accounts.get(w.name) is None

    @invariant()
    def views_match_rooms(self) -> None:
        core_rooms = self.net.core._rooms
        for session, w in self.watches.items():
            if w.ended:
                continue
            mine = {k for k, room in core_rooms.items() if session in room.members}
            assert mine == set(w.views)
            for key, view in w.views.items():
                actual = {s.name for s in core_rooms[key].members}
                assert view == actual

    @invariant()
    def every_command_answered(self) -> None:
        if self.net.jobs or self.done:
            return
        for w in self.live():
            if w.client.conn.state is not State.CLOSED:
                assert not w.expected, "a command went unanswered"

    def teardown(self) -> None:
        while self.done:
            self.net.apply(self.net.core.finish(*self.done.pop()))
        self.net.run_jobs()
        for w in self.live():
            assert not w.expected


@pytest.fixture(autouse=True)
def quiet_server_log() -> Iterator[None]:
    # Thousands of runs would log (and pytest would keep) megabytes of lines.
    logger = logging.getLogger("libbatchat.server")
    logger.disabled = True
    yield
    logger.disabled = False


ServerMachine.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestServerMachine = ServerMachine.TestCase


_TIMED = Limits(
    burst=2,
    rate=1.0,
    ping_interval=5.0,
    ping_timeout=9.0,
    login_timeout=20.0,
    send_queue_soft=100,
    send_queue_hard=1000,
    send_queue_soft_seconds=3.0,
    scrypt_n=16,
)
_STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("send"), st.integers(0, 2), st.integers(1, 4)),
        st.tuples(st.just("wait"), st.floats(0.0, 4.0), st.just(0)),
        st.tuples(st.just("queue"), st.integers(0, 2), st.integers(0, 400)),
        st.tuples(st.just("nick"), st.integers(0, 2), st.just(0)),
    ),
    max_size=40,
)


def _idle(out: Output) -> bool:
    return not (out.sends or out.closes or out.jobs or out.pause or out.resume)


@settings(max_examples=200, deadline=None)
@given(_STEPS)
def test_next_deadline_is_never_late_and_tick_ends(
    steps: list[tuple[str, float, int]],
) -> None:
    clock = Clock(0.0)
    net = Net(_TIMED, clock=clock)
    clients = [net.connect(f"10.0.0.{i}:1") for i in range(3)]
    for n, step in enumerate(steps):
        if step[0] == "wait":
            until = clock.now + step[1]
            while (due := net.core.next_deadline()) is not None and due <= until:
                if due - 1e-6 > clock.now:
                    # Just before the deadline there is nothing to do.
                    clock.now = due - 1e-6
                    assert _idle(net.core.tick())
                clock.now = max(clock.now, due)
                net.tick()
            clock.now = until
            assert _idle(net.core.tick())
            continue
        c = clients[int(step[1]) % 3]
        if c.closed:
            continue
        if step[0] == "send":
            c.send(*[Ping(token=f"{n}x{k}") for k in range(int(step[2]))])
        elif step[0] == "nick":
            c.send(Nick(nick=f"n{step[1]}"))
        else:
            net.apply(net.core.send_queue(c.session, int(step[2])))
    # Driven from deadline to deadline, every client is answered or closed.
    while (due := net.core.next_deadline()) is not None and not all(
        c.closed or not c.conn.awaiting for c in clients
    ):
        clock.now = max(clock.now, due)
        net.tick()
    assert all(c.closed or not c.conn.awaiting for c in clients)
