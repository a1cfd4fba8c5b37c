"""Storing decisions: one atomic step per comment (decision, history, review queue, outbox, ack).

Every write for a decision (the author's index of recent decisions included) happens in one Lua script, so a
crash leaves either nothing (the message stays pending and is reclaimed) or everything (decision stored, queued
for delivery, message acknowledged). The script's keys are all in the comment's partition (keys.py), one hash
slot; on a cluster the input stream lies in another slot, so the message is acknowledged right after the
script instead of inside it (a crash between the two leaves the message pending: it is reclaimed, found
already decided, and acknowledged).
A comment that already has a decision for the same text is acknowledged and not decided again; an edited
comment (same id, new text) is decided again and its new decision replaces the old one.
"""

from __future__ import annotations

import enum
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import redis.asyncio as aioredis
from redis.exceptions import WatchError
from redis.typing import EncodableT, FieldT

from modbot.deadletter import DeadLetterLimits, DeadLetters
from modbot.errors import ModbotError
from modbot.ingest.schema import comment_to_dict, parse_comment
from modbot.keys import Keys, review_score
from modbot.models import Action, Comment, Decision
from modbot.review.counts import LUA as COUNTS_LUA
from modbot.rules.patternstats import match_fields
from modbot.rules.stats import review_outcome
from modbot.slots import is_cluster, mget, queue_script

# How many of an author's latest decided comments {p}author:... keeps for the review page's author panel: enough
# to tell a first-time poster from a regular offender, few enough that reading them stays cheap.
AUTHOR_HISTORY = 50

_RECORD = COUNTS_LUA + """
-- KEYS: 1 decision, 2 comment, 3 decisions log, 4 review, 5 outbox, 6 rulestats, 7 input stream,
--       8 escalated review, 9 stream id of the decided version, 10 escalation record, 11 author's index,
--       12 held queue's filter counts, 13 escalated queue's filter counts, 14 patternstats
--       (all but 7 in the comment's partition; on a cluster 7 is the partition's decisions log, never touched)
-- ARGV: 1 decision JSON, 2 comment JSON, 3 comment id, 4 review score ('' = not held), 5 group ('' = the
--       caller acknowledges),
--       6 message id ('' = none), 7 rule, 8 held '1'/'0', 9 text sha256, 10 history max length ('0' = all),
--       11 stance of the matches the rule relied on ('' = none), 12 decision time (unix seconds),
--       13 how many of the author's comments their index keeps,
--       14.. 'entry|stance' of each distinct pattern match (rules/patternstats.py)
local function ack()
  if ARGV[6] ~= '' and ARGV[5] ~= '' then redis.call('XACK', KEYS[7], ARGV[5], ARGV[6]) end
end
local function older(a, b)  -- stream ids "ms-seq": is a before b?
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  if not am or not bm then return false end
  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
  return am < bm or (am == bm and as < bs)
end
local previous = redis.call('GET', KEYS[1])
local result = 1
if previous then
  -- The same text again (a platform retry) is only acknowledged; an edited text is decided again,
  -- unless it is an older version than the one decided (reclaimed from a dead worker after the edit).
  local ok, old = pcall(cjson.decode, previous)
  if ok and old['text_sha256'] == ARGV[9] then ack() return 0 end
  local decided_from = redis.call('GET', KEYS[9])
  if ARGV[6] ~= '' and decided_from and older(ARGV[6], decided_from) then ack() return 0 end
  result = 2
end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[2])
if ARGV[6] ~= '' then redis.call('SET', KEYS[9], ARGV[6]) end
-- The author's index moves with the decision, so the review page's history of them can never disagree with it.
redis.call('ZADD', KEYS[11], ARGV[12], ARGV[3])
redis.call('ZREMRANGEBYRANK', KEYS[11], 0, -(tonumber(ARGV[13]) + 1))
if ARGV[10] ~= '0' then
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[10], '*', 'decision', ARGV[1])
else
  redis.call('XADD', KEYS[3], '*', 'decision', ARGV[1])
end
-- Held: into the review queue, or stay in the escalated one if a moderator escalated it (an edit does not
-- undo an escalation, nor its record of who escalated it). Not held: out of both, and the record goes too.
-- The filter counts follow: the previous decision's rule and categories leave the queue it was in, the new
-- decision's enter the queue it is in now.
local was_held = redis.call('ZSCORE', KEYS[4], ARGV[3])
local was_escalated = redis.call('ZSCORE', KEYS[8], ARGV[3])
if was_held then count(KEYS[12], previous, -1) end
if was_escalated then count(KEYS[13], previous, -1) end
if ARGV[4] ~= '' then
  if was_escalated then
    redis.call('ZADD', KEYS[8], ARGV[4], ARGV[3])
    count(KEYS[13], ARGV[1], 1)
  else
    redis.call('ZADD', KEYS[4], ARGV[4], ARGV[3])
    count(KEYS[12], ARGV[1], 1)
  end
else
  redis.call('ZREM', KEYS[4], ARGV[3])
  redis.call('ZREM', KEYS[8], ARGV[3])
  redis.call('DEL', KEYS[10])
end
redis.call('XADD', KEYS[5], '*', 'decision', ARGV[1])
if ARGV[7] ~= '' then
  redis.call('HINCRBY', KEYS[6], ARGV[7] .. '|fired', 1)
  if ARGV[8] == '1' then
    redis.call('HINCRBY', KEYS[6], ARGV[7] .. '|held', 1)
    if ARGV[11] ~= '' then redis.call('HINCRBY', KEYS[6], ARGV[7] .. '|held@' .. ARGV[11], 1) end
  end
end
for i = 14, #ARGV do
  redis.call('HINCRBY', KEYS[14], ARGV[i] .. '|fired', 1)
  if ARGV[8] == '1' then redis.call('HINCRBY', KEYS[14], ARGV[i] .. '|held', 1) end
end
ack()
return result
"""


# A verdict takes the item out of whichever review queue holds it, and its decision's rule and categories out of
# that queue's filter counts. KEYS: 1 review, 2 escalated review, 3 and 4 their counts. ARGV: 1 comment id,
# 2 the decision being replaced (read under WATCH, so still current when this runs).
_LEAVE = COUNTS_LUA + """
if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then count(KEYS[3], ARGV[2], -1) end
if redis.call('ZREM', KEYS[2], ARGV[1]) == 1 then count(KEYS[4], ARGV[2], -1) end
"""


class Outcome(enum.IntEnum):
    """What storing an automatic decision did (the Lua script's return value)."""

    ALREADY = 0  # this text was decided before: only acknowledged
    NEW = 1
    EDITED = 2  # the text changed since the last decision, which this one replaces

    @property
    def log_message(self) -> str:
        return {0: "already decided; acknowledged", 1: "decided", 2: "edited; decided again"}[self.value]

    @property
    def metric(self) -> str:
        return {0: "duplicate", 1: "decided", 2: "edited"}[self.value]


class StaleVerdict(ModbotError):
    """A moderator's verdict refers to a version of the comment that is no longer the current one."""


class PendingGone(ModbotError):
    """The pending verdict being committed was undone, or committed by another review server, meanwhile."""


@dataclass(frozen=True)
class Ack:
    """Which stream message to acknowledge together with the decision."""

    stream: str
    group: str
    message_id: str


class DecisionStore:
    """Reads and writes decisions, comments, the review queue and the outbox."""

    def __init__(self, redis: aioredis.Redis, keys: Keys, history_maxlen: int = 0,
                 deadletter: DeadLetterLimits | None = None) -> None:
        self.redis = redis
        self.keys = keys
        self.history_maxlen = history_maxlen  # about how many entries {p}decisions keeps; 0 = all
        # Each partition's history keeps its share (comment ids spread evenly over the partitions).
        self._part_maxlen = -(-history_maxlen // keys.partitions)
        self.dead_letters = DeadLetters(redis, keys, deadletter or DeadLetterLimits())
        self._record = redis.register_script(_RECORD)
        self._leave = redis.register_script(_LEAVE)

    async def get(self, comment_id: str) -> Decision | None:
        raw = await self.redis.get(self.keys.decision(comment_id))
        return None if raw is None else Decision.from_dict(json.loads(raw))

    async def get_comment(self, comment_id: str) -> Comment | None:
        raw = await self.redis.get(self.keys.comment(comment_id))
        return None if raw is None else parse_comment(json.loads(raw), max_text_chars=10**9, check_ids=False)

    async def decided(self, comments: Sequence[Comment]) -> set[str]:
        """The ids among these whose current text already has a decision (edited comments are not among them)."""
        if not comments:
            return set()
        found = await mget(self.redis, [self.keys.decision(c.id) for c in comments])
        done = set()
        for c, raw in zip(comments, found, strict=True):
            if raw is not None and json.loads(raw).get("text_sha256") == c.text_sha256:
                done.add(c.id)
        return done

    async def record(self, comment: Comment, decision: Decision, ack: Ack | None = None) -> Outcome:
        """Store an automatic decision and acknowledge its message."""
        return (await self.record_many([(comment, decision, ack)]))[0]

    async def record_many(self, items: Sequence[tuple[Comment, Decision, Ack | None]]) -> list[Outcome]:
        """`record` for a whole batch in one round trip; each comment is still stored atomically on its own."""
        cluster = is_cluster(self.redis)
        async with self.redis.pipeline(transaction=False) as pipe:
            for comment, decision, ack in items:
                p = self.keys.of(comment.id)
                held = decision.action is Action.HOLD
                created = (comment.created_at or decision.decided_at).timestamp()
                await queue_script(
                    self._record, pipe,
                    keys=[p.decision(comment.id), p.comment(comment.id), p.decisions, p.review, p.outbox,
                          p.rulestats, p.decisions if cluster else (ack.stream if ack else self.keys.comments),
                          p.review_escalated, p.decided_from(comment.id), p.escalation(comment.id),
                          p.author(comment.site, comment.author.id), p.review_counts_held,
                          p.review_counts_escalated, p.patternstats],
                    args=[json.dumps(decision.to_dict()), json.dumps(comment_to_dict(comment)), comment.id,
                          repr(review_score(decision.priority, created)) if held else "",
                          ack.group if ack and not cluster else "", ack.message_id if ack else "",
                          decision.rule or "", "1" if held else "0", comment.text_sha256, str(self._part_maxlen),
                          decision.stance.value if decision.stance else "",
                          repr(decision.decided_at.timestamp()), str(AUTHOR_HISTORY), *match_fields(decision)],
                )
            results = await pipe.execute()
        if cluster:
            await self.acknowledge(*(ack for _, _, ack in items if ack is not None))
        return [Outcome(int(r)) for r in results]

    async def record_verdict(self, comment_id: str, action: Action, moderator: str, note: str = "",
                             text_sha256: str | None = None, pending: bytes | None = None) -> Decision:
        """A moderator's verdict: a new decision delivered like any other, audited, and counted per rule.

        The decision it replaces is watched: if the worker decided the comment again meanwhile (the author
        edited it), or `text_sha256` (the text the moderator saw) is not the current text, nothing is written
        and StaleVerdict is raised, so a verdict never lands on text the moderator did not read.

        `pending` commits a verdict that waited out its undo window (review/pending.py): the pending record as
        read. It is watched and deleted in the same transaction, so an undo or another server's commit at the same
        moment makes this one raise PendingGone (or StaleVerdict) and write nothing: a verdict is committed once.
        """
        k = self.keys.of(comment_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            await pipe.watch(k.decision(comment_id), *([k.pending(comment_id)] if pending is not None else []))
            if pending is not None and await pipe.get(k.pending(comment_id)) != pending:
                raise PendingGone(f"the pending verdict on comment {comment_id} was undone or committed meanwhile")
            raw = await pipe.get(k.decision(comment_id))
            if raw is None:
                raise KeyError(comment_id)
            previous = Decision.from_dict(json.loads(raw))
            if text_sha256 is not None and text_sha256 != previous.text_sha256:
                raise StaleVerdict(f"comment {comment_id} was edited since it was shown; reload it")
            reason = f"moderator {moderator}: {action.value}" + (f" ({note})" if note else "")
            decision = replace(previous, action=action, reason=reason, source="moderator", moderator=moderator,
                               decided_at=datetime.now(UTC))
            body = json.dumps(decision.to_dict())
            pipe.multi()  # type: ignore[no-untyped-call]
            pipe.set(k.decision(comment_id), body)
            pipe.xadd(k.decisions, {"decision": body}, maxlen=self._part_maxlen or None, approximate=True)
            await queue_script(self._leave, pipe,
                               keys=[k.review, k.review_escalated, k.review_counts_held, k.review_counts_escalated],
                               args=[comment_id, raw])
            pipe.delete(k.escalation(comment_id))  # judged: who escalated it stays in the audit stream
            pipe.xadd(k.outbox, {"decision": body})
            outcome = review_outcome(action)
            if previous.action is Action.HOLD and previous.rule and outcome:
                pipe.hincrby(k.rulestats, f"{previous.rule}|{outcome}", 1)
                if previous.stance:
                    pipe.hincrby(k.rulestats, f"{previous.rule}|{outcome}@{previous.stance.value}", 1)
            if previous.action is Action.HOLD and outcome:
                for entry in match_fields(previous):
                    pipe.hincrby(k.patternstats, f"{entry}|{outcome}", 1)
            pipe.xadd(k.audit, audit_fields(comment_id, action.value, moderator, previous, note))
            if pending is not None:
                pipe.delete(k.pending(comment_id))
                pipe.zrem(k.review_pending, comment_id)
            try:
                await pipe.execute()
            except WatchError:
                raise StaleVerdict(f"comment {comment_id} was decided again while it was reviewed (edited?); "
                                   "reload it") from None
        return decision

    async def dead_letter(self, ack: Ack, raw: bytes, reason: str) -> None:
        """Keep a rejected message with its reason, then acknowledge it: nothing is dropped silently (the
        dead-letter stream is capped, and what its cap trims off is counted)."""
        await self.dead_letters.add(ack.stream, ack.group, ack.message_id, raw, reason)

    async def acknowledge(self, *acks: Ack) -> None:
        """Acknowledge messages that need no decision (one XACK for all of them)."""
        by_stream: dict[tuple[str, str], list[str]] = {}
        for a in acks:
            by_stream.setdefault((a.stream, a.group), []).append(a.message_id)
        for (stream, group), ids in by_stream.items():
            await self.redis.xack(stream, group, *ids)


async def newer_decision(redis: aioredis.Redis, keys: Keys, decision: Decision) -> Decision | None:
    """The comment's current decision if it is newer than `decision`, else None.

    {p}decision:{id} always holds the comment's latest decision: it is written in the same step that queues
    the decision for delivery. An older one (an edited comment's earlier version, the automatic decision a
    moderator overruled) must never reach the platform after the current one, so the outbox and
    `status --retry-failed` skip it. A current decision that cannot be read supersedes nothing, and neither
    can one under an id that names no Redis key (hand-written entries: not a string, a lone surrogate)."""
    cid: object = decision.comment_id
    if not isinstance(cid, str) or not _encodable(cid):
        return None
    raw = await redis.get(keys.decision(cid))
    if raw is None:
        return None
    try:
        current = Decision.from_dict(json.loads(raw))
    except (KeyError, ValueError, TypeError, AttributeError):
        return None
    return current if _utc(current.decided_at) > _utc(decision.decided_at) else None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _utc(moment: datetime) -> datetime:
    """Decisions store aware UTC times; one written by hand without an offset is read as UTC too."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def audit_fields(comment_id: str, action: str, moderator: str, previous: Decision | None,
                 note: str = "", at: datetime | None = None, verdict: str = "") -> dict[FieldT, EncodableT]:
    """One audit stream entry: who did what to which comment, when (`at`, default now), and what it was before.

    Entries about a verdict in its undo window (`action` pending, undo or dropped) name the verdict in `verdict`;
    the committed verdict is an entry like any other (`action` approve, reject or spam)."""
    fields: dict[FieldT, EncodableT] = {
        "comment_id": comment_id,
        "action": action,
        "moderator": moderator,
        "at": (at or datetime.fromtimestamp(time.time(), UTC)).isoformat(),
        "previous_action": previous.action.value if previous else "",
        "previous_rule": (previous.rule or "") if previous else "",
        "note": note,
        "previous_source": previous.source if previous else "",
    }
    if verdict:
        fields["verdict"] = verdict
    return fields
