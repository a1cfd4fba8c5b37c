"""The review queues as moderators see them: held and escalated items, their claims, filters and counts.

Items are read from the {p}review / {p}review:escalated sorted sets (ascending score = higher priority
first, then older first) together with the stored comment and decision, and for escalated items the record
of who escalated them ({p}escalation:{id}). A claim ({p}claim:{id}, SET NX with a TTL) says which moderator
is looking at an item, so two moderators never judge the same one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import redis.asyncio as aioredis
from redis.exceptions import WatchError

from modbot.decisions import StaleVerdict, audit_fields
from modbot.ingest.schema import parse_comment
from modbot.keys import Keys
from modbot.models import Comment, Decision
from modbot.review.escalation import Escalation, clean_note

QUEUES = ("held", "escalated")
SCAN_LIMIT = 2000  # filters look at this many items from the head of a queue

# Deletes a claim only if the given moderator holds it, so a late release never frees someone else's claim.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass(frozen=True)
class ReviewItem:
    """One held comment with the decision that held it, who (if anyone) has claimed it and, in the escalated
    queue, who escalated it (None there for items escalated before that was recorded)."""

    comment: Comment
    decision: Decision
    queue: str
    claimed_by: str | None
    escalation: Escalation | None = None

    @property
    def version(self) -> str:
        """Which text the page shows, as a sha256 hex: a verdict names it and applies only to that text.

        The decision's text_sha256; for a decision stored before decisions carried one, the stored comment's
        (the worker writes both together, so they are the same version).
        """
        return self.decision.text_sha256 or self.comment.text_sha256

    @property
    def categories(self) -> list[str]:
        return sorted({m.category for m in self.decision.matches})


@dataclass(frozen=True)
class Filters:
    rule: str | None = None
    category: str | None = None

    def accepts(self, item: ReviewItem) -> bool:
        if self.rule and item.decision.rule != self.rule:
            return False
        return not (self.category and self.category not in item.categories)


@dataclass(frozen=True)
class QueueView:
    """What the page shows: the items, the queue sizes, and the rules/categories present for the filters."""

    items: list[ReviewItem]
    counts: dict[str, int]
    rules: dict[str, int]
    categories: dict[str, int]
    total_matching: int


class ClaimConflict(Exception):
    """Another moderator holds the claim on this item."""

    def __init__(self, comment_id: str, holder: str) -> None:
        self.comment_id = comment_id
        self.holder = holder
        super().__init__(f"comment {comment_id} is claimed by {holder}")


class ReviewQueue:
    """Reads and changes the review queues in Redis."""

    def __init__(self, redis: aioredis.Redis, keys: Keys, claim_ttl_s: int) -> None:
        self.redis = redis
        self.keys = keys
        self.claim_ttl_s = claim_ttl_s
        self._release = redis.register_script(_RELEASE)

    def zset(self, queue: str) -> str:
        if queue not in QUEUES:
            raise ValueError(f"unknown queue {queue!r}")
        return self.keys.review if queue == "held" else self.keys.review_escalated

    async def counts(self) -> dict[str, int]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for q in QUEUES:
                pipe.zcard(self.zset(q))
            sizes = await pipe.execute()
        return dict(zip(QUEUES, (int(n) for n in sizes), strict=True))

    async def view(self, queue: str = "held", filters: Filters | None = None, limit: int = 50) -> QueueView:
        """The first `limit` items of `queue` that pass `filters`, in review order."""
        filters = filters or Filters()
        ids = [i.decode() if isinstance(i, bytes) else str(i)
               for i in await self.redis.zrange(self.zset(queue), 0, SCAN_LIMIT - 1)]
        items = await self._load(ids, queue)
        rules: dict[str, int] = {}
        categories: dict[str, int] = {}
        for item in items:
            rule = item.decision.rule or "(default)"
            rules[rule] = rules.get(rule, 0) + 1
            for cat in item.categories:
                categories[cat] = categories.get(cat, 0) + 1
        matching = [i for i in items if filters.accepts(i)]
        counts = await self.counts()
        # Filters only see the first SCAN_LIMIT items; without a filter the queue's own size is exact.
        total = counts[queue] if filters == Filters() else len(matching)
        return QueueView(items=matching[:limit], counts=counts, rules=rules, categories=categories,
                         total_matching=total)

    async def item(self, comment_id: str) -> ReviewItem | None:
        """The item if it is waiting in either queue."""
        for queue in QUEUES:
            if await self.redis.zscore(self.zset(queue), comment_id) is not None:
                found = await self._load([comment_id], queue)
                return found[0] if found else None
        return None

    async def _load(self, ids: Sequence[str], queue: str) -> list[ReviewItem]:
        if not ids:
            return []
        comment_keys = [self.keys.comment(i) for i in ids]
        decision_keys = [self.keys.decision(i) for i in ids]
        claim_keys = [self.keys.claim(i) for i in ids]
        escalation_keys = [self.keys.escalation(i) for i in ids] if queue == "escalated" else []
        raw = await self.redis.mget([*comment_keys, *decision_keys, *claim_keys, *escalation_keys])
        n = len(ids)
        items = []
        for k in range(n):
            c_raw, d_raw, claim = raw[k], raw[n + k], raw[2 * n + k]
            if c_raw is None or d_raw is None:
                continue  # decided and cleaned up between ZRANGE and MGET; nothing to review
            e_raw = raw[3 * n + k] if escalation_keys else None
            items.append(ReviewItem(comment=parse_comment(json.loads(c_raw), max_text_chars=10**9, check_ids=False),
                                    decision=Decision.from_dict(json.loads(d_raw)), queue=queue,
                                    claimed_by=claim.decode() if isinstance(claim, bytes) else claim,
                                    escalation=Escalation.from_json(e_raw) if e_raw is not None else None))
        return items

    async def claim(self, comment_id: str, moderator: str) -> None:
        """Claim an item for `moderator` (renewing their own claim); raise ClaimConflict if someone else has it."""
        key = self.keys.claim(comment_id)
        if await self.redis.set(key, moderator, nx=True, ex=self.claim_ttl_s):
            return
        holder = await self.redis.get(key)
        holder_s = holder.decode() if isinstance(holder, bytes) else holder
        if holder_s == moderator:
            await self.redis.expire(key, self.claim_ttl_s)
            return
        if holder_s is None:  # expired between SET and GET: try once more
            if await self.redis.set(key, moderator, nx=True, ex=self.claim_ttl_s):
                return
            holder_s = "another moderator"
        raise ClaimConflict(comment_id, holder_s)

    async def release(self, comment_id: str, moderator: str) -> None:
        await self._release(keys=[self.keys.claim(comment_id)], args=[moderator])

    async def escalate(self, comment_id: str, moderator: str, note: str = "", text_sha256: str | None = None) -> bool:
        """Move a held item to the escalated queue (keeping its order), record who escalated it, when and
        their `note` ({p}escalation:{id}), and audit the same. False if it is not held; InvalidNote for a note
        that is not text or too long.

        With `text_sha256` (the version the moderator saw), raise StaleVerdict instead when the comment's
        current decision is for another text: the worker decided an edit meanwhile. The decision is watched (not
        the whole queue, which every new comment changes), so an edit decided between the check and the move
        makes the move fail rather than pass unseen.
        """
        k = self.keys
        note = clean_note(note)
        async with self.redis.pipeline(transaction=True) as pipe:
            await pipe.watch(k.decision(comment_id))
            score = await pipe.zscore(k.review, comment_id)
            if score is None:
                return False
            decision_raw = await pipe.get(k.decision(comment_id))
            previous = Decision.from_dict(json.loads(decision_raw)) if decision_raw else None
            if text_sha256 is not None and (previous.text_sha256 if previous else None) != text_sha256:
                raise StaleVerdict(f"comment {comment_id} was edited since it was shown; reload it")
            record = Escalation(moderator=moderator, at=datetime.now(UTC), note=note)
            pipe.multi()  # type: ignore[no-untyped-call]
            pipe.zrem(k.review, comment_id)
            pipe.zadd(k.review_escalated, {comment_id: score})
            pipe.set(k.escalation(comment_id), record.to_json())
            pipe.xadd(k.audit, audit_fields(comment_id, "escalate", moderator, previous, note, at=record.at))
            try:
                await pipe.execute()
            except WatchError:
                raise StaleVerdict(f"comment {comment_id} changed while it was escalated; reload it") from None
        return True
