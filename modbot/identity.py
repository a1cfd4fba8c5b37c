"""Noticing that Redis lost modbot's data, loudly.

Redis without persistence (or with an eviction policy, or after FLUSHALL, or a restore from an old copy)
can come back empty while modbot runs. The consumer groups are then simply created again, so without a
check the only trace would be a warning, and every decision still waiting for delivery would be gone.

So the data carries an identity: the hash `{p}identity` holds a random `id` and its `created` time. Each
daemon remembers the id it saw and checks it every few seconds, together with a snapshot of what was waiting
(undelivered decisions, comments waiting or being decided, the last stream ids). When the marker is gone or
carries another id, or a stream's last id went backwards (stream ids only grow: an older copy was restored,
or the stream alone was evicted), the daemon logs an ERROR naming what was lost, counts it in
`modbot_redis_data_losses_total`, and creates a new marker that records the loss (`lost_*` fields), which
`modbot status` shows.

The marker also records the key layout the data was written with (`layout`: partitions and whether the keys
carry hash tags, see keys.py). A daemon configured with another layout would not find the data where it is,
so it refuses to start (LayoutMismatch) instead. A marker from before the field existed is the one-partition,
untagged layout.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from modbot import metrics
from modbot.errors import ConfigError
from modbot.keys import Keys
from modbot.replies import as_str
from modbot.retry import sleep_or_stop

log = logging.getLogger("modbot.identity")

CHECK_INTERVAL_S = 2.0  # how soon a loss is reported; one small pipeline per check

# Create the marker only if it is missing (several daemons may notice the same loss); returns the id in force.
_CREATE = """
local current = redis.call('HGET', KEYS[1], 'id')
if current then return current end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV))
return ARGV[2]
"""


@dataclass(frozen=True)
class Snapshot:
    """What was waiting in Redis at one check: what a loss right after it would take with it."""

    undelivered: int  # decisions in the outbox, not yet accepted by the platform
    input_waiting: int  # comments not read by any worker yet
    input_pending: int  # comments read but not decided yet
    review_held: int
    last_comment_id: str  # the input stream's last generated id ('' when there was no stream)
    last_outbox_id: str  # the newest of the partitions' outbox ids
    outbox_ids: tuple[str, ...] = ()  # each partition's outbox's last id (not kept in the marker)


@dataclass(frozen=True)
class DataLoss:
    """One loss of modbot's data, as this daemon saw it."""

    previous_id: str
    previous_created: float  # epoch seconds
    noticed_at: float
    before: Snapshot | None  # None when the loss came before the first snapshot

    @property
    def marker_age_s(self) -> float:
        """How old the lost data was: everything since then is gone."""
        return max(0.0, self.noticed_at - self.previous_created)

    def fields(self) -> dict[str, str]:
        """The `lost_*` fields kept in the new marker, for `modbot status`."""
        out = {"lost_at": _iso(self.noticed_at), "lost_previous_id": self.previous_id,
               "lost_previous_created": _iso(self.previous_created)}
        if self.before is not None:
            out.update({f"lost_{k}": str(v) for k, v in asdict(self.before).items() if k != "outbox_ids"})
        return out


class IdentityWatch:
    """One daemon's view of the data's identity: adopt it at start, then check that it is still there."""

    def __init__(self, redis: aioredis.Redis, keys: Keys, group: str) -> None:
        self.redis = redis
        self.keys = keys
        self.group = group
        self.id = ""
        self.created = 0.0
        self.last: Snapshot | None = None
        self.losses: list[DataLoss] = []
        self._create = redis.register_script(_CREATE)

    async def start(self) -> None:
        """Adopt the marker in Redis, creating it on a fresh (or already emptied) Redis."""
        await self._adopt({})
        self.last = await self._snapshot()
        log.info("redis data identity", extra={"identity": self.id, "identity_created": _iso(self.created)})

    async def check(self) -> DataLoss | None:
        """Compare the marker with the one we know; on a loss, report it and adopt a new marker."""
        raw = await self.redis.hget(self.keys.identity, "id")
        current = None if raw is None else as_str(raw)
        if current == self.id:
            now = await self._snapshot()
            if not _went_back(self.last, now):
                self.last = now
                return None
            # The marker survived but a stream is older than we saw it: a restore of an older copy, or the
            # key alone was evicted. The marker is replaced so that the loss is recorded and shown.
            how = "kept but the streams went back (a restore of an older copy, or evicted keys)"
            await self.redis.delete(self.keys.identity)
        else:
            how = "gone" if current is None else "replaced"
        loss = DataLoss(self.id, self.created, time.time(), self.last)
        self.losses.append(loss)
        metrics.DATA_LOSSES.inc()
        before = loss.before
        log.error("redis lost modbot's data: the identity marker is %s; decisions waiting for delivery and "
                  "comments waiting to be decided are gone (see docs/operations.md, persistence)", how,
                  extra={"lost_identity": loss.previous_id, "lost_data_age_s": round(loss.marker_age_s, 1),
                         "lost_data_created": _iso(loss.previous_created),
                         "undelivered_before": before.undelivered if before else None,
                         "input_waiting_before": before.input_waiting if before else None,
                         "input_pending_before": before.input_pending if before else None,
                         "review_held_before": before.review_held if before else None,
                         "last_comment_id": before.last_comment_id if before else None,
                         "last_outbox_id": before.last_outbox_id if before else None,
                         "new_identity": current})
        await self._adopt(loss.fields())
        self.last = await self._snapshot()
        return loss

    async def run(self, stop: asyncio.Event, interval_s: float = CHECK_INTERVAL_S) -> None:
        """Check every `interval_s` until `stop` is set; an unreachable Redis is someone else's alarm."""
        while not await sleep_or_stop(stop, interval_s):
            try:
                await self.check()
            except (RedisConnectionError, RedisTimeoutError) as exc:
                log.debug("identity not checked", extra={"error": str(exc)})
            except ResponseError as exc:  # e.g. OOM: Redis refuses writes; the check is tried again
                log.warning("identity not checked", extra={"error": str(exc)})

    async def _adopt(self, loss_fields: dict[str, str]) -> None:
        now = time.time()
        layout = key_layout(self.keys)
        args: list[str] = ["id", uuid.uuid4().hex, "created", repr(now), "layout", layout]
        for k, v in loss_fields.items():
            args += [k, v]
        current: Any = await self._create(keys=[self.keys.identity], args=args)
        self.id = current.decode() if isinstance(current, bytes) else str(current)
        created, stored = await self.redis.hmget(self.keys.identity, ["created", "layout"])
        self.created = float(created) if created else now
        found = as_str(stored) if stored is not None else PLAIN_LAYOUT
        if found != layout:
            raise LayoutMismatch(found, layout)
        if stored is None:  # a marker from before layouts were recorded: this one matches it
            await self.redis.hsetnx(self.keys.identity, "layout", layout)

    async def _snapshot(self) -> Snapshot:
        k = self.keys
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.xinfo_groups(k.comments)
            pipe.xinfo_stream(k.comments)
            pipe.xlen(k.comments)
            for part in k.parts:
                pipe.xlen(part.outbox)
                pipe.zcard(part.review)
                pipe.xinfo_stream(part.outbox)
            groups, comments, length, *per_part = await pipe.execute(raise_on_error=False)
        outbox = sum(n for n in per_part[0::3] if isinstance(n, int))
        held = sum(n for n in per_part[1::3] if isinstance(n, int))
        box_ids = tuple(_last_id(info) for info in per_part[2::3])
        waiting, pending = (length if isinstance(length, int) else 0), 0  # no group yet: nothing was read
        if isinstance(groups, list):
            for g in groups:
                if g["name"] in (self.group, self.group.encode()):
                    waiting, pending = int(g.get("lag") or 0), int(g["pending"])
        return Snapshot(undelivered=outbox, input_waiting=waiting, input_pending=pending, review_held=held,
                        last_comment_id=_last_id(comments), last_outbox_id=max(box_ids, key=_id_tuple),
                        outbox_ids=box_ids)


PLAIN_LAYOUT = "1 partition, untagged keys"


def key_layout(keys: Keys) -> str:
    """How the data's keys are laid out, as the identity marker records it."""
    return (f"{keys.partitions} partition{'s' if keys.partitions > 1 else ''}, "
            f"{'tagged' if keys.tagged else 'untagged'} keys")


class LayoutMismatch(ConfigError):
    """The data in Redis was written with another key layout (redis.partitions, redis.cluster)."""

    def __init__(self, found: str, configured: str) -> None:
        super().__init__(
            f"the data in Redis was written with {found}, but this modbot is configured for {configured}",
            hint="set redis.partitions (and redis.cluster) back to what the data was written with; changing them "
                 "is a migration: drain the old layout and start on a new redis.prefix (docs/operations.md, "
                 "Scaling out)")


async def read_marker(redis: aioredis.Redis, keys: Keys) -> dict[str, str]:
    """The identity marker as stored (empty when there is none), for `modbot status`."""
    raw: Any = await redis.hgetall(keys.identity)
    return {k.decode(): v.decode() for k, v in raw.items()}


def _went_back(before: Snapshot | None, now: Snapshot) -> bool:
    """Did a stream's last generated id go backwards (or the stream vanish)? Stream ids only ever grow."""
    if before is None:
        return False
    pairs = [(before.last_comment_id, now.last_comment_id), *zip(before.outbox_ids, now.outbox_ids, strict=False)]
    return any(_id_tuple(new) < _id_tuple(old) for old, new in pairs if old)


def _id_tuple(stream_id: str) -> tuple[int, int]:
    ms, _, seq = stream_id.partition("-")
    return (int(ms), int(seq or 0)) if ms else (-1, -1)


def _last_id(info: Any) -> str:
    if not isinstance(info, dict):
        return ""  # no such stream
    value = info.get("last-generated-id", b"")
    return as_str(value)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")
