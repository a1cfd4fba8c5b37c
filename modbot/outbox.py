"""Delivering decisions from the outbox stream, with retries, so nothing is lost while the platform is down.

The outbox is a Redis stream read through the consumer group `sink`. An entry is acknowledged and deleted only
once the platform accepted it (2xx) or refused it for good (other 4xx: moved to `outbox:failed` with the error).
Until then it stays pending, across restarts: the next deliverer picks up its own and other consumers' pending
entries first. Retries back off exponentially with full jitter. Entries go out in order, one at a time, so a
moderator's verdict never overtakes the automatic decision it replaces.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from modbot import metrics
from modbot.config import SinkSettings
from modbot.errors import DeliveryError
from modbot.keys import OUTBOX_GROUP, Keys
from modbot.models import Decision
from modbot.retry import backoff, pause_after_outage
from modbot.sinks.base import Sink

log = logging.getLogger("modbot.outbox")


async def ensure_group(redis: aioredis.Redis, stream: str, group: str) -> None:
    """Create the consumer group (and the stream) if missing."""
    try:
        await redis.xgroup_create(stream, group, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


class OutboxDeliverer:
    """Reads the outbox and hands each decision to the sink until it is accepted."""

    def __init__(self, redis: aioredis.Redis, keys: Keys, sink: Sink, settings: SinkSettings,
                 consumer: str, reclaim_idle_ms: int = 60_000) -> None:
        self.redis = redis
        self.keys = keys
        self.sink = sink
        self.settings = settings
        self.consumer = consumer
        self.reclaim_idle_ms = reclaim_idle_ms
        self.delivered = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set; a delivery in progress finishes first."""
        failures = 0
        while not stop.is_set():
            try:
                await ensure_group(self.redis, self.keys.outbox, OUTBOX_GROUP)
                entries = await self._next_entries(block_ms=500)
                for entry_id, fields in entries:
                    if stop.is_set():
                        return
                    await self._deliver_with_retries(entry_id, fields, stop)
                failures = 0
            except (RedisConnectionError, RedisTimeoutError) as exc:
                failures += 1
                await pause_after_outage(exc, failures, stop, log)

    async def flush(self, timeout_s: float = 5.0) -> int:
        """One delivery attempt for every waiting decision (used at shutdown); returns how many went out."""
        await ensure_group(self.redis, self.keys.outbox, OUTBOX_GROUP)
        before = self.delivered
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while loop.time() < deadline:
            entries = await self._next_entries(block_ms=None)
            if not entries:
                break
            progressed = False
            for entry_id, fields in entries:
                if loop.time() >= deadline:
                    break
                progressed |= await self._attempt(entry_id, fields, attempt=0)
            if not progressed:
                break
        return self.delivered - before

    async def _next_entries(self, block_ms: int | None) -> list[tuple[str, dict[bytes, bytes]]]:
        # Our own pending entries first (left by an earlier failed attempt or a restart with the same name),
        # then entries stuck with dead consumers, then new ones.
        mine: Any = await self.redis.xreadgroup(OUTBOX_GROUP, self.consumer, {self.keys.outbox: "0"}, count=50)
        entries = _entries(mine)
        if entries:
            return entries
        claimed: Any = await self.redis.xautoclaim(self.keys.outbox, OUTBOX_GROUP, self.consumer,
                                              min_idle_time=self.reclaim_idle_ms, start_id="0-0", count=50)
        entries = [(_s(i), f) for i, f in claimed[1] if f]
        if entries:
            return entries
        new: Any = await self.redis.xreadgroup(OUTBOX_GROUP, self.consumer, {self.keys.outbox: ">"}, count=50,
                                          block=block_ms)
        return _entries(new)

    async def _deliver_with_retries(self, entry_id: str, fields: dict[bytes, bytes], stop: asyncio.Event) -> None:
        attempt = 0
        while not await self._attempt(entry_id, fields, attempt):
            attempt += 1
            if self.settings.max_attempts and attempt >= self.settings.max_attempts:
                log.warning("giving up for now; the decision stays in the outbox",
                            extra={"entry": entry_id, "attempts": attempt})
                return
            delay = backoff(attempt, self.settings.backoff_base_s, self.settings.backoff_max_s)
            try:
                await asyncio.wait_for(stop.wait(), timeout=delay)
                return  # stopping: the entry stays pending and is retried after restart
            except TimeoutError:
                pass

    async def _attempt(self, entry_id: str, fields: dict[bytes, bytes], attempt: int) -> bool:
        """One try. True when the entry is done with (delivered or permanently refused)."""
        try:
            decision = Decision.from_dict(json.loads(fields[b"decision"]))
        except (KeyError, ValueError, TypeError) as exc:
            await self._fail(entry_id, fields, f"unreadable outbox entry: {exc}")
            return True
        key = f"{decision.comment_id}/{entry_id}"
        try:
            await self.sink.deliver(decision, key)
        except DeliveryError as exc:
            metrics.DELIVERIES.labels("retry" if exc.retryable else "refused").inc()
            if exc.retryable:
                log.warning("delivery failed, will retry", extra={"comment_id": decision.comment_id,
                                                                  "attempt": attempt + 1, "error": str(exc)})
                return False
            log.error("platform refused the decision; kept in outbox:failed",
                      extra={"comment_id": decision.comment_id, "error": str(exc)})
            await self._fail(entry_id, fields, str(exc))
            return True
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xack(self.keys.outbox, OUTBOX_GROUP, entry_id)
            pipe.xdel(self.keys.outbox, entry_id)
            await pipe.execute()
        self.delivered += 1
        metrics.DELIVERIES.labels("ok").inc()
        log.info("delivered", extra={"comment_id": decision.comment_id, "action": decision.action.value,
                                     "sink": self.sink.name})
        return True

    async def _fail(self, entry_id: str, fields: dict[bytes, bytes], error: str) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            failed: dict[Any, Any] = {**fields, b"error": error.encode(), b"at": datetime.now(UTC).isoformat().encode()}
            pipe.xadd(self.keys.outbox_failed, failed)
            pipe.xack(self.keys.outbox, OUTBOX_GROUP, entry_id)
            pipe.xdel(self.keys.outbox, entry_id)
            await pipe.execute()


def _s(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _entries(reply: Any) -> list[tuple[str, dict[bytes, bytes]]]:
    if not reply:
        return []
    _, items = reply[0]
    # An entry deleted while pending comes back with no fields: nothing to deliver.
    return [(_s(i), f) for i, f in items if f]
