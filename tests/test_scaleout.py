"""Two daemons on one Valkey with partitioned outboxes: both deliver, each comment's decisions arrive in order,
and a killed daemon's partitions move to the other."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from modbot.keys import Keys
from tests.helpers import write_config
from tests.test_daemon import _start, _stop, modbot

pytestmark = pytest.mark.slow
PARTITIONS = 8


def partitioned_config(tmp: Path, redis_url: str, prefix: str, sink_url: str, extra_redis: str = "") -> Path:
    path = write_config(tmp, redis_url, prefix, sink_url=sink_url)
    text = path.read_text().replace("redis:\n", f"redis:\n  partitions: {PARTITIONS}\n{extra_redis}", 1)
    text = text.replace("sink:\n", "sink:\n  lease_ttl_s: 1.5\n", 1)
    text = text.replace("stream:\n", "stream:\n  heartbeat_ttl_s: 1.0\n", 1)
    path.write_text(text)
    return path


def enqueue(config: Path, comments: list[dict[str, object]]) -> None:
    path = config.parent / f"in-{comments[0]['id']}.jsonl"
    path.write_text("".join(json.dumps(c) + "\n" for c in comments))
    out = modbot("enqueue", "--config", str(config), str(path), cwd=config.parent)
    assert f"added {len(comments)} comment(s)" in out.stdout, out.stderr


def batch(tag: str, n: int) -> list[dict[str, object]]:
    """n comments, and a second, edited version of every fifth one (same id, new text), sent after all."""
    first = [{"id": f"{tag}{i}", "text": f"Comment {i} about the council budget.", "author": {"id": f"u{i % 7}"}}
             for i in range(n)]
    edits = [{"id": f"{tag}{i}", "text": f"Comment {i}, edited: the budget vote is on Monday.",
              "author": {"id": f"u{i % 7}"}} for i in range(0, n, 5)]
    return first + edits


def check_order(received: list[dict[str, object]], decided: dict[str, dict[str, object]],
                history: dict[str, list[str]]) -> None:
    """Each comment's decisions arrived in the order they were stored (its partition's history stream: the
    outbox's order), and the last one that arrived is its current decision. (Not by `decided_at`: two daemons
    deciding both versions of an edited comment at once stamp it with their own clocks.)"""
    by_comment: dict[str, list[str]] = {}
    for d in received:
        by_comment.setdefault(str(d["comment_id"]), []).append(str(d["decided_at"]))
    for cid, got in by_comment.items():
        stored = iter(history[cid])
        assert all(when in stored for when in got), (cid, got, history[cid])  # a subsequence, in order
        assert got[-1] == decided[cid]["decided_at"], cid


async def stored_order(redis: aioredis.Redis, keys: Keys) -> dict[str, list[str]]:
    """Each comment's decisions (their decided_at) in the order they were stored, from the history streams."""
    order: dict[str, list[str]] = {}
    for part in keys.parts:
        for _, fields in await redis.xrange(part.decisions):
            d = json.loads(fields[b"decision"])
            order.setdefault(d["comment_id"], []).append(d["decided_at"])
    return order


async def current(redis: aioredis.Redis, keys: Keys, ids: set[str]) -> dict[str, dict[str, object]]:
    """Each comment's current decision ({} while it has none yet)."""
    raw = {cid: await redis.get(keys.decision(cid)) for cid in ids}
    return {cid: json.loads(r) if r is not None else {} for cid, r in raw.items()}


async def test_two_daemons_both_deliver_in_order_and_take_over_a_killed_one(tmp_path, redis_url, prefix, platform):
    config = partitioned_config(tmp_path, redis_url, prefix, platform.url)
    keys = Keys(prefix, partitions=PARTITIONS)
    redis = aioredis.from_url(redis_url)
    procs = [_start(config), _start(config)]
    delivered_by: list[int] = []

    async def holders() -> set[str]:
        return {(await redis.get(keys.lease(n)) or b"").decode() for n in range(PARTITIONS)}

    try:
        async with asyncio.timeout(90):  # both started and share the partitions (a slow start takes a while)
            while len(await holders() - {""}) < 2:
                await asyncio.sleep(0.1)
        first = batch("a", 60)
        enqueue(config, first)
        ids = {str(c["id"]) for c in first}
        decided: dict[str, dict[str, object]] = {}

        def received() -> list[dict[str, object]]:
            return [json.loads(body) for _, body in platform.received]

        async def all_current() -> None:
            """Wait until every comment's current decision reached the platform."""
            nonlocal decided
            async with asyncio.timeout(90):
                while True:
                    decided = await current(redis, keys, ids)
                    got = {(d["comment_id"], d["decided_at"]) for d in received()}
                    if all(d and (c, d["decided_at"]) in got for c, d in decided.items()):
                        return
                    await asyncio.sleep(0.1)

        await all_current()
        check_order(received(), decided, await stored_order(redis, keys))

        # Kill one without a chance to give anything back: its partitions move to the other within ~the TTL.
        procs[0].send_signal(signal.SIGKILL)
        _, err = procs[0].communicate(timeout=30)
        delivered_by.append(sum('"msg": "delivered"' in line for line in err.splitlines()))
        second = batch("b", 40)
        enqueue(config, second)
        ids = {str(c["id"]) for c in first + second}
        await all_current()
        check_order(received(), decided, await stored_order(redis, keys))
        survivor = await holders()
        assert len(survivor) == 1 and "" not in survivor

        out = modbot("status", "--config", str(config), "--json", cwd=tmp_path)
        report = json.loads(out.stdout)
        assert report["outbox"]["waiting"] == 0 and len(report["outbox"]["partitions"]) == PARTITIONS
        assert {p["deliverer"] for p in report["outbox"]["partitions"]} == survivor
    finally:
        for proc in procs:
            if proc.poll() is None:
                code, logs = _stop(proc)
                assert code == 0, logs[-5:]
                delivered_by.append(sum(line["msg"] == "delivered" for line in logs))
        await redis.aclose()
    assert len(delivered_by) == 2 and all(delivered_by), delivered_by  # both daemons delivered


async def test_pools_share_the_partitions_and_take_over_when_one_stops_renewing(redis_client, prefix) -> None:
    from modbot.config import SinkSettings
    from modbot.outbox_lease import DeliveryPool
    from modbot.sinks.webhook import LogSink

    keys = Keys(prefix, partitions=6)
    settings = SinkSettings(lease_ttl_s=3.0)  # well above a slow machine's pauses between the steps
    a = DeliveryPool(redis_client, keys, LogSink(), settings, "a")
    b = DeliveryPool(redis_client, keys, LogSink(), settings, "b")
    try:
        await a.rebalance()
        assert len(a.held) == 6  # alone: every partition
        await b.rebalance()  # b registers; a is still over its share, so nothing is free for b yet
        await a.rebalance()  # a stops delivering what is over 6 / 2 ...
        leaving = [h.task for h in a.held.values() if h.stop.is_set()]
        assert len(leaving) == 3 and not b.held
        await asyncio.gather(*leaving)
        await a.rebalance()  # ... and gives the leases up once those deliverers have stopped
        await b.rebalance()
        assert len(a.held) == 3 and len(b.held) == 3 and not set(a.held) & set(b.held)
        assert {(await redis_client.get(keys.lease(n))).decode() for n in b.held} == {"b"}
        # a stops renewing (frozen or killed): its leases and its registration run out, b takes all.
        await asyncio.sleep(3.2)
        assert not any(a._valid(n) for n in a.held)  # a would not send any more
        await b.rebalance()
        assert len(b.held) == 6
    finally:
        for pool in (a, b):
            for held in pool.held.values():
                held.stop.set()
            await asyncio.gather(*pool._tasks, return_exceptions=True)
