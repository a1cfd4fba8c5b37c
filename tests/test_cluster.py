"""modbot on a real three-master Valkey cluster: decisions, dead letters, the review page, status, backtest and
the daemon, with keys spread over the masters by partition."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot

from modbot.commands.status import status
from modbot.config import RedisSettings, ReviewSettings
from modbot.connections import connect
from modbot.decisions import Ack, DecisionStore
from modbot.identity import IdentityWatch
from modbot.keys import Keys
from modbot.models import Action
from modbot.review.pending import PendingVerdicts
from modbot.review.queue import ReviewQueue
from modbot.rules.backtest import read_history
from modbot.rules.stats import read_rule_stats
from tests.cluster import valkey_cluster
from tests.helpers import comment_json
from tests.review_helpers import client, serve, write_users
from tests.test_daemon import _start, _stop, modbot
from tests.test_partitions import _decided
from tests.test_review import csrf_of, login, verdict
from tests.test_scaleout import batch, check_order, current, enqueue, partitioned_config, stored_order

PARTITIONS = 8


@pytest.fixture(scope="module")
def cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with valkey_cluster(tmp_path_factory.mktemp("cluster")) as url:
        yield url


@pytest.fixture
async def cluster(cluster_url: str) -> AsyncIterator[aioredis.Redis]:
    conn = await connect(RedisSettings(url=cluster_url, cluster=True))
    assert isinstance(conn.redis, RedisCluster)
    yield conn.redis
    await conn.close()


async def test_the_partitions_spread_over_the_masters(cluster: Any, prefix: str) -> None:
    keys = Keys(prefix, partitions=PARTITIONS, cluster=True)
    nodes = {cluster.get_node_from_key(keys.part(n).outbox).name for n in range(PARTITIONS)}
    assert len(nodes) == 3
    assert len({key_slot(k.encode()) for k in (keys.deadletter, keys.deadletter_trimmed)}) == 1


async def test_decisions_dead_letters_verdicts_and_readers_on_a_cluster(cluster: Any, prefix: str,
                                                                         tmp_path: Path) -> None:
    keys = Keys(prefix, partitions=PARTITIONS, cluster=True)
    await IdentityWatch(cluster, keys, "modbot").start()
    store = DecisionStore(cluster, keys)
    # Input messages, read through the group, so the decisions acknowledge real pending entries.
    await cluster.xgroup_create(keys.comments, "modbot", id="0", mkstream=True)
    items = [_decided(f"c{i}", Action.HOLD if i % 2 == 0 else Action.APPROVE, 30 - i) for i in range(20)]
    for comment, _ in items:
        await cluster.xadd(keys.comments, {"comment": comment_json(comment.id, comment.text)})
    await cluster.xadd(keys.comments, {"comment": "{broken"})
    read = (await cluster.xreadgroup("modbot", "w1", {keys.comments: ">"}, count=100))[0][1]
    acks = [Ack(keys.comments, "modbot", i.decode()) for i, _ in read]
    outcomes = await store.record_many([(c, d, a) for (c, d), a in zip(items, acks, strict=False)])
    assert [int(o) for o in outcomes] == [1] * 20
    await store.dead_letter(acks[-1], b"{broken", "malformed JSON")
    assert (await cluster.xpending(keys.comments, "modbot"))["pending"] == 0
    assert await cluster.xlen(keys.deadletter) == 1
    again = await store.record_many([(items[0][0], items[0][1], None)])
    assert [int(o) for o in again] == [0]  # the same text: only acknowledged

    queue = ReviewQueue(cluster, keys, claim_ttl_s=60)
    assert await queue.escalate("c2", "alice")
    users = write_users(tmp_path / "moderators.yaml")
    # A long undo window: the verdicts wait as pending (in their partitions) until committed below.
    settings = ReviewSettings(users_file=users, claim_ttl_s=60, undo_seconds=300)
    async with serve(cluster, keys, settings) as served, client() as http:
        await login(http, served.url)
        async with http.get(served.url + "/") as resp:
            page = await resp.text()
        assert resp.status == 200 and 'data-id="c0"' in page and 'data-id="c18"' in page
        code, body = await verdict(http, served.url, ["c0", "c4", "c6"], "reject", await csrf_of(http, served.url))
        assert code == 200, body
    pending = PendingVerdicts(cluster, keys, store)
    assert await pending.count() == 3 and {p.comment_id for p in await pending.listed()} == {"c0", "c4", "c6"}
    assert (await pending.undo("c6", "alice")).ok
    assert (await store.get("c0")).source == "auto"  # type: ignore[union-attr]
    assert sorted(await pending.commit_due(now=time.time() + 600)) == ["c0", "c4"]
    assert (await store.get("c0")).source == "moderator"  # type: ignore[union-attr]
    view = await queue.view(limit=100)
    assert view.counts == {"held": 7, "escalated": 1} and "c0" not in [i.comment.id for i in view.items]

    report = await status(cluster, keys, "modbot", 5)
    assert report["decisions"] == 22 and report["outbox"]["waiting"] == 22 and report["deadletter"]["length"] == 1
    assert report["review"] == {"held": 7, "escalated": 1, "pending": 0} and report["redis"]["identity"]
    cases = await read_history(cluster, keys, [])
    assert len(cases) == 20 and next(c for c in cases if c.comment.id == "c4").label is Action.REJECT
    assert (await read_rule_stats(cluster, keys))["r"].upheld == 2


async def test_a_data_loss_on_a_cluster_is_noticed(cluster: Any, prefix: str) -> None:
    keys = Keys(prefix, partitions=PARTITIONS, cluster=True)
    watch = IdentityWatch(cluster, keys, "modbot")
    await watch.start()
    comment, decision = _decided("x1", Action.HOLD, 1)
    await DecisionStore(cluster, keys).record(comment, decision)
    assert await watch.check() is None
    # One partition's outbox alone is lost (evicted, or its master restored from an older copy).
    await cluster.delete(keys.of("x1").outbox)
    loss = await watch.check()
    assert loss is not None and loss.before is not None and loss.before.undelivered == 1
    assert loss.before.review_held == 1


@pytest.mark.slow
async def test_the_daemon_status_and_backtest_on_a_cluster(cluster_url: str, cluster: Any, prefix: str,
                                                           tmp_path: Path, platform: Any) -> None:
    config = partitioned_config(tmp_path, cluster_url, prefix, platform.url, extra_redis="  cluster: true\n")
    keys = Keys(prefix, partitions=PARTITIONS, cluster=True)
    proc = _start(config)
    try:
        comments = batch("k", 30)
        enqueue(config, comments)
        ids = {str(c["id"]) for c in comments}
        async with asyncio.timeout(90):
            while True:
                decided = await current(cluster, keys, ids)
                got = {(d["comment_id"], d["decided_at"]) for d in (json.loads(b) for _, b in platform.received)}
                if all(d and (c, d["decided_at"]) in got for c, d in decided.items()):
                    break
                await asyncio.sleep(0.1)
        check_order([json.loads(b) for _, b in platform.received], decided, await stored_order(cluster, keys))
        out = modbot("status", "--config", str(config), "--json", cwd=tmp_path)
        report = json.loads(out.stdout)
        assert report["outbox"]["waiting"] == 0 and report["decisions"] >= 30, out.stderr
        assert report["input"]["pending"] == 0  # every message acknowledged, across slots
        assert len({p["deliverer"] for p in report["outbox"]["partitions"]}) == 1
    finally:
        code, logs = _stop(proc)
    assert code == 0, logs[-5:]
    out = modbot("backtest", "--config", str(config), "--from-redis", "--no-cache", "--no-progress",
                 "--scorers", "patterns", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "replayed 30 comments" in out.stdout
