"""The ``cluster`` server of the runner: two asyncio nodes on one Redis.

The runner starts its own ``redis-server`` on 127.0.0.1
(``benchmarks.redis_daemon``, as the tests do: a reserved port and a
password of its own; nothing persisted) and two
``batchat-server --cluster`` nodes on it, each on its own port 0, and
stops all three afterwards. The generator spreads its clients over the two
nodes (``clients.Generator``): room members alternate between them, so
senders sit on both, and each DM pair has one user on each.

The cost of a delivery is read from the /proc counters of all three
processes: the two nodes and Redis, which carries every event between them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from benchmarks import servers
from benchmarks.redis_daemon import RedisDaemon
from libbatchat.adapters._common import redact

NODES = 2
# One stamp a second, as by default; a node is judged gone only after 60 s
# without one (the default is 3 s), so a node starved of CPU on a loaded
# machine is measured, not dropped with its users in the middle of a window.
HEARTBEAT = 1.0
TTL = 60.0


@dataclass
class Nodes:
    """Redis and the nodes on it, seen by the runner as one server."""

    redis: RedisDaemon
    nodes: list[servers.Running] = field(default_factory=list)
    name: str = servers.CLUSTER
    dialect: str = "canonical"
    max_in_flight: int | None = None

    @property
    def url(self) -> str:
        return self.redis.url

    @property
    def ports(self) -> list[int]:
        return [node.port for node in self.nodes]

    @property
    def limits(self) -> str:
        first = self.nodes[0].limits if self.nodes else ""
        where = redact(self.url)  # the results are shared: not its password
        return f"{len(self.nodes)} nodes on redis-server at {where}; {first}"

    def pids(self) -> dict[str, int]:
        pids = {f"node{i}": node.pid for i, node in enumerate(self.nodes)}
        return pids | {"redis": self.redis.pid}

    def died(self) -> str | None:
        code = self.redis.died()
        if code is not None:
            return f"redis-server died (exit {code})"
        for i, node in enumerate(self.nodes):
            note = node.died()
            if note is not None:
                return f"node{i}: {note}"
        return None

    def stop(self) -> str | None:
        """Stop the nodes, then Redis; a note if one had died on its own."""
        notes = []
        for i, node in enumerate(self.nodes):
            note = servers.stop(node)
            if note is not None:
                notes.append(f"node{i}: {note}")
        code = self.redis.died()
        if code is not None:
            notes.append(f"redis-server died (exit {code})")
        self.redis.close()
        return "; ".join(notes) or None


def start(workdir: Path, tree: Path = servers.ROOT) -> Nodes:
    """Redis, then the nodes one after the other; returns once all listen."""
    workdir.mkdir(parents=True, exist_ok=True)
    binary = servers.redis_server_path()
    if binary is None:
        raise servers.StartFailed("redis-server is not installed")
    redis = RedisDaemon(binary, workdir)
    redis.start()
    group = Nodes(redis)
    flags = [
        f"--cluster={group.url}",
        f"--cluster-heartbeat={HEARTBEAT}",
        f"--cluster-ttl={TTL}",
    ]
    try:
        for i in range(NODES):
            node = servers.start("asyncio", workdir / f"node{i}", tree, flags)
            group.nodes.append(node)
    except servers.StartFailed:
        group.stop()
        raise
    return group
