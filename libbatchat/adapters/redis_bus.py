"""The cluster bus on Redis, for the asyncio server (``batchat-server --cluster``).

It carries a ``Cluster``'s outbox (libbatchat._cluster) and nothing more:

- ``Publish``: ``PUBLISH <prefix>:events`` (consecutive ones pipelined, so a
  node's events reach every subscriber in the order the core made them);
- ``Claim``/``Release``: a Lua script on ``<prefix>:name:<key>`` (the holder
  node's id) and ``<prefix>:names:<node>`` (the names a node holds), so two
  nodes racing for one name are ordered by Redis: one wins;
- liveness: every ``heartbeat`` seconds a script stamps this node in the
  sorted set ``<prefix>:nodes`` with Redis's own clock plus ``ttl``, removes
  every node whose stamp has passed along with the names it held, and returns
  the nodes left, which go to ``Cluster.alive()``. So a node killed without a
  word has its users offline everywhere, out of their rooms and their names
  free within ``ttl + heartbeat`` seconds.

When Redis cannot be reached the node keeps serving its own clients, logs it
and tells the core (``Cluster.link``); when it is back (or Redis restarted
and forgot us) the core resynchronizes: names claimed again, states traded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from libbatchat._cluster import Claim, Cluster, Publish, Release

from ._common import redact
from .aio import Server

log = logging.getLogger("libbatchat.adapters.redis")

HEARTBEAT = 1.0
TTL = 3.0

_CLAIM = """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[2], ARGV[2])
return 1
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
redis.call('SREM', KEYS[2], ARGV[2])
return 1
"""

# KEYS[1]: the nodes' sorted set. ARGV: prefix, node, ttl.
_HEARTBEAT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local new = redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[2])
for _, node in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)) do
  local held = ARGV[1] .. ':names:' .. node
  for _, key in ipairs(redis.call('SMEMBERS', held)) do
    local name = ARGV[1] .. ':name:' .. key
    if redis.call('GET', name) == node then redis.call('DEL', name) end
  end
  redis.call('DEL', held)
  redis.call('ZREM', KEYS[1], node)
end
return {new, redis.call('ZRANGE', KEYS[1], 0, -1)}
"""

# Drops every name node ARGV[2] holds (ARGV[3] == '1': the node too).
_DROP = """
local held = ARGV[1] .. ':names:' .. ARGV[2]
for _, key in ipairs(redis.call('SMEMBERS', held)) do
  local name = ARGV[1] .. ':name:' .. key
  if redis.call('GET', name) == ARGV[2] then redis.call('DEL', name) end
end
redis.call('DEL', held)
if ARGV[3] == '1' then redis.call('ZREM', KEYS[1], ARGV[2]) end
return 1
"""

_ERRORS = (OSError, asyncio.TimeoutError, RedisError)


def node_id() -> str:
    """A fresh id per process: a restarted node never inherits a dead one's."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


class RedisBus:
    """Joins ``server`` to the cluster at ``url`` (``redis://host:port/db``).

    Create the server with ``cluster=Cluster(node_id())``, then
    ``await bus.start()`` before ``server.start()``, and ``await bus.close()``
    after ``server.close()``.
    """

    def __init__(
        self,
        url: str,
        server: Server,
        *,
        prefix: str = "batchat",
        heartbeat: float = HEARTBEAT,
        ttl: float = TTL,
    ) -> None:
        if not ttl > heartbeat > 0:
            raise ValueError("the ttl must exceed the heartbeat, both positive")
        cluster = server.core.cluster
        if cluster is None:
            raise ValueError("the server was not made with cluster=Cluster(...)")
        self.url = url
        self.server = server
        self.cluster: Cluster = cluster
        self.prefix = prefix
        self.heartbeat = heartbeat
        self.ttl = ttl
        timeout = max(ttl - heartbeat, 0.1)
        self._redis: Any = aioredis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        self._channel = f"{prefix}:events"
        self._nodes = f"{prefix}:nodes"
        self._claim = self._redis.register_script(_CLAIM)
        self._release = self._redis.register_script(_RELEASE)
        self._beat_script = self._redis.register_script(_HEARTBEAT)
        self._drop = self._redis.register_script(_DROP)
        self._wake = asyncio.Event()
        self._beat_now = asyncio.Event()
        self._subscribed = asyncio.Event()
        self._drained = asyncio.Event()
        self._healthy = True
        self._up = asyncio.Event()
        self._up.set()
        self._closing = False
        self._trust_after = 0.0
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def node(self) -> str:
        return self.cluster.node

    async def start(self) -> None:
        """Register, subscribe, and start carrying the outbox.

        Raises ``ConnectionError`` if Redis cannot be reached now: a node
        that never joined must not serve as if alone.
        """
        try:
            await self._beat()
        except _ERRORS as exc:
            where = redact(self.url)  # the URL may carry Redis's password
            raise ConnectionError(f"cannot reach Redis at {where}: {exc}") from exc
        self.server.on_applied = self._wake.set
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._listen(), name="batchat-redis-listen"),
            loop.create_task(self._carry(), name="batchat-redis-carry"),
            loop.create_task(self._heartbeats(), name="batchat-redis-heartbeat"),
        ]
        async with asyncio.timeout(self.ttl * 10):
            await self._subscribed.wait()
        self._wake.set()
        log.info("node %s joined the cluster at %s", self.node, redact(self.url))

    async def close(self) -> None:
        """Carry what is left (names freed, the goodbye), then leave."""
        if self.cluster.outbox and self._healthy:
            self._drained.clear()
            self._wake.set()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.ttl):
                    await self._drained.wait()
        # redis-py can turn a cancellation into a ConnectionError, which the
        # loops would retry (redis-py issues 2028, 2551): they also stop on
        # _closing, and the wait is bounded (never suppress our own cancel).
        self._closing = True
        pending = set(self._tasks)
        for _ in range(10):
            for task in pending:
                task.cancel()
            if not pending:
                break
            _, pending = await asyncio.wait(pending, timeout=self.heartbeat)
        if pending:
            log.warning("node %s: %d Redis tasks did not stop", self.node, len(pending))
        for task in self._tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                log.warning(
                    "node %s: a Redis task failed: %r", self.node, task.exception()
                )
        with contextlib.suppress(*_ERRORS):
            await self._drop(keys=[self._nodes], args=[self.prefix, self.node, "1"])
        with contextlib.suppress(*_ERRORS):
            await self._redis.aclose()
        log.info("node %s left the cluster", self.node)

    # -- health -----------------------------------------------------------------

    async def reachable(self) -> None:
        """Return once Redis is reachable (at once unless it was lost), the
        node resynchronized: names can be claimed again."""
        await self._up.wait()

    def _lost(self, exc: BaseException) -> None:
        if self._healthy and not self._closing:
            log.error("Redis unreachable (%s): serving this node's clients only", exc)
        self._healthy = False
        self._up.clear()
        self.server.apply(self.cluster.link(False))

    async def _recovered(self) -> None:
        log.warning("Redis is back: resynchronizing node %s", self.node)
        # Idle pooled connections may be to the Redis that went away: drop
        # them, or the first command on each fails and Redis seems lost again.
        await self._redis.connection_pool.disconnect(inuse_connections=False)
        # Names released while Redis was away may still be ours there: drop
        # them all; the core claims again those still online.
        await self._drop(keys=[self._nodes], args=[self.prefix, self.node, "0"])
        self._healthy = True
        # A restarted Redis lists only the nodes that stamped themselves
        # since: give the others a ttl to do so before judging them gone.
        self._trust_after = asyncio.get_running_loop().time() + self.ttl
        self.server.apply(self.cluster.link(True))
        self.cluster.resync()
        self._up.set()
        self._wake.set()

    async def _beat(self) -> tuple[bool, list[str]]:
        """Stamp this node: whether Redis did not know it (new, or forgotten),
        and the nodes alive."""
        new, alive = await self._beat_script(
            keys=[self._nodes], args=[self.prefix, self.node, self.ttl]
        )
        nodes = [n.decode() if isinstance(n, bytes) else str(n) for n in alive]
        return bool(new), nodes

    async def _heartbeats(self) -> None:
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.heartbeat):
                    await self._beat_now.wait()
            self._beat_now.clear()
            try:
                forgotten, nodes = await self._beat()
            except _ERRORS as exc:
                self._lost(exc)
                continue
            if not self._subscribed.is_set():
                continue
            if not self._healthy or forgotten:
                if forgotten and self._healthy:
                    log.warning("Redis forgot node %s (restart or expiry)", self.node)
                try:
                    await self._recovered()
                except _ERRORS as exc:
                    self._lost(exc)
            elif asyncio.get_running_loop().time() >= self._trust_after:
                self.server.apply(self.cluster.alive(nodes))

    # -- events in --------------------------------------------------------------

    async def _listen(self) -> None:
        delay = 0.05
        while not self._closing:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.subscribe(self._channel)
                self._subscribed.set()
                self._beat_now.set()
                delay = 0.05
                while not self._closing:
                    message = await pubsub.get_message(
                        ignore_subscribe_messages=True, timeout=self.heartbeat
                    )
                    if message is not None and message["type"] == "message":
                        self.server.apply(self.cluster.receive(message["data"]))
            except _ERRORS as exc:
                self._subscribed.clear()
                self._lost(exc)
            finally:
                with contextlib.suppress(*_ERRORS):
                    await pubsub.aclose()
            await asyncio.sleep(delay)  # a retry backoff, not a synchronization
            delay = min(delay * 2, self.heartbeat)

    # -- events out -------------------------------------------------------------

    async def _carry(self) -> None:
        outbox = self.cluster.outbox
        while not self._closing:
            await self._wake.wait()
            self._wake.clear()
            while outbox:
                op = outbox[0]
                if isinstance(op, Publish):
                    batch: list[bytes] = []
                    while outbox and isinstance(outbox[0], Publish):
                        batch.append(outbox.popleft().data)  # type: ignore[union-attr]
                    await self._publish(batch)
                elif isinstance(op, Claim):
                    outbox.popleft()
                    result = await self._claim_name(op)
                    self.server.apply(self.cluster.claimed(op, result))
                else:
                    assert isinstance(op, Release)
                    outbox.popleft()
                    await self._release_name(op.key)
            self._drained.set()

    async def _publish(self, batch: list[bytes]) -> None:
        if not self._healthy:
            return  # lost; the states traded on resync make up for it
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for data in batch:
                    pipe.publish(self._channel, data)
                await pipe.execute()
        except _ERRORS as exc:
            self._lost(exc)

    def _keys(self, key: str) -> list[str]:
        return [f"{self.prefix}:name:{key}", f"{self.prefix}:names:{self.node}"]

    async def _claim_name(self, op: Claim) -> object:
        if not self._healthy:
            return ConnectionError("Redis is unreachable")
        try:
            won = await self._claim(keys=self._keys(op.key), args=[self.node, op.key])
        except _ERRORS as exc:
            self._lost(exc)
            return exc
        return bool(won)

    async def _release_name(self, key: str) -> None:
        if not self._healthy:
            return  # Redis drops our names itself once our stamp expires
        try:
            await self._release(keys=self._keys(key), args=[self.node, key])
        except _ERRORS as exc:
            self._lost(exc)
