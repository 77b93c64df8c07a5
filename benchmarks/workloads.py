"""The scenarios as the generator runs them (see ``scenarios`` for sizes).

Every message carries ``(a, b, sent_ns)``: for room traffic ``a`` is the
sender and ``b`` its sequence number, so each receiver checks, per sender,
that nothing is lost, duplicated or reordered, and the latency is the
receive time minus the embedded send time (same process, same clock).
On a server of several nodes the deliveries whose recipient is connected to
another node than the sender are also counted apart: the cross-node latency.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from array import array
from collections.abc import Callable
from typing import Any

from benchmarks.clients import Client, Generator


class Tracker:
    """Deliveries per (recipient, stream), with their latencies."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._seen: dict[tuple[int, int], bytearray] = {}
        self._top: dict[tuple[int, int], int] = {}
        self.latency_ns = array("q")
        self.cross_ns = array("q")  # those from a sender on another node
        self.expected = 0
        self.received = 0
        self.duplicated = 0
        self.reordered = 0
        self.unexpected = 0
        self.last_ns = 0
        self.closed = False  # no more messages will be sent
        self.cut_short = ""  # why the window ended before everything arrived
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def open(self, recipient: int, stream: int) -> None:
        self._seen[recipient, stream] = bytearray(self.capacity)
        self._top[recipient, stream] = -1

    def record(
        self,
        recipient: int,
        stream: int,
        seq: int,
        sent: int,
        now: int,
        *,
        cross: bool = False,
    ) -> bool:
        """Count one arrival; True if it is the first of its kind."""
        key = (recipient, stream)
        seen = self._seen.get(key)
        if seen is None or not 0 <= seq < self.capacity:
            self.unexpected += 1
            return False
        if seen[seq]:
            self.duplicated += 1
            return False
        seen[seq] = 1
        if seq < self._top[key]:
            self.reordered += 1
        else:
            self._top[key] = seq
        self.latency_ns.append(now - sent)
        if cross:
            self.cross_ns.append(now - sent)
        self.received += 1
        self.last_ns = now
        if self.received == self.expected and self.closed and not self.done.done():
            self.done.set_result(None)
        return True

    def close(self) -> None:
        self.closed = True
        if self.received >= self.expected and not self.done.done():
            self.done.set_result(None)

    async def settle(self, p: dict[str, Any]) -> None:
        """Wait until everything expected arrived, nothing moved for ``stall``
        seconds (the rest counts as lost), or the window limit passed."""
        start = last_moved = time.monotonic()
        last = -1
        while not self.done.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.done), 0.5)
            now = time.monotonic()
            if now - start > p["window_limit"]:
                self.cut_short = (
                    f"window limit of {p['window_limit']:.0f} s: delivered "
                    f"{self.received:,} of {self.expected:,}"
                )
                return
            if self.received != last:
                last, last_moved = self.received, now
            elif now - last_moved > p["stall"]:
                return

    def summary(self) -> dict[str, Any]:
        result = {
            "expected": self.expected,
            "delivered": self.received,
            "lost": self.expected - self.received,
            "duplicated": self.duplicated,
            "reordered": self.reordered,
            "unexpected": self.unexpected,
            **_percentiles([ns / 1e9 for ns in self.latency_ns]),
        }
        if self.cross_ns:
            cross = _percentiles([ns / 1e9 for ns in self.cross_ns])
            result |= {f"cross_{k}": v for k, v in cross.items()}
            result["cross_delivered"] = len(self.cross_ns)
        return result


def _percentiles(seconds: list[float]) -> dict[str, float | None]:
    s = sorted(seconds)
    if not s:
        return {"p50_ms": None, "p99_ms": None, "max_ms": None}
    return {
        "p50_ms": s[len(s) // 2] * 1e3,
        "p99_ms": s[min(len(s) - 1, int(0.99 * len(s)))] * 1e3,
        "max_ms": s[-1] * 1e3,
    }


class SetupFailed(Exception):
    pass


async def _room(
    gen: Generator, prefix: str, n: int, room: str, p: dict[str, Any]
) -> tuple[list[Client], dict[str, Any]]:
    """Log in ``n`` clients and join them all to ``room``, within the setup time."""
    deadline = time.monotonic() + p["setup_timeout"]
    logins = await gen.login_many([f"{gen.tag}{prefix}{i}" for i in range(n)], deadline)
    clients: list[Client] = logins["clients"]
    if len(clients) < n:
        raise SetupFailed(_failed(f"logged in {len(clients)} of {n}", logins))
    t0 = time.monotonic()
    join = gen.dialect.join(room)
    for client in clients:
        client.write(join)
    joined = await gen.barrier_all(clients, "joined", max(deadline - t0, 1.0))
    if joined < n:
        raise SetupFailed(
            f"joins time out: {joined} of {n} joined in the "
            f"{p['setup_timeout']:.0f} s setup limit (logins took "
            f"{logins['seconds']:.1f} s)"
        )
    return clients, {"login_s": logins["seconds"], "join_s": time.monotonic() - t0}


def _failed(what: str, logins: dict[str, Any]) -> str:
    reasons = sorted(set(logins["failures"]))[:3]
    return f"{what} in {logins['seconds']:.1f} s ({'; '.join(reasons)})"


async def fanout(gen: Generator, p: dict[str, Any]) -> dict[str, Any]:
    n, senders, count = p["members"], p["senders"], p["messages"]
    room = f"#{gen.tag}bench"
    clients, setup = await _room(gen, "f", n, room, p)
    dialect, target = gen.dialect, room.encode()
    tracker = Tracker(count)
    for client in clients:
        for s in range(senders):
            if s != client.index:
                tracker.open(client.index, s)
                tracker.expected += count
    tracker.closed = True
    observer = clients[-1]  # not a sender: it paces the windowed senders

    def on_msg(client: Client, a: int, b: int, sent: int, now: int) -> None:
        # A sender out of range is not ours: record() counts it unexpected.
        cross = a < n and client.node != clients[a].node
        first = tracker.record(client.index, a, b, sent, now, cross=cross)
        if p["window"] and first and client is observer and b + 1 < count:
            clients[a].write(dialect.msg(target, a, b + 1, time.monotonic_ns()))

    for client in clients:
        client.on_msg = on_msg
    await gen.mark("start")
    go = time.monotonic_ns()
    if p["window"]:
        for s in range(senders):
            clients[s].write(dialect.msg(target, s, 0, time.monotonic_ns()))
    else:

        async def flat(s: int) -> None:
            for seq in range(count):
                clients[s].write(dialect.msg(target, s, seq, time.monotonic_ns()))
                await asyncio.sleep(0)

        await asyncio.gather(*(flat(s) for s in range(senders)))
    await tracker.settle(p)
    await gen.mark("end")
    return _window(tracker, go) | setup


def _window(tracker: Tracker, go: int) -> dict[str, Any]:
    seconds = max(tracker.last_ns - go, 1) / 1e9
    result = tracker.summary() | {
        "window_s": seconds,
        "deliveries_per_s": tracker.received / seconds,
    }
    if tracker.cut_short:
        result["error"] = tracker.cut_short
    return result


def pair_nodes(pairs: int) -> Callable[[int, int], int]:
    """Where DM users go: ``a<i>`` (index i) on node i mod nodes, its partner
    ``b<i>`` (index pairs + i) on the next node, so on several nodes every
    pair crosses, and each node holds as many askers as answerers."""

    def place(index: int, nodes: int) -> int:
        return (index % pairs + index // pairs) % nodes

    return place


async def dm(gen: Generator, p: dict[str, Any]) -> dict[str, Any]:
    pairs, count = p["pairs"], p["messages"]
    nicks = [f"{gen.tag}{ab}{i}" for ab in "ab" for i in range(pairs)]
    logins = await gen.login_many(
        nicks, time.monotonic() + p["setup_timeout"], place=pair_nodes(pairs)
    )
    clients: list[Client] = logins["clients"]
    if len(clients) < 2 * pairs:
        raise SetupFailed(_failed(f"logged in {len(clients)} of {2 * pairs}", logins))
    await gen.barrier_all(clients, "ready", p["setup_timeout"])
    dialect = gen.dialect
    names = [n.encode() for n in nicks]
    trips, there = Tracker(count), Tracker(count)
    for i in range(pairs):
        trips.open(i, i)
        there.open(pairs + i, i)
    trips.expected = there.expected = pairs * count
    trips.closed = there.closed = True

    def on_msg(client: Client, a: int, b: int, sent: int, now: int) -> None:
        cross = a < pairs and clients[a].node != clients[pairs + a].node
        if client.index >= pairs:  # b side: answer with the original stamp
            there.record(client.index, a, b, sent, now, cross=cross)
            client.write(dialect.msg(names[a], a, b, sent))
        elif trips.record(client.index, a, b, sent, now, cross=cross) and b + 1 < count:
            client.write(dialect.msg(names[pairs + a], a, b + 1, time.monotonic_ns()))

    for client in clients:
        client.on_msg = on_msg
    await gen.mark("start")
    go = time.monotonic_ns()
    for i in range(pairs):
        clients[i].write(dialect.msg(names[pairs + i], i, 0, time.monotonic_ns()))
    await trips.settle(p)
    await gen.mark("end")
    result = _window(trips, go)
    one_way = there.summary()
    result["round_trips_per_s"] = result.pop("deliveries_per_s")
    result["delivered"] += one_way["delivered"]
    result["expected"] += one_way["expected"]
    for key in ("lost", "duplicated", "reordered", "unexpected"):
        result[key] += one_way[key]
    result["round_trips"] = trips.received
    result["one_way"] = {k: v for k, v in one_way.items() if k.endswith("_ms")}
    return result | {"login_s": logins["seconds"]}


async def idle(gen: Generator, p: dict[str, Any]) -> dict[str, Any]:
    n = p["connections"]
    await gen.mark("start")
    logins = await gen.login_many(
        [f"{gen.tag}i{i}" for i in range(n)], time.monotonic() + p["setup_timeout"]
    )
    clients: list[Client] = logins["clients"]
    held = await gen.barrier_all(clients, "held", p["setup_timeout"])
    await gen.mark("end")
    failures = logins["failures"]
    return {
        "connections": n,
        "logged_in": len(clients),
        "held": held,
        "login_s": logins["seconds"],
        "failures": len(failures),
        "failure_reasons": sorted(set(failures))[:3],
        "login": _percentiles(logins["times"]),
    }


async def storm(gen: Generator, p: dict[str, Any]) -> dict[str, Any]:
    """``logins`` new clients log in while ``chatters`` talk in a room."""
    n, talkers, interval = p["chatters"], p["talkers"], p["interval"]
    room = f"#{gen.tag}chat"
    clients, setup = await _room(gen, "c", n, room, p)
    dialect, target = gen.dialect, room.encode()
    loop = asyncio.get_running_loop()
    tracker = Tracker(p["max_messages"])
    for client in clients:
        for s in range(talkers):
            if s != client.index:
                tracker.open(client.index, s)
    observer = clients[-1]
    sent = [0] * talkers

    def send(s: int) -> None:
        if tracker.closed or sent[s] >= tracker.capacity:
            return
        tracker.expected += n - 1
        clients[s].write(dialect.msg(target, s, sent[s], time.monotonic_ns()))
        sent[s] += 1

    def on_msg(client: Client, a: int, b: int, sent_ns: int, now: int) -> None:
        cross = a < n and client.node != clients[a].node
        if tracker.record(client.index, a, b, sent_ns, now, cross=cross) and (
            client is observer
        ):
            loop.call_later(interval, send, a)

    for client in clients:
        client.on_msg = on_msg
    await gen.mark("start")
    go = time.monotonic_ns()
    for s in range(talkers):
        send(s)
    logins = await gen.login_many(
        [f"{gen.tag}s{i}" for i in range(p["logins"])],
        time.monotonic() + p["setup_timeout"],
    )
    tracker.close()
    await tracker.settle(p)
    await gen.mark("end")
    return (
        _window(tracker, go)
        | setup
        | {
            "storm_logins": len(logins["clients"]),
            "storm_s": logins["seconds"],
            "storm_failures": len(logins["failures"]),
        }
    )


KINDS = {"fanout": fanout, "dm": dm, "idle": idle, "storm": storm}


async def run(gen: Generator) -> dict[str, Any]:
    try:
        return await KINDS[gen.job["kind"]](gen, gen.job["params"])
    except SetupFailed as exc:
        return {"error": str(exc)}
