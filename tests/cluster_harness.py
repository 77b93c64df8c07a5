"""Several ServerCores as one cluster on an in-memory bus, no sockets.

The bus does what the Redis adapter does: publishes reach every node in
order, a claim takes a free name (or one this node holds already) in one
atomic step, a release frees a name the node holds. With ``auto=False`` the
test steps the outboxes itself, to stage races.
"""

from __future__ import annotations

from libbatchat import MemoryStore, Message
from libbatchat._accounts import AccountStore
from libbatchat._cluster import Claim, Cluster, Publish, Release
from libbatchat._config import Limits
from libbatchat._server import Output
from tests.server_harness import FAST, Client, Net

PW = "pw pw"
LINE = "FROM x {} 2026-09-21T12:00:00.000Z y\n"  # a message event's wire form


class Node(Net):
    def __init__(
        self, bus: Bus, name: str, accounts: AccountStore, limits: Limits = FAST
    ) -> None:
        self.bus = bus
        self.cluster = Cluster(name)
        super().__init__(limits, cluster=self.cluster, accounts=accounts)

    def apply(self, out: Output) -> None:
        super().apply(out)
        if self.bus.auto:
            self.bus.flush()


class Bus:
    def __init__(
        self, nodes: int = 2, *, auto: bool = True, limits: Limits = FAST
    ) -> None:
        self.auto = auto
        self.limits = limits
        self.names: dict[str, str] = {}
        self.down = False
        self.deaf = False  # publishes are lost, claims still work
        store = MemoryStore()
        self.nodes: list[Node] = []
        for i in range(nodes):
            self.add(f"n{i}", store)

    def add(self, name: str, store: AccountStore | None = None) -> Node:
        node = Node(self, name, store or self.nodes[0].core.accounts, self.limits)
        self.nodes.append(node)
        if self.auto:
            self.flush()
        return node

    def step(self, node: Node) -> bool:
        """Carry out ``node``'s next operation; False if it had none."""
        outbox = node.cluster.outbox
        if not outbox:
            return False
        op = outbox.popleft()
        me = node.cluster.node
        if isinstance(op, Publish):
            if self.down:
                pass
            elif self.deaf:
                # Lost on the way to the others; the sender's own copy
                # comes back as if the bus worked.
                node.apply(node.cluster.receive(op.data))
            else:
                for other in self.nodes:
                    other.apply(other.cluster.receive(op.data))
        elif isinstance(op, Claim):
            result: object
            if self.down:
                result = ConnectionError("bus down")
            elif self.names.setdefault(op.key, me) == me:
                result = True
            else:
                result = False
            node.apply(node.cluster.claimed(op, result))
        else:
            assert isinstance(op, Release)
            if not self.down and self.names.get(op.key) == me:
                del self.names[op.key]
        return True

    def flush(self) -> None:
        auto, self.auto = self.auto, False
        try:
            for _ in range(100_000):
                # Every node takes a step each round: no short-circuit.
                stepped = [self.step(n) for n in self.nodes]
                if not any(stepped):
                    return
            raise AssertionError("bus did not settle")
        finally:
            self.auto = auto

    def set_down(self, down: bool) -> None:
        """The bus goes away (every node is told, as by a failed call) or
        comes back (the nodes are not told: a test resyncs them)."""
        self.down = down
        if down:
            for node in self.nodes:
                node.apply(node.cluster.link(False))

    def kill(self, node: Node) -> None:
        """The node vanishes without a word; the survivors learn it from
        liveness, as from a heartbeat's expiry, and its names are freed."""
        self.nodes.remove(node)
        gone = node.cluster.node
        self.names = {k: v for k, v in self.names.items() if v != gone}
        alive = [n.cluster.node for n in self.nodes]
        for other in self.nodes:
            other.apply(other.cluster.alive(alive))

    def user(self, node: Node, name: str, password: str = "pw pw") -> Client:
        from libbatchat import Login, Register

        c = node.connect()
        assert c.ask(Register(user=name, password=password)).code == 213
        assert c.ask(Login(user=name, password=password)).code == 214
        self.clear()
        return c

    def guest(self, node: Node, name: str) -> Client:
        from libbatchat import Nick

        c = node.connect()
        assert c.ask(Nick(nick=name)).code == 218
        self.clear()
        return c

    def clear(self) -> None:
        for node in self.nodes:
            for client in node.clients.values():
                if not client.closed:
                    client.take()


def texts(client: object) -> list[str]:
    return [p.text for p in client.pushes() if isinstance(p, Message)]  # type: ignore[attr-defined]
