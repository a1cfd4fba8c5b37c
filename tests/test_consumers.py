"""Consumers: heartbeats, a dead consumer's work taken at once, idle consumers removed (real Valkey)."""

from __future__ import annotations

import asyncio

from modbot.consumers import Heartbeat, prune_idle
from modbot.decisions import DecisionStore
from modbot.keys import Keys
from tests.helpers import comment_json
from tests.test_worker import add, make_worker


async def test_idle_consumers_leave_the_group_but_never_one_with_pending_entries(redis_client, prefix):
    keys = Keys(prefix)
    await redis_client.xgroup_create(keys.comments, "modbot", id="0", mkstream=True)
    for n in range(19):  # 19 restarts under new names, as in the fault run
        await redis_client.xreadgroup("modbot", f"host-{n}", {keys.comments: ">"}, count=1)
    await add(redis_client, prefix, comment_json("p1", "hello"))
    await redis_client.xreadgroup("modbot", "holder", {keys.comments: ">"}, count=1)  # still holds p1
    await redis_client.xreadgroup("modbot", "me", {keys.comments: ">"}, count=1)
    await asyncio.sleep(0.3)
    await redis_client.xreadgroup("modbot", "host-18", {keys.comments: ">"}, count=1)  # active just now

    for n in range(19):  # all with a heartbeat: only the idle time counts here
        await Heartbeat(redis_client, keys, f"host-{n}", ttl_s=30).beat()
    gone = await prune_idle(redis_client, keys, keys.comments, "modbot", idle_max_ms=200, keep="me")

    assert sorted(gone) == sorted(f"host-{n}" for n in range(18))
    left = {c["name"].decode() for c in await redis_client.xinfo_consumers(keys.comments, "modbot")}
    assert left == {"holder", "me", "host-18"}


async def test_dead_consumers_with_nothing_pending_leave_at_once(redis_client, prefix):
    keys = Keys(prefix)
    await redis_client.xgroup_create(keys.comments, "modbot", id="0", mkstream=True)
    for name in ("dead-1", "dead-2", "live"):
        await redis_client.xreadgroup("modbot", name, {keys.comments: ">"}, count=1)
    await Heartbeat(redis_client, keys, "live", ttl_s=30).beat()
    await asyncio.sleep(0.3)

    gone = await prune_idle(redis_client, keys, keys.comments, "modbot", idle_max_ms=3_600_000, keep="me",
                            dead_after_ms=200)

    assert sorted(gone) == ["dead-1", "dead-2"]
    left = {c["name"].decode() for c in await redis_client.xinfo_consumers(keys.comments, "modbot")}
    assert left == {"live"}


async def test_a_dead_consumers_batch_is_decided_at_once_a_live_ones_is_left(redis_client, prefix):
    keys = Keys(prefix)
    await add(redis_client, prefix, *(comment_json(f"d{n}", "a plain comment") for n in range(3)))
    worker = make_worker(redis_client, prefix, consumer="w2", reclaim_idle_ms=60_000)
    await worker.reader.ensure_group()
    await redis_client.xreadgroup("modbot", "killed", {keys.comments: ">"}, count=2)  # mid-batch, then kill -9
    await redis_client.xreadgroup("modbot", "busy", {keys.comments: ">"}, count=1)  # alive, still deciding
    await Heartbeat(redis_client, keys, "busy", ttl_s=30).beat()
    await asyncio.sleep(1.1)  # the dead consumer's entries are older than the claim's minimum idle time

    async with asyncio.timeout(5):  # not reclaim_idle_ms (60 s)
        while len(batch := await worker.reader.read_batch(poll_ms=50)) == 0:
            pass
    await worker.process(batch)

    store = DecisionStore(redis_client, keys)
    assert [m.id for m in batch] and {(await store.get(f"d{n}")) is not None for n in range(2)} == {True}
    assert await store.get("d2") is None  # the live consumer's comment stays with it
    pending = await redis_client.xpending_range(keys.comments, "modbot", min="-", max="+", count=10)
    assert [p["consumer"] for p in pending] == [b"busy"]


async def test_heartbeat_expires_unless_refreshed_and_is_cleared_on_a_clean_stop(redis_client, prefix):
    keys = Keys(prefix)
    beat = Heartbeat(redis_client, keys, "c1", ttl_s=1.5)
    stop = asyncio.Event()
    task = asyncio.create_task(beat.run(stop))
    await beat.beat()
    await asyncio.sleep(2.0)
    assert await redis_client.exists(keys.alive("c1"))  # refreshed within its TTL
    stop.set()
    await task
    assert await redis_client.exists(keys.alive("c1"))  # kept until the daemon's last delivery attempt is over
    await beat.clear()
    assert not await redis_client.exists(keys.alive("c1"))
