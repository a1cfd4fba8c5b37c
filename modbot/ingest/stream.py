"""Reading the input stream through a consumer group, in batches, reclaiming what dead consumers left.

At-least-once: a message is acknowledged only together with its stored decision (or its dead-letter entry),
so a worker that dies mid-batch leaves its messages pending. Another worker claims them as soon as the dead
one's heartbeat has expired (modbot/consumers.py), or, for a consumer without heartbeats, after
`reclaim_idle_ms` with XAUTOCLAIM, and decides them.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from modbot.config import StreamSettings
from modbot.consumers import DeadConsumers
from modbot.keys import Keys
from modbot.replies import as_str


@dataclass(frozen=True)
class StreamMessage:
    """One stream entry as read: its id (to acknowledge it later) and its raw fields, decoded by the caller."""

    id: str
    fields: dict[bytes, bytes]


class StreamReader:
    """One worker's consumer in the input stream's group: reads batches, takes over what dead consumers left
    pending, and trims what every consumer has acknowledged."""

    def __init__(self, redis: aioredis.Redis, keys: Keys, settings: StreamSettings, consumer: str) -> None:
        self.redis = redis
        self.stream = keys.comments
        self.settings = settings
        self.consumer = consumer
        self._next_reclaim = 0.0
        self.dead = DeadConsumers(redis, keys, self.stream, settings.group, consumer)

    async def ensure_group(self) -> None:
        """Create the group before the first read, so a fresh deployment (no stream yet) starts cleanly and
        comments queued before the first worker came up are decided too; safe to call on every start."""
        await ensure_group(self.redis, self.stream, self.settings.group)

    async def read_batch(self, poll_ms: int = 1000) -> list[StreamMessage]:
        """Up to batch_size messages: reclaimed ones first, then new ones, waiting at most poll_ms for the
        first and batch_wait_ms more to fill the batch."""
        size = self.settings.batch_size
        batch = await self._reclaim(size)
        loop = asyncio.get_running_loop()
        deadline: float | None = loop.time() + self.settings.batch_wait_ms / 1000 if batch else None
        while len(batch) < size:
            if deadline is None:
                block = poll_ms
            else:
                block = int((deadline - loop.time()) * 1000)
                if block <= 0:
                    break
            got = await self._read_new(size - len(batch), block)
            if not got:
                break
            batch.extend(got)
            if deadline is None:
                deadline = loop.time() + self.settings.batch_wait_ms / 1000
        return batch

    async def trim_acked(self) -> None:
        """Delete the messages every consumer of the group has acknowledged (all before the oldest pending
        one, or before the last delivered one when nothing is pending), so the stream does not grow for ever."""
        groups: Any = await self.redis.xinfo_groups(self.stream)
        mine = next((g for g in groups if g["name"] in (self.settings.group, self.settings.group.encode())), None)
        if mine is None:
            return
        pending: Any = await self.redis.xpending(self.stream, self.settings.group)
        oldest = pending["min"] if pending["pending"] else mine["last-delivered-id"]
        if oldest and as_str(oldest) != "0-0":
            await self.redis.xtrim(self.stream, minid=as_str(oldest), approximate=False)

    async def _read_new(self, count: int, block_ms: int) -> list[StreamMessage]:
        reply: Any = await self.redis.xreadgroup(self.settings.group, self.consumer, {self.stream: ">"},
                                            count=count, block=max(1, block_ms))
        if not reply:
            return []
        return [StreamMessage(as_str(i), f) for i, f in reply[0][1]]

    async def _reclaim(self, count: int) -> list[StreamMessage]:
        # A consumer known dead (no heartbeat) is relieved at once; others only after reclaim_idle_ms.
        taken = await self.dead.claim(count)
        if taken:
            return [StreamMessage(i, f) for i, f in taken]
        # Checking every loop would cost a round trip per batch; a quarter of the idle time is soon enough.
        loop = asyncio.get_running_loop()
        if loop.time() < self._next_reclaim:
            return []
        self._next_reclaim = loop.time() + min(5.0, self.settings.reclaim_idle_ms / 4000)
        reply: Any = await self.redis.xautoclaim(self.stream, self.settings.group, self.consumer,
                                            min_idle_time=self.settings.reclaim_idle_ms, start_id="0-0", count=count)
        messages = [StreamMessage(as_str(i), f or {}) for i, f in reply[1]]
        deleted = [as_str(i) for i in (reply[2] if len(reply) > 2 else [])]
        if deleted:  # trimmed from the stream while pending: nothing left to decide
            await self.redis.xack(self.stream, self.settings.group, *deleted)
        return messages


async def ensure_group(redis: aioredis.Redis, stream: str, group: str) -> None:
    """Create the consumer group (and the stream) if missing."""
    try:
        await redis.xgroup_create(stream, group, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


async def group_backlog(redis: aioredis.Redis, stream: str, group: str) -> tuple[int, int]:
    """(waiting, pending): entries the group has not read yet, and entries read but not acknowledged."""
    try:
        groups: Any = await redis.xinfo_groups(stream)
    except ResponseError:  # no stream yet
        return 0, 0
    for g in groups:
        if g["name"] in (group, group.encode()):
            lag = g.get("lag")
            return int(lag) if lag is not None else await redis.xlen(stream), int(g["pending"])
    return await redis.xlen(stream), 0  # no group yet: nothing has been read
