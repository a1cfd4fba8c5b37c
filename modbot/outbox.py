"""Delivering decisions from the outbox stream, with retries, so nothing is lost while the platform is down.

The outbox is a Redis stream read through the consumer group `sink`. An entry is acknowledged and deleted only
once the platform accepted it (2xx) or refused it for good (other 4xx, or a 3xx redirect, which is never
followed: moved to `outbox:failed` with the error). Until then it stays pending, across restarts: the next
deliverer picks up its own and other consumers' pending entries first. Retries back off exponentially with
full jitter. With `sink.max_attempts` set, an entry that still fails is parked in `outbox:failed` rather than
dropped.

No single entry can hold up the others or stop the daemon: one that cannot be sent at all (unreadable, a
comment id no HTTP header can carry, any error building or sending that one request) is parked in
`outbox:failed` with the error, and delivery goes on.

Entries go out in order, one at a time, and a decision older than the comment's current one (an edited
comment's earlier version, an automatic decision a moderator overruled since) is skipped, so the platform's
last copy is always the current decision, also after a restart or `status --retry-failed`. The order holds
for one deliverer per outbox: there is one outbox per partition (keys.py), and the daemon delivers the
partitions whose lease it holds (outbox_lease.py). A deliverer with a lease takes every entry pending in its
partition's group, whoever read it before, and checks the lease before each send.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis

from modbot import delivery_state, metrics
from modbot.config import SinkSettings
from modbot.consumers import DeadConsumers
from modbot.decisions import newer_decision
from modbot.errors import DeliveryError
from modbot.ingest.stream import ensure_group
from modbot.keys import OUTBOX_GROUP, Keys
from modbot.models import Decision
from modbot.replies import as_str
from modbot.retry import backoff, run_resilient, sleep_or_stop
from modbot.sinks.base import Sink

log = logging.getLogger("modbot.outbox")


class LeaseLost(Exception):
    """This daemon no longer holds the partition's delivery lease: it stops delivering the partition."""


class OutboxDeliverer:
    """Reads the outbox and hands each decision to the sink until it is accepted."""

    def __init__(self, redis: aioredis.Redis, keys: Keys, sink: Sink, settings: SinkSettings,
                 consumer: str, reclaim_idle_ms: int = 60_000, partition: int = 0,
                 lease: Callable[[], bool] | None = None) -> None:
        self.redis = redis
        self.lease = lease  # None: the only deliverer (tests, tools); else: is the partition's lease still ours?
        self.keys = keys
        self.partition = partition
        self.part = keys.part(partition)
        self.sink = sink
        self.settings = settings
        self.consumer = consumer
        self.reclaim_idle_ms = reclaim_idle_ms
        self.delivered = 0
        self.dead = DeadConsumers(redis, keys, self.part.outbox, OUTBOX_GROUP, consumer)

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set; a delivery in progress finishes first."""
        async def step() -> None:
            try:
                for entry_id, fields in await self._next_entries(block_ms=500):
                    if stop.is_set() or not await self._deliver_with_retries(entry_id, fields, stop):
                        break  # stopping, or parked: later entries must not overtake it in this pass
            except LeaseLost:
                log.warning("delivery lease lost; another daemon delivers this partition now",
                            extra={"partition": self.partition})
                stop.set()

        await run_resilient(step, lambda: ensure_group(self.redis, self.part.outbox, OUTBOX_GROUP), stop, log)

    async def flush(self, timeout_s: float = 5.0) -> int:
        """One delivery attempt for every waiting decision (used at shutdown); returns how many went out."""
        await ensure_group(self.redis, self.part.outbox, OUTBOX_GROUP)
        before = self.delivered
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while loop.time() < deadline:
            entries = await self._next_entries(block_ms=None)
            if not entries:
                break
            for entry_id, fields in entries:
                # The first failure ends the flush: a later decision must never overtake an earlier one.
                if loop.time() >= deadline or not await self._attempt(entry_id, fields, attempt=0):
                    return self.delivered - before
        return self.delivered - before

    async def _next_entries(self, block_ms: int | None) -> list[tuple[str, dict[bytes, bytes]]]:
        if self.lease is not None:
            # The lease makes this the partition's only deliverer: whatever is pending in the group (read by
            # the daemon that delivered it before) comes first, in stream order, then new entries.
            pending: Any = await self.redis.xautoclaim(self.part.outbox, OUTBOX_GROUP, self.consumer,
                                                       min_idle_time=0, start_id="0-0", count=50)
            entries = await self._live(pending[1])
            if entries:
                return entries
            fresh: Any = await self.redis.xreadgroup(OUTBOX_GROUP, self.consumer, {self.part.outbox: ">"},
                                                     count=50, block=block_ms)
            return await self._live(fresh[0][1] if fresh else [])
        # Our own pending entries first (left by an earlier failed attempt or a restart with the same name),
        # then entries stuck with dead consumers, then new ones.
        mine: Any = await self.redis.xreadgroup(OUTBOX_GROUP, self.consumer, {self.part.outbox: "0"}, count=50)
        entries = await self._live(mine[0][1] if mine else [])
        if entries:
            return entries
        entries = await self._live(await self.dead.claim(50))  # a killed daemon's: at once, not after the idle time
        if entries:
            return entries
        claimed: Any = await self.redis.xautoclaim(self.part.outbox, OUTBOX_GROUP, self.consumer,
                                                   min_idle_time=self.reclaim_idle_ms, start_id="0-0", count=50)
        entries = await self._live(claimed[1])
        if entries:
            return entries
        new: Any = await self.redis.xreadgroup(OUTBOX_GROUP, self.consumer, {self.part.outbox: ">"}, count=50,
                                               block=block_ms)
        return await self._live(new[0][1] if new else [])

    async def _live(self, items: Any) -> list[tuple[str, dict[bytes, bytes]]]:
        """Entries with content; ones deleted while pending (no fields) are acknowledged so they do not linger."""
        gone = [as_str(i) for i, f in items if not f]
        if gone:
            await self.redis.xack(self.part.outbox, OUTBOX_GROUP, *gone)
        return [(as_str(i), f) for i, f in items if f]

    async def _deliver_with_retries(self, entry_id: str, fields: dict[bytes, bytes], stop: asyncio.Event) -> bool:
        """Retry one entry until it is done with (True) or `stop` is set (False: it stays pending)."""
        attempt = 0
        while not await self._attempt(entry_id, fields, attempt):
            attempt += 1
            if self.settings.max_attempts and attempt >= self.settings.max_attempts:
                # An explicit, visible parking place: `modbot status --retry-failed` sends it again.
                await self._fail(entry_id, fields, f"gave up after {attempt} attempts (sink.max_attempts)")
                metrics.DELIVERIES.labels("gave_up").inc()
                log.error("gave up; the decision is kept in outbox:failed",
                          extra={"comment_id": _comment_id(fields), "entry": entry_id, "attempts": attempt})
                return True
            if await sleep_or_stop(stop, await self._retry_wait(attempt)):
                return False
        return True

    async def _attempt(self, entry_id: str, fields: dict[bytes, bytes], attempt: int) -> bool:
        """One try. True when the entry is done with (delivered, superseded, or parked in outbox:failed).

        Only an outage (a retryable DeliveryError) leaves the entry waiting; whatever else goes wrong with this
        one entry parks it, so no single entry can stop the ones behind it or the daemon. Redis errors are
        not caught here: they are outages, waited out by run_resilient."""
        try:
            decision = Decision.from_dict(json.loads(fields[b"decision"]))
            # The id names Redis keys below: a lone surrogate (a JSON escape) or a non-string would raise there.
            decision.comment_id.encode("utf-8")
        except Exception as exc:  # noqa: BLE001 - whatever is wrong with the entry's content, it is this entry's
            await self._fail(entry_id, fields, f"unreadable outbox entry: {type(exc).__name__}: {exc}")
            metrics.DELIVERIES.labels("unsendable").inc()
            log.error("unreadable outbox entry; kept in outbox:failed",
                      extra={"comment_id": _comment_id(fields), "entry": entry_id, "error": str(exc)})
            return True
        newer = await newer_decision(self.redis, self.keys, decision)
        if newer is not None:
            await self._done(entry_id)
            metrics.DELIVERIES.labels("superseded").inc()
            log.info("skipped: the comment has a newer decision", extra={
                "comment_id": decision.comment_id, "decided_at": decision.decided_at.isoformat(),
                "current_decided_at": newer.decided_at.isoformat()})
            return True
        # Derived from the decision itself, so it stays the same across retries, restarts and
        # `status --retry-failed` (which re-adds the entry under a new stream id).
        key = f"{decision.comment_id}/{hashlib.sha256(fields[b'decision']).hexdigest()[:16]}"
        if self.lease is not None and not self.lease():
            raise LeaseLost(self.partition)  # another daemon may deliver it by now: never both
        try:
            await self.sink.deliver(decision, key)
        except DeliveryError as exc:
            metrics.DELIVERIES.labels("retry" if exc.retryable else "refused").inc()
            if exc.retryable:
                await self._note_failure(str(exc))
                log.warning("delivery failed, will retry", extra={"comment_id": decision.comment_id,
                                                                  "attempt": attempt + 1, "error": str(exc)})
                return False
            log.error("refused for good (by the platform, or unsendable); kept in outbox:failed",
                      extra={"comment_id": decision.comment_id, "error": str(exc)})
            await self._fail(entry_id, fields, str(exc))
            return True
        except Exception as exc:  # noqa: BLE001 - a request that cannot even be built or sent is this entry's fault
            metrics.DELIVERIES.labels("unsendable").inc()
            log.exception("decision cannot be sent; kept in outbox:failed",
                          extra={"comment_id": decision.comment_id, "error": str(exc)})
            await self._fail(entry_id, fields, f"cannot be sent: {type(exc).__name__}: {exc}")
            return True
        await self._done(entry_id)
        self.delivered += 1
        await self._note_success()
        metrics.DELIVERIES.labels("ok").inc()
        log.info("delivered", extra={"comment_id": decision.comment_id, "action": decision.action.value,
                                     "sink": self.sink.name})
        return True

    async def _done(self, entry_id: str) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xack(self.part.outbox, OUTBOX_GROUP, entry_id)
            pipe.xdel(self.part.outbox, entry_id)
            await pipe.execute()

    async def _retry_wait(self, attempt: int) -> float:
        """How long to wait before try `attempt` + 1, recorded for `modbot status`. The cap
        (`sink.backoff_max_s`, 5 s by default) is what makes the wait a probe: while the platform is down,
        tries stay at most the cap apart, so once it is back the next try comes within that time."""
        delay = backoff(attempt, self.settings.backoff_base_s, self.settings.backoff_max_s)
        await delivery_state.note_next_attempt(self.redis, self.keys.outbox_state(self.sink.name), delay)
        return delay

    async def _note_failure(self, error: str) -> None:
        await delivery_state.note_failure(self.redis, self.keys.outbox_state(self.sink.name), error)

    async def _note_success(self) -> None:
        await delivery_state.note_success(self.redis, self.keys.outbox_state(self.sink.name))

    async def _fail(self, entry_id: str, fields: dict[bytes, bytes], error: str) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            # backslashreplace: an error quoting a lone surrogate must still be storable.
            failed: dict[Any, Any] = {**fields, b"error": error.encode("utf-8", "backslashreplace"),
                                      b"at": datetime.now(UTC).isoformat().encode()}
            pipe.xadd(self.part.outbox_failed, failed)
            pipe.xack(self.part.outbox, OUTBOX_GROUP, entry_id)
            pipe.xdel(self.part.outbox, entry_id)
            await pipe.execute()


def _comment_id(fields: dict[bytes, bytes]) -> str:
    """The comment an outbox entry is about, for log lines; empty when the entry cannot be read."""
    try:
        return str(json.loads(fields[b"decision"])["comment_id"])
    except (KeyError, ValueError, TypeError):
        return ""
