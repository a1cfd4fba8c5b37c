"""Every daemon delivers: each partition's outbox by one daemon at a time, under a lease.

`{p}lease:outbox:<n>` names the daemon delivering partition n (SET NX with a TTL, `sink.lease_ttl_s`). The
holder renews it three times per TTL and, before each send, checks that its lease has not run out (the time
it renewed it plus the TTL, measured from before the renewal was sent, so no round trip is needed). A
daemon that stops gives its leases up after its last delivery attempt; a killed one's run out, and the
others take its partitions within about one TTL.

Each daemon aims at its fair share: the partitions divided by the live deliverers, rounded up. The live
deliverers are the members of `{p}deliverers` (a sorted set scored by when each one's registration runs out,
refreshed at each renewal), so counting them needs no scan of the keyspace. A daemon holding more than its
share gives the extra ones back (between two deliveries), so a daemon that joins gets work within one round;
one holding fewer takes free partitions, starting at a place derived from its name so that daemons starting
together do not all race for the same ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import zlib
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from modbot.config import SinkSettings
from modbot.keys import Keys
from modbot.outbox import LeaseLost, OutboxDeliverer
from modbot.retry import sleep_or_stop
from modbot.sinks.base import Sink
from modbot.slots import mget, queue_script

log = logging.getLogger("modbot.outbox")

# Renew (PEXPIRE) or give up (DEL) a lease only if it is still ours: a late call never touches another's.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass
class _Held:
    deliverer: OutboxDeliverer
    stop: asyncio.Event
    task: asyncio.Task[None]
    valid_until: float  # monotonic time the lease runs out unless renewed


class DeliveryPool:
    """The outbox deliverers of one daemon: one per partition whose lease it holds."""

    def __init__(self, redis: aioredis.Redis, keys: Keys, sink: Sink, settings: SinkSettings, consumer: str,
                 reclaim_idle_ms: int = 60_000) -> None:
        self.redis = redis
        self.keys = keys
        self.sink = sink
        self.settings = settings
        self.consumer = consumer
        self.reclaim_idle_ms = reclaim_idle_ms
        self.ttl_ms = max(100, int(settings.lease_ttl_s * 1000))
        self.held: dict[int, _Held] = {}
        self._tasks: set[asyncio.Task[None]] = set()  # every deliverer started, until it has finished
        self._delivered_before = 0  # by deliverers of partitions given up since
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)
        self._members = keys.deliverers

    @property
    def delivered(self) -> int:
        return self._delivered_before + sum(h.deliverer.delivered for h in self.held.values())

    async def run(self, stop: asyncio.Event) -> None:
        """Hold a fair share of the partitions and deliver them until `stop` is set; the deliveries in progress
        finish first. The leases are kept (for `flush`); `release_all` gives them up."""
        while not stop.is_set():
            try:
                await self.rebalance()
            except (RedisConnectionError, RedisTimeoutError) as exc:
                log.debug("delivery leases not renewed", extra={"error": str(exc)})
            await sleep_or_stop(stop, self.ttl_ms / 3000)
        for n in list(self.held):
            self.held[n].stop.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def rebalance(self) -> None:
        """Renew what is held, give back what is over the fair share, take free partitions up to it."""
        await self._renew_all()
        target = await self._fair_share()
        active = sorted(n for n, h in self.held.items() if not h.stop.is_set())
        for n in active[target:]:
            # Leaving: its deliverer stops after the delivery in progress; the lease is renewed until then and
            # given up at a later round, so no renewal here ever waits for a delivery.
            self.held[n].stop.set()
            log.info("giving partition back (more daemons deliver now)", extra={"partition": n})
        held = min(len(active), target)
        if held >= target:
            return
        start = zlib.crc32(self.consumer.encode("utf-8", "surrogatepass")) % self.keys.partitions
        order = [(start + i) % self.keys.partitions for i in range(self.keys.partitions)]
        holders = await mget(self.redis, [self.keys.lease(n) for n in order])
        for n, holder in zip(order, holders, strict=True):
            if held >= target:
                break
            if holder is None and n not in self.held and await self._take(n):
                held += 1

    async def flush(self, timeout_s: float = 5.0) -> int:
        """One delivery attempt for what waits in the partitions held (at shutdown, once `run` returned)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        flushed = 0
        for n in sorted(self.held):
            if loop.time() >= deadline or not self._valid(n):
                break
            with contextlib.suppress(LeaseLost):
                flushed += await self.held[n].deliverer.flush(max(0.0, deadline - loop.time()))
        return flushed

    async def release_all(self) -> None:
        """Give every lease up (a clean exit): other daemons take the partitions at their next round."""
        for n in list(self.held):
            await self._release(keys=[self.keys.lease(n)], args=[self.consumer])
            self._forget(n)
        await self.redis.zrem(self._members, self.consumer)

    def _valid(self, n: int) -> bool:
        held = self.held.get(n)
        return held is not None and time.monotonic() < held.valid_until

    async def _fair_share(self) -> int:
        now = time.time()
        await self.redis.zadd(self._members, {self.consumer: now + self.ttl_ms / 1000})
        await self.redis.zremrangebyscore(self._members, "-inf", now)
        live = int(await self.redis.zcard(self._members))
        return math.ceil(self.keys.partitions / max(1, live))

    async def _renew_all(self) -> None:
        for n, held in list(self.held.items()):
            if held.task.done():  # given back, lost, or failed: free the partition for the next round
                if not held.task.cancelled() and held.task.exception() is not None:
                    log.error("delivery of a partition failed", exc_info=held.task.exception(),
                              extra={"partition": n})
                await self._release(keys=[self.keys.lease(n)], args=[self.consumer])
                self._forget(n)
        if not self.held:
            return
        order = list(self.held)
        sent = time.monotonic()
        async with self.redis.pipeline(transaction=False) as pipe:  # one round trip for all of them
            for n in order:
                await queue_script(self._renew, pipe, keys=[self.keys.lease(n)], args=[self.consumer, self.ttl_ms])
            renewed: list[Any] = await pipe.execute()
        for n, ok in zip(order, renewed, strict=True):
            if ok:
                self.held[n].valid_until = sent + self.ttl_ms / 1000
            else:
                log.warning("delivery lease taken over; stopping delivery of the partition", extra={"partition": n})
                self.held[n].stop.set()
                self._forget(n)

    async def _take(self, n: int) -> bool:
        sent = time.monotonic()
        if not await self.redis.set(self.keys.lease(n), self.consumer, nx=True, px=self.ttl_ms):
            return False  # another daemon was quicker
        deliverer = OutboxDeliverer(self.redis, self.keys, self.sink, self.settings, self.consumer,
                                    self.reclaim_idle_ms, partition=n, lease=lambda: self._valid(n))
        stop = asyncio.Event()
        task = asyncio.create_task(deliverer.run(stop), name=f"outbox-{n}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self.held[n] = _Held(deliverer, stop, task, sent + self.ttl_ms / 1000)
        log.info("delivering partition", extra={"partition": n, "consumer": self.consumer})
        return True

    def _forget(self, n: int) -> None:
        held = self.held.pop(n)
        self._delivered_before += held.deliverer.delivered
