"""Partitioned keys (redis.partitions): one hash slot per script, and readers that merge the partitions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from redis.crc import key_slot

from modbot.commands.status import status
from modbot.decisions import DecisionStore
from modbot.errors import ConfigError
from modbot.identity import IdentityWatch, LayoutMismatch
from modbot.keys import Keys
from modbot.models import Action, Author, Comment, Decision, Match
from modbot.review.history import author_histories
from modbot.review.queue import Filters, ReviewQueue
from modbot.rules.backtest import read_history
from modbot.rules.patternstats import read_pattern_stats
from modbot.rules.stats import read_rule_stats
from tests.helpers import write_config

IDS = [f"c{i}" for i in range(40)]


def _slots(keys: list[str]) -> set[int]:
    return {key_slot(k.encode()) for k in keys}


def test_one_partition_keeps_the_names_modbot_always_used() -> None:
    keys = Keys("modbot:")
    assert keys.decision("42") == "modbot:decision:42" and keys.outbox == "modbot:outbox"
    assert keys.part(0).review == "modbot:review" and keys.deadletter == "modbot:deadletter"
    assert keys.author("s", "a") == "modbot:author:1:s:a"


@pytest.mark.parametrize("partitions", [1, 2, 7, 16, 1024])
def test_every_key_of_one_comments_decision_is_in_one_slot(partitions: int) -> None:
    keys = Keys("modbot:", partitions=partitions, cluster=True)
    seen = set()
    for cid in [*IDS, "a:b", "{x}", "ü", "very-long-" * 20]:
        p = keys.of(cid)
        seen.add(keys.partition_of(cid))
        # The decision script's keys, the verdict's, the escalation's and the outbox's, for one comment.
        script_keys = [p.decision(cid), p.comment(cid), p.decisions, p.review, p.outbox, p.rulestats,
                       p.review_escalated, p.decided_from(cid), p.escalation(cid), p.author("site", "u:1"),
                       p.review_counts_held, p.review_counts_escalated, p.patternstats, p.audit, p.outbox_failed,
                       p.claim(cid)]
        assert len(_slots(script_keys)) == 1, cid
    assert len(seen) == partitions if partitions <= 7 else len(seen) > 7  # ids spread over the partitions
    assert len(_slots([keys.deadletter, keys.deadletter_trimmed])) == 1
    if partitions >= 16:
        # Different partitions land in different slots, so a cluster spreads them over its masters.
        assert len(_slots([keys.part(n).outbox for n in range(partitions)])) == partitions


def test_partition_is_stable_and_the_prefix_may_not_hold_braces() -> None:
    assert Keys(partitions=8).partition_of("comment-1") == Keys(partitions=8).partition_of("comment-1")
    assert Keys(partitions=8).decision("x").startswith("modbot:{p")
    with pytest.raises(ValueError, match="braces"):
        Keys("my{app}:")
    with pytest.raises(ValueError, match="1 to 1024"):
        Keys(partitions=0)


def test_config_validates_partitions_prefix_and_cluster(tmp_path) -> None:
    from modbot.config import load_settings
    path = write_config(tmp_path, "redis://127.0.0.1:1/0", "a{b}:", extra="")
    text = path.read_text().replace("redis:\n", "redis:\n  partitions: 2000\n  cluster: true\n", 1)
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    assert "braces" in str(err.value) and "1 to 1024" in str(err.value)
    path.write_text(write_config(tmp_path, None, "ok:").read_text().replace("redis:\n", "redis:\n  cluster: true\n"))
    with pytest.raises(ConfigError, match="needs 'redis.url'"):
        load_settings(path)


def _decided(cid: str, action: Action, minutes_ago: float, priority: int = 0, rule: str = "r",
             author: str = "u1") -> tuple[Comment, Decision]:
    at = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    comment = Comment(id=cid, text=f"text of {cid} with a slur", author=Author(id=author), site="news",
                      created_at=at)
    match = Match(category="slur", pattern="slur", start=0, end=4, text="slur")
    return comment, Decision(comment_id=cid, action=action, rule=rule, reason="r", scores={}, matches=(match,),
                             versions={}, decided_at=at, priority=priority, text_sha256=comment.text_sha256)


async def test_readers_merge_the_partitions(redis_client, prefix) -> None:
    keys = Keys(prefix, partitions=4)
    store = DecisionStore(redis_client, keys)
    items = [_decided(cid, Action.HOLD if i % 2 == 0 else Action.APPROVE, minutes_ago=100 - i,
                      priority=5 if i == 30 else 0, rule="hold-a" if i % 4 == 0 else "hold-b")
             for i, cid in enumerate(IDS)]
    await store.record_many([(c, d, None) for c, d in items])
    assert {keys.partition_of(c.id) for c, _ in items} == {0, 1, 2, 3}
    held = [c.id for c, d in items if d.action is Action.HOLD]

    queue = ReviewQueue(redis_client, keys, claim_ttl_s=60)
    view = await queue.view(limit=5)
    # Higher priority first, then oldest first: the same order one queue would give.
    assert [i.comment.id for i in view.items] == ["c30", "c0", "c2", "c4", "c6"]
    assert view.counts == {"held": len(held), "escalated": 0}
    assert view.rules == {"hold-a": 10, "hold-b": 10} and view.categories == {"slur": 20}
    filtered = await queue.view(filters=Filters(rule="hold-a"), limit=100)
    assert filtered.total_matching == 10 and all(i.decision.rule == "hold-a" for i in filtered.items)

    assert await queue.escalate("c2", "alice")
    await store.record_verdict("c4", Action.REJECT, "alice")
    view = await queue.view(limit=100)
    assert view.counts == {"held": len(held) - 2, "escalated": 1}
    assert (await queue.view("escalated")).items[0].comment.id == "c2"

    stats = await read_rule_stats(redis_client, keys)
    assert stats["hold-a"].fired == 10 and stats["hold-a"].upheld == 1 and stats["hold-b"].fired == 30
    patterns = await read_pattern_stats(redis_client, keys)
    assert sum(p.fired for p in patterns) == 40 and sum(p.upheld for p in patterns) == 1

    # The author wrote all 40, spread over the partitions: the panel merges them newest first.
    item = (await queue.view(limit=1)).items[0]
    history = (await author_histories(redis_client, keys, [item]))[item.comment.id]
    assert [d.comment_id for d in history.decisions][:3] == ["c39", "c38", "c37"]
    assert len(history.decisions) == 39 and history.verdicts == {"upheld": 1, "overturned": 0}

    skipped: list[str] = []
    cases = await read_history(redis_client, keys, skipped)
    assert sorted(c.comment.id for c in cases) == sorted(IDS) and not skipped
    assert next(c for c in cases if c.comment.id == "c4").label is Action.REJECT

    report = await status(redis_client, keys, "modbot", 5)
    assert report["decisions"] == 41 and report["outbox"]["waiting"] == 41
    assert report["review"] == {"held": 18, "escalated": 1, "pending": 0}
    assert len(report["outbox"]["partitions"]) == 4
    assert sum(p["waiting"] for p in report["outbox"]["partitions"]) == 41


async def test_an_edited_comment_stays_in_its_partition(redis_client, prefix) -> None:
    keys = Keys(prefix, partitions=8)
    store = DecisionStore(redis_client, keys)
    comment, first = _decided("e1", Action.HOLD, 5)
    await store.record(comment, first)
    edited = Comment(id="e1", text="an edited, harmless text", author=Author(id="u1"), site="news")
    second = Decision(comment_id="e1", action=Action.APPROVE, rule=None, reason="ok", scores={}, matches=(),
                      versions={}, decided_at=datetime.now(UTC), text_sha256=edited.text_sha256)
    assert int(await store.record(edited, second)) == 2  # EDITED
    part = keys.of("e1")
    assert await redis_client.xlen(part.outbox) == 2 and await redis_client.zcard(part.review) == 0


async def test_a_daemon_with_another_layout_refuses_the_data(redis_client, prefix) -> None:
    await IdentityWatch(redis_client, Keys(prefix), "modbot").start()  # data written with one partition
    await IdentityWatch(redis_client, Keys(prefix), "modbot").start()  # the same layout: fine
    with pytest.raises(LayoutMismatch, match="1 partition, untagged keys.*8 partitions, tagged keys") as err:
        await IdentityWatch(redis_client, Keys(prefix, partitions=8), "modbot").start()
    assert "redis.prefix" in str(err.value)
    # A marker from before layouts were recorded is the one-partition layout.
    await redis_client.hdel(Keys(prefix).identity, "layout")
    with pytest.raises(LayoutMismatch):
        await IdentityWatch(redis_client, Keys(prefix, partitions=2), "modbot").start()
    await IdentityWatch(redis_client, Keys(prefix), "modbot").start()
    assert await redis_client.hget(Keys(prefix).identity, "layout") == b"1 partition, untagged keys"
