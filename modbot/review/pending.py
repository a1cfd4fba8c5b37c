"""Verdicts inside their undo window: given, undone by the moderator who gave them, or committed once it passed.

A verdict (approve, reject, spam) first becomes pending, in one Lua step: the item leaves its review queue and that
queue's filter counts (so no other moderator is offered it), {p}pending:{id} records who gave which verdict, their
note, when, when it is due, and the queue and score the item left, {p}review:pending (score = due time) lists it,
and the audit stream gets an entry `pending`. Nothing else is written: no decision, no outbox entry, no statistics.

Undo is one Lua step too: the record goes, the item returns to its queue with its old score and filter counts, and
the audit stream gets `undo`. After the commit there is nothing to undo ("too late: already sent").

The Committer runs in every review server (the daemon's and `modbot review`). Each due verdict goes through
DecisionStore.record_verdict, which WATCHes the pending record and deletes it in the transaction that writes the
decision: of two servers committing at once, or a commit and an undo at the same moment, one wins and the others
change nothing. A crash before that transaction leaves the verdict pending, and the next pass (after a restart, or
another server's) commits it: a closed page or a stopped server never loses a verdict, and nothing is sent twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import redis.asyncio as aioredis
from redis.typing import EncodableT, FieldT

from modbot import slots
from modbot.decisions import DecisionStore, PendingGone, StaleVerdict, audit_fields
from modbot.keys import Keys
from modbot.models import Action, Decision
from modbot.replies import as_str
from modbot.review.counts import LUA as COUNTS_LUA

log = logging.getLogger("modbot.review")

# The text_sha256 of a stored decision as Lua reads it ('' for none, or for JSON null).
_SHA = """
local function sha_of(raw)
  local ok, d = pcall(cjson.decode, raw or '')
  if not ok or type(d) ~= 'table' then return nil, nil end
  local s = d['text_sha256']
  if type(s) ~= 'string' then s = '' end
  return s, d['action']
end
"""

# KEYS: 1 review, 2 escalated review, 3 and 4 their filter counts, 5 pending zset, 6 pending record, 7 decision,
#       8 audit. ARGV: 1 comment id, 2 record JSON (without queue and score), 3 due time, 4 the text_sha256 of
#       the decision the moderator judged, 5.. audit field, value, ...
# Returns 1 (pending), 0 (waits in no queue: judged already) or -1 (the decision is for another text: edited).
_GIVE = COUNTS_LUA + _SHA + """
local decision = redis.call('GET', KEYS[7])
if not decision then return 0 end
local queue, zset, counts = 'held', KEYS[1], KEYS[3]
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score then
  queue, zset, counts = 'escalated', KEYS[2], KEYS[4]
  score = redis.call('ZSCORE', KEYS[2], ARGV[1])
  if not score then return 0 end
end
if sha_of(decision) ~= ARGV[4] then return -1 end
redis.call('ZREM', zset, ARGV[1])
count(counts, decision, -1)
local record = cjson.decode(ARGV[2])
record['queue'] = queue
record['score'] = score
redis.call('SET', KEYS[6], cjson.encode(record))
redis.call('ZADD', KEYS[5], ARGV[3], ARGV[1])
redis.call('XADD', KEYS[8], '*', unpack(ARGV, 5))
return 1
"""

# KEYS as for _GIVE. ARGV: 1 comment id, 2 moderator, 3.. audit field, value, ...
# Returns {1, queue}: back in its queue; {2, queue}: undone, but the comment was edited meanwhile and stays where
# the worker put it; {0, ''}: nothing pending (committed already, or never given); {-1, holder}: someone else's.
_UNDO = COUNTS_LUA + _SHA + """
local raw = redis.call('GET', KEYS[6])
if not raw then return {0, ''} end
local p = cjson.decode(raw)
if p['moderator'] ~= ARGV[2] then return {-1, tostring(p['moderator'])} end
redis.call('DEL', KEYS[6])
redis.call('ZREM', KEYS[5], ARGV[1])
redis.call('XADD', KEYS[8], '*', unpack(ARGV, 3))
local decision = redis.call('GET', KEYS[7])
if not decision or redis.call('ZSCORE', KEYS[1], ARGV[1]) or redis.call('ZSCORE', KEYS[2], ARGV[1]) then
  return {2, p['queue']}
end
local sha, action = sha_of(decision)
if sha ~= p['text_sha256'] or action ~= 'hold' then return {2, p['queue']} end
if p['queue'] == 'escalated' then
  redis.call('ZADD', KEYS[2], p['score'], ARGV[1])
  count(KEYS[4], decision, 1)
else
  redis.call('ZADD', KEYS[1], p['score'], ARGV[1])
  count(KEYS[3], decision, 1)
end
return {1, p['queue']}
"""

# Drops a pending verdict that can no longer be committed (the comment was edited inside the window).
# KEYS: 1 pending zset, 2 pending record, 3 audit. ARGV: 1 comment id, 2 the record as read, 3.. audit fields.
# Only the record as read is dropped; a zset entry without a record (left by hand) is only removed.
_DROP = """
local raw = redis.call('GET', KEYS[2])
if not raw then redis.call('ZREM', KEYS[1], ARGV[1]) return 0 end
if raw ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('XADD', KEYS[3], '*', unpack(ARGV, 3))
return 1
"""


@dataclass(frozen=True)
class PendingVerdict:
    """A verdict waiting out its undo window. Times are stored as text so Lua's JSON never rounds them."""

    comment_id: str
    action: Action
    moderator: str
    note: str
    given_at: datetime
    due: float
    text_sha256: str
    queue: str = "held"

    def to_json(self) -> str:
        return json.dumps({"comment_id": self.comment_id, "action": self.action.value, "moderator": self.moderator,
                           "note": self.note, "at": self.given_at.isoformat(), "due": repr(self.due),
                           "text_sha256": self.text_sha256})

    @classmethod
    def from_json(cls, raw: str | bytes) -> PendingVerdict:
        data = json.loads(raw)
        return cls(comment_id=str(data["comment_id"]), action=Action(data["action"]),
                   moderator=str(data["moderator"]), note=str(data.get("note", "")),
                   given_at=datetime.fromisoformat(data["at"]), due=float(data["due"]),
                   text_sha256=str(data.get("text_sha256", "")), queue=str(data.get("queue", "held")))


@dataclass(frozen=True)
class UndoResult:
    """What an undo did: `status` is "back" (in its queue again), "edited" (undone; the comment was edited
    meanwhile and is wherever the worker put it), "too-late" (already committed, or never given) or "not-yours"."""

    status: str
    queue: str = ""
    holder: str = ""

    @property
    def ok(self) -> bool:
        return self.status in ("back", "edited")


class PendingVerdicts:
    """Gives, undoes, lists and commits pending verdicts."""

    def __init__(self, redis: aioredis.Redis, keys: Keys, store: DecisionStore) -> None:
        self.redis = redis
        self.keys = keys
        self.store = store
        self._give = redis.register_script(_GIVE)
        self._undo = redis.register_script(_UNDO)
        self._drop = redis.register_script(_DROP)

    def _keys(self, comment_id: str) -> list[str]:
        k = self.keys.of(comment_id)
        return [k.review, k.review_escalated, k.review_counts_held, k.review_counts_escalated, k.review_pending,
                k.pending(comment_id), k.decision(comment_id), k.audit]

    def _drop_keys(self, comment_id: str) -> list[str]:
        k = self.keys.of(comment_id)
        return [k.review_pending, k.pending(comment_id), k.audit]

    async def give(self, decision: Decision, action: Action, moderator: str, note: str, window_s: float) -> int:
        """Make `action` on the comment of `decision` (the one the moderator judged) pending for `window_s`.
        1: pending; 0: it waits in no queue any more; -1: the comment was edited (the decision is another one)."""
        now = datetime.now(UTC)
        record = PendingVerdict(comment_id=decision.comment_id, action=action, moderator=moderator, note=note,
                                given_at=now, due=now.timestamp() + window_s, text_sha256=decision.text_sha256)
        audit = audit_fields(decision.comment_id, "pending", moderator, decision, note, at=now, verdict=action.value)
        return int(await self._give(keys=self._keys(decision.comment_id),
                                    args=[decision.comment_id, record.to_json(), repr(record.due),
                                          decision.text_sha256, *_flat(audit)]))

    async def undo(self, comment_id: str, moderator: str) -> UndoResult:
        """Take back `moderator`'s pending verdict on the comment, if it is still pending."""
        current = await self.store.get(comment_id)  # for the audit entry only: the hold the verdict judged
        pending = await self.get(comment_id)
        audit = audit_fields(comment_id, "undo", moderator, current, verdict=pending.action.value if pending else "")
        status, where = await self._undo(keys=self._keys(comment_id), args=[comment_id, moderator, *_flat(audit)])
        where_s = as_str(where)
        result = {1: "back", 2: "edited", 0: "too-late", -1: "not-yours"}[int(status)]
        return UndoResult(result, holder=where_s) if result == "not-yours" else UndoResult(result, queue=where_s)

    async def get(self, comment_id: str) -> PendingVerdict | None:
        raw = await self.redis.get(self.keys.pending(comment_id))
        return PendingVerdict.from_json(raw) if raw is not None else None

    async def listed(self, limit: int = 20) -> list[PendingVerdict]:
        """The first `limit` pending verdicts, soonest due first (for the page: they are no longer in a queue)."""
        ids = await slots.merged_heads(self.redis, [part.review_pending for part in self.keys.parts], limit)
        if not ids:
            return []
        raws = await slots.mget(self.redis, [self.keys.pending(i) for i in ids])
        return [PendingVerdict.from_json(r) for r in raws if r is not None]

    async def count(self) -> int:
        return await slots.summed(self.redis, "zcard", [part.review_pending for part in self.keys.parts])

    async def commit_due(self, now: float | None = None, limit: int = 100) -> list[str]:
        """Commit every verdict whose window has passed (at most `limit` per partition and call); the ids this
        call committed."""
        now = time.time() if now is None else now
        async with self.redis.pipeline(transaction=False) as pipe:  # every partition in one round trip
            for part in self.keys.parts:
                pipe.zrangebyscore(part.review_pending, "-inf", now, 0, limit)
            due = await pipe.execute()
        return [cid for ids in due for cid in map(as_str, ids) if await self.commit(cid)]

    async def commit(self, comment_id: str) -> bool:
        """Record the pending verdict on the comment as a decision, delivered like any other. False when there
        was nothing to commit: undone, committed by another server, or dropped because the comment was edited."""
        raw = await self.redis.get(self.keys.pending(comment_id))
        if raw is None:
            await self._drop(keys=self._drop_keys(comment_id),
                             args=[comment_id, ""])
            return False
        pending = PendingVerdict.from_json(raw)
        try:
            await self.store.record_verdict(comment_id, pending.action, pending.moderator, pending.note,
                                            text_sha256=pending.text_sha256, pending=_bytes(raw))
        except PendingGone:
            return False
        except (StaleVerdict, KeyError):
            current = await self.store.get(comment_id)
            if current is not None and current.text_sha256 == pending.text_sha256:
                return False  # a concurrent change, not an edit: the next pass tries again
            audit = audit_fields(comment_id, "dropped", pending.moderator, current,
                                 "the comment was edited before the verdict was sent", verdict=pending.action.value)
            if await self._drop(keys=self._drop_keys(comment_id),
                                args=[comment_id, raw, *_flat(audit)]):
                log.info("pending verdict dropped: the comment was edited",
                         extra={"comment_id": comment_id, "moderator": pending.moderator})
            return False
        log.info("verdict committed", extra={"comment_id": comment_id, "moderator": pending.moderator,
                                             "action": pending.action.value})
        return True


class Committer:
    """Commits due pending verdicts in the background of a review server until `stop` is set.

    It wakes every `poll_s` (or sooner when a verdict falls due); a Redis error is logged and tried again at the
    next wake-up, so an outage delays verdicts but loses none."""

    def __init__(self, pending: PendingVerdicts, poll_s: float = 0.25) -> None:
        self.pending = pending
        self.poll_s = poll_s

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.pending.commit_due()
            except Exception:  # noqa: BLE001 - a background loop: log, wait, try again
                log.exception("committing pending verdicts failed; trying again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.poll_s)


def _flat(fields: Mapping[FieldT, EncodableT]) -> list[str]:
    """An audit entry as XADD's field, value, ... arguments for a Lua script."""
    return [str(part) for pair in fields.items() for part in pair]


def _bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()
