"""The review queues as moderators see them: held and escalated items, their claims, filters and counts.

Items are read from the {p}review / {p}review:escalated sorted sets (ascending score = higher priority
first, then older first) together with the stored comment and decision, and for escalated items the record
of who escalated them ({p}escalation:{id}). A claim ({p}claim:{id}, SET NX with a TTL) says which moderator
is looking at an item, so two moderators never judge the same one.

With several partitions (keys.py) each has its own queues and counts: a page reads the head of every
partition's queue (at most as many items as the page shows, or SCAN_LIMIT with a filter, from each) and merges
them by score, so the order is the same as with one queue, and the counts are added up.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import redis.asyncio as aioredis
from redis.exceptions import WatchError

from modbot.decisions import StaleVerdict, audit_fields
from modbot.ingest.schema import parse_comment
from modbot.keys import Keys
from modbot.models import Comment, Decision
from modbot.review.counts import LUA as COUNTS_LUA
from modbot.review.counts import FilterCounts, QueueCounts
from modbot.review.escalation import Escalation, clean_note
from modbot.slots import merged_heads, mget, queue_script, summed

QUEUES = ("held", "escalated")
SCAN_LIMIT = 2000  # a filtered list looks at this many items from the head of a queue (the counts are exact)

# Deletes a claim only if the given moderator holds it, so a late release never frees someone else's claim.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# Escalating moves the item, and its decision's rule and categories in the filter counts, in one step.
# KEYS: 1 review, 2 escalated review, 3 and 4 their counts. ARGV: 1 comment id, 2 its decision JSON ('' = none).
_MOVE = COUNTS_LUA + """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], score, ARGV[1])
count(KEYS[3], ARGV[2], -1)
count(KEYS[4], ARGV[2], 1)
return 1
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
        self._move = redis.register_script(_MOVE)
        self._counts = QueueCounts(redis, keys)

    def zset(self, queue: str, partition: int = 0) -> str:
        if queue not in QUEUES:
            raise ValueError(f"unknown queue {queue!r}")
        part = self.keys.part(partition)
        return part.review if queue == "held" else part.review_escalated

    async def counts(self) -> dict[str, int]:
        return {q: await summed(self.redis, "zcard", [self.zset(q, n) for n in range(self.keys.partitions)])
                for q in QUEUES}

    def counts_key(self, queue: str, partition: int = 0) -> str:
        part = self.keys.part(partition)
        return part.review_counts_held if queue == "held" else part.review_counts_escalated

    async def _facets(self, queue: str) -> FilterCounts:
        """The queue's filter counts, added up over the partitions."""
        rules: Counter[str] = Counter()
        categories: Counter[str] = Counter()
        for n in range(self.keys.partitions):
            found = await self._counts.read(self.zset(queue, n), self.counts_key(queue, n), n)
            rules.update(found.rules)
            categories.update(found.categories)
        return FilterCounts(rules=dict(rules), categories=dict(categories))

    async def _head(self, queue: str, limit: int) -> list[str]:
        """The first `limit` ids of the queue in review order, merged from the partitions' queues by score."""
        return await merged_heads(self.redis, [self.zset(queue, n) for n in range(self.keys.partitions)], limit)

    async def view(self, queue: str = "held", filters: Filters | None = None, limit: int = 50) -> QueueView:
        """The first `limit` items of `queue` that pass `filters`, in review order.

        The filter counts come from the counts hash (one HGETALL), never from the items; without a filter only
        `limit` items are read, with one the first SCAN_LIMIT are.
        """
        filters = filters or Filters()
        facets = await self._facets(queue)
        unfiltered = filters == Filters()
        ids = await self._head(queue, limit if unfiltered else SCAN_LIMIT)
        matching = [i for i in await self._load(ids, queue) if filters.accepts(i)]
        counts = await self.counts()
        # The counts are exact for one filter; both together are counted among the first SCAN_LIMIT items.
        if unfiltered:
            total = counts[queue]
        elif filters.rule and not filters.category:
            total = facets.rules.get(filters.rule, 0)
        elif filters.category and not filters.rule:
            total = facets.categories.get(filters.category, 0)
        else:
            total = len(matching)
        return QueueView(items=matching[:limit], counts=counts, rules=facets.rules, categories=facets.categories,
                         total_matching=total)

    async def item(self, comment_id: str) -> ReviewItem | None:
        """The item if it is waiting in either queue."""
        partition = self.keys.partition_of(comment_id)
        for queue in QUEUES:
            if await self.redis.zscore(self.zset(queue, partition), comment_id) is not None:
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
        raw = await mget(self.redis, [*comment_keys, *decision_keys, *claim_keys, *escalation_keys])
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
        k = self.keys.of(comment_id)
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
            await queue_script(self._move, pipe,
                               keys=[k.review, k.review_escalated, k.review_counts_held, k.review_counts_escalated],
                               args=[comment_id, decision_raw or ""])
            pipe.set(k.escalation(comment_id), record.to_json())
            pipe.xadd(k.audit, audit_fields(comment_id, "escalate", moderator, previous, note, at=record.at))
            try:
                await pipe.execute()
            except WatchError:
                raise StaleVerdict(f"comment {comment_id} changed while it was escalated; reload it") from None
        return True
