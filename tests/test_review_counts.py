"""The review page's filter counts against a real Valkey: kept exact by every step that changes a queue (holds,
edits, verdicts, escalations, pending verdicts, undos and commits, in any order), read without loading the queue's
items, and counted once from the queue for data written before the counts existed."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta

import redis.asyncio as aioredis

from modbot.decisions import DecisionStore
from modbot.keys import Keys
from modbot.models import Action, Author, Comment, Decision, Match
from modbot.review.pending import PendingVerdicts
from modbot.review.queue import QUEUES, Filters, ReviewQueue

RULES = ("conspiracy-hold", "slur-hold", "")  # "" = the default rule, counted as "(default)"
CATEGORIES = ("conspiracy", "slurs", "dehumanisation", "hate_symbols")


async def decide(redis: aioredis.Redis, keys: Keys, cid: str, text: str, rng: random.Random,
                 held: bool = True) -> None:
    """Store a decision the way the worker does, with a random rule and random (possibly repeated) categories."""
    at = datetime.now(UTC) - timedelta(minutes=rng.uniform(1, 600))
    comment = Comment(id=cid, text=text, author=Author(id="u-" + cid), site="news.example", created_at=at)
    matches = tuple(Match(category=rng.choice(CATEGORIES), pattern="p", start=0, end=1, text=text[:1])
                    for _ in range(rng.randint(0, 3)))
    decision = Decision(comment_id=cid, action=Action.HOLD if held else Action.APPROVE,
                        rule=rng.choice(RULES) or None, reason="r", scores={}, matches=matches, versions={},
                        decided_at=at, text_sha256=comment.text_sha256, priority=rng.randint(0, 3))
    await DecisionStore(redis, keys).record(comment, decision)


async def scanned(queue: ReviewQueue, name: str) -> tuple[dict[str, int], dict[str, int]]:
    """The counts the page used to compute: every item of the queue loaded and counted."""
    ids = [i.decode() for i in await queue.redis.zrange(queue.zset(name), 0, -1)]
    rules: dict[str, int] = {}
    categories: dict[str, int] = {}
    for item in await queue._load(ids, name):
        rule = item.decision.rule or "(default)"
        rules[rule] = rules.get(rule, 0) + 1
        for cat in item.categories:
            categories[cat] = categories.get(cat, 0) + 1
    return rules, categories


async def assert_exact(queue: ReviewQueue) -> None:
    for name in QUEUES:
        view = await queue.view(name, limit=5)
        assert (view.rules, view.categories) == await scanned(queue, name), name
        for rule, n in view.rules.items():
            assert (await queue.view(name, Filters(rule=rule), limit=5)).total_matching == n


async def test_counts_stay_exact_through_random_holds_edits_verdicts_and_escalations(
        redis_client: aioredis.Redis, keys: Keys) -> None:
    rng = random.Random(1010)
    store = DecisionStore(redis_client, keys)
    queue = ReviewQueue(redis_client, keys, claim_ttl_s=60)
    pending = PendingVerdicts(redis_client, keys, store)
    await assert_exact(queue)  # counts an empty queue: marks it counted
    ids: list[str] = []
    for step in range(200):
        op = rng.choice(("hold", "hold", "edit", "verdict", "escalate", "repeat", "pending", "pending", "undo",
                         "commit"))
        if op == "hold" or not ids:
            ids.append(f"c{step}")
            await decide(redis_client, keys, ids[-1], f"text {step}", rng)
        elif op == "edit":  # a new text: held again (possibly by another rule) or approved, leaving review
            waiting = [i.decode() for i in await redis_client.zrange(keys.review_pending, 0, -1)]
            cid = rng.choice(waiting if waiting and rng.random() < 0.5 else ids)  # also inside an undo window
            await decide(redis_client, keys, cid, f"edited {step}", rng, held=rng.random() < 0.7)
        elif op == "repeat":  # the same text again (a platform retry): changes nothing
            cid = rng.choice(ids)
            current = await store.get_comment(cid)
            assert current is not None
            await decide(redis_client, keys, cid, current.text, rng)
        elif op == "verdict":
            cid = rng.choice(ids)
            if await queue.item(cid):
                await store.record_verdict(cid, rng.choice((Action.APPROVE, Action.REJECT, Action.SPAM)), "alice")
        elif op == "pending":  # a verdict in its undo window: out of its queue (held or escalated) until undone
            item = await queue.item(rng.choice(ids))
            if item:
                await pending.give(item.decision, rng.choice((Action.APPROVE, Action.REJECT)), "alice", "", 0.0)
        elif op == "undo":  # back in its queue, or (edited meanwhile) left where the worker put it
            await pending.undo(rng.choice(ids), "alice")
        elif op == "commit":  # every due verdict, the edited ones dropped
            await pending.commit_due(now=time.time() + 1)
        else:
            await queue.escalate(rng.choice(ids), "alice")
        if step % 10 == 0:
            await assert_exact(queue)
    await assert_exact(queue)
    sizes = await queue.counts()
    assert sizes["held"] > 5 and sizes["escalated"] > 2  # the sequence exercised both queues
    audited = {f[b"action"] for _, f in await redis_client.xrange(keys.audit)}
    assert {b"pending", b"undo", b"dropped"} <= audited  # ... and every way out of the undo window


async def test_a_queue_written_before_the_counts_is_counted_once(redis_client: aioredis.Redis, keys: Keys) -> None:
    rng = random.Random(7)
    for n in range(30):
        await decide(redis_client, keys, f"c{n}", f"text {n}", rng)
    queue = ReviewQueue(redis_client, keys, claim_ttl_s=60)
    await queue.escalate("c3", "alice")
    # As an older version left it: queues, no counts.
    await redis_client.delete(keys.review_counts_held, keys.review_counts_escalated)
    await assert_exact(queue)
    assert await redis_client.hget(keys.review_counts_held, "built") == b"1"

    # The worker's updates began before any page load: a hash without `built` is counted again, not trusted.
    await redis_client.delete(keys.review_counts_held)
    await decide(redis_client, keys, "late", "late text", rng)
    assert await redis_client.hget(keys.review_counts_held, "built") is None
    await assert_exact(queue)


async def test_the_page_reads_counts_without_loading_the_queue(redis_client: aioredis.Redis, keys: Keys) -> None:
    rng = random.Random(3)
    for n in range(120):
        await decide(redis_client, keys, f"c{n:03d}", f"text {n}", rng)
    queue = ReviewQueue(redis_client, keys, claim_ttl_s=60)
    expected = await scanned(queue, "held")
    await queue.view("held")  # counts the queue once
    # Past the first page, items are not read at all: one whose stored decision is unreadable changes nothing.
    tail = [i.decode() for i in await redis_client.zrange(keys.review, 100, -1)]
    for cid in tail:
        await redis_client.set(keys.decision(cid), "not JSON")
    view = await queue.view("held", limit=50)
    assert (view.rules, view.categories) == expected
    assert len(view.items) == 50 and view.total_matching == 120
