"""Consumers in modbot's consumer groups: heartbeats of live ones, taking over dead ones' work at once, and
removing ones idle for long.

Each daemon refreshes `{p}alive:<consumer>` (expiring after `stream.heartbeat_ttl_s`). A consumer that holds
pending entries but has no heartbeat was killed (kill -9, out of memory, a lost machine): its entries are
claimed right away instead of after `stream.reclaim_idle_ms`. Consumers with nothing pending are deleted from
the groups (XGROUP DELCONSUMER) once they have no heartbeat, or have been idle for `stream.consumer_idle_max_s`
(consumers of a modbot without heartbeats), so restarts under new names (hostname-pid) do not pile up; one with
pending entries is never deleted, its entries are claimed first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from modbot.config import StreamSettings
from modbot.keys import OUTBOX_GROUP, Keys
from modbot.replies import as_str
from modbot.retry import sleep_or_stop

log = logging.getLogger("modbot.consumers")

# A dead consumer's entry is claimed only if idle this long: two live daemons noticing the same death at once
# then claim it once (the first claim resets the idle time), and the entries are older than this anyway.
DEAD_CLAIM_MIN_IDLE_MS = 1000
PRUNE_INTERVAL_S = 60.0


class Heartbeat:
    """This daemon's `{p}alive:<consumer>` key: refreshed well within its TTL, deleted on a clean exit."""

    def __init__(self, redis: aioredis.Redis, keys: Keys, consumer: str, ttl_s: float) -> None:
        self.redis = redis
        self.key = keys.alive(consumer)
        self.ttl_ms = max(1, int(ttl_s * 1000))

    async def beat(self) -> None:
        """Say this consumer is alive for one more TTL."""
        await self.redis.set(self.key, "1", px=self.ttl_ms)

    async def run(self, stop: asyncio.Event) -> None:
        """Beat three times per TTL until `stop` is set (a missed beat or two is not a death)."""
        while not await sleep_or_stop(stop, self.ttl_ms / 3000):
            try:
                await self.beat()
            except (RedisConnectionError, RedisTimeoutError) as exc:
                log.debug("heartbeat not refreshed", extra={"error": str(exc)})

    async def clear(self) -> None:
        """On a clean exit, after the last delivery attempt: what is still pending is free to take now."""
        with contextlib.suppress(RedisConnectionError, RedisTimeoutError):  # else it expires by itself
            await self.redis.delete(self.key)


class DeadConsumers:
    """Takes over the pending entries of consumers of one group whose heartbeat is gone."""

    def __init__(self, redis: aioredis.Redis, keys: Keys, stream: str, group: str, consumer: str,
                 interval_s: float = 1.0) -> None:
        self.redis = redis
        self.keys = keys
        self.stream = stream
        self.group = group
        self.consumer = consumer
        self.interval_s = interval_s  # XINFO CONSUMERS at most this often
        self._next_check = 0.0

    async def claim(self, count: int) -> list[tuple[str, dict[bytes, bytes]]]:
        """Up to `count` entries left pending by dead consumers, now ours (empty between checks)."""
        loop = asyncio.get_running_loop()
        if loop.time() < self._next_check:
            return []
        self._next_check = loop.time() + self.interval_s
        for name in await self._dead():
            held: Any = await self.redis.xpending_range(self.stream, self.group, min="-", max="+", count=count,
                                                        consumername=name)
            if not held:
                continue
            claimed: Any = await self.redis.xclaim(self.stream, self.group, self.consumer,
                                                   min_idle_time=DEAD_CLAIM_MIN_IDLE_MS,
                                                   message_ids=[e["message_id"] for e in held])
            if claimed:
                log.warning("took over the work of a consumer with no heartbeat (it died)",
                            extra={"dead_consumer": name, "stream": self.stream, "entries": len(claimed)})
                return [(as_str(i), f or {}) for i, f in claimed]
        return []

    async def _dead(self) -> list[str]:
        try:
            infos: Any = await self.redis.xinfo_consumers(self.stream, self.group)
        except ResponseError:  # no stream or group yet
            return []
        names = [as_str(c["name"]) for c in infos if int(c["pending"]) > 0 and as_str(c["name"]) != self.consumer]
        if not names:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.exists(self.keys.alive(name))
            alive = await pipe.execute()
        return [n for n, a in zip(names, alive, strict=True) if not a]


async def prune_idle(redis: aioredis.Redis, keys: Keys, stream: str, group: str, idle_max_ms: int, keep: str,
                     dead_after_ms: int | None = None) -> list[str]:
    """Delete the consumers of a group that have nothing pending and were idle over `idle_max_ms`, or, with
    `dead_after_ms`, idle that long with no heartbeat (dead: nothing to wait for). Returns their names.
    A live consumer removed by mistake loses nothing: it has nothing pending and its next read adds it back."""
    try:
        infos: Any = await redis.xinfo_consumers(stream, group)
    except ResponseError:  # no stream or group yet
        return []
    idle = {as_str(c["name"]): int(c["idle"]) for c in infos if int(c["pending"]) == 0 and as_str(c["name"]) != keep}
    async with redis.pipeline(transaction=False) as pipe:
        for name in idle:
            pipe.exists(keys.alive(name))
        alive = dict(zip(idle, await pipe.execute(), strict=True))
    gone = [name for name, ms in idle.items()
            if ms > idle_max_ms or (dead_after_ms is not None and not alive[name] and ms > dead_after_ms)]
    for name in gone:
        await redis.xgroup_delconsumer(stream, group, name)
    if gone:
        log.info("removed idle consumers", extra={"stream": stream, "group": group, "consumers": gone})
    return gone


async def prune_loop(redis: aioredis.Redis, keys: Keys, settings: StreamSettings, consumer: str,
                     stop: asyncio.Event, interval_s: float = PRUNE_INTERVAL_S) -> None:
    """Prune idle and dead consumers from the input and outbox groups at start and every `interval_s`."""
    idle_ms = int(settings.consumer_idle_max_s * 1000)
    dead_ms = int(settings.heartbeat_ttl_s * 1000)
    while True:
        try:
            await prune_idle(redis, keys, keys.comments, settings.group, idle_ms, consumer, dead_ms)
            for part in keys.parts:
                await prune_idle(redis, keys, part.outbox, OUTBOX_GROUP, idle_ms, consumer, dead_ms)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            log.debug("idle consumers not pruned", extra={"error": str(exc)})
        if await sleep_or_stop(stop, interval_s):
            return
