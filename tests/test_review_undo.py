"""The undo window against a real Valkey and real review servers: a verdict waits as pending (out of the queue, nothing
sent, nothing counted), its moderator can undo it (the item returns in its place with its counts), and the review
server commits it when the window has passed, once, also after a restart and with two servers committing."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from modbot.config import ReviewSettings
from modbot.decisions import DecisionStore
from modbot.keys import Keys
from modbot.models import Action, Decision
from modbot.review.pending import PendingVerdicts
from modbot.review.queue import ReviewQueue
from tests.review_helpers import Served, client, find, hold, serve, write_users
from tests.test_review import csrf_of, login, verdict

TEXT = "They say the globalist bankers control the media, wake up."


def settings(tmp_path: Path, undo_seconds: float) -> ReviewSettings:
    return ReviewSettings(users_file=write_users(tmp_path / "moderators.yaml"), claim_ttl_s=60,
                          undo_seconds=undo_seconds)


@pytest.fixture
async def slow(redis_client: aioredis.Redis, keys: Keys, tmp_path: Path) -> AsyncIterator[Served]:
    """A review server whose undo window (60 s) never passes during a test."""
    async with serve(redis_client, keys, settings(tmp_path, 60)) as s:
        yield s


async def undo(http: object, url: str, ids: list[str], token: str) -> tuple[int, dict[str, object]]:
    async with http.post(url + "/api/undo", json={"ids": ids}, headers={"X-CSRF-Token": token}) as resp:  # type: ignore[attr-defined]
        return int(resp.status), await resp.json()


async def action_of(redis: aioredis.Redis, keys: Keys, cid: str) -> Action:
    return Decision.from_dict(json.loads(await redis.get(keys.decision(cid)))).action


async def audit(redis: aioredis.Redis, keys: Keys) -> list[tuple[str, str, str]]:
    return [(f[b"comment_id"].decode(), f[b"action"].decode(), f.get(b"verdict", b"").decode())
            for _, f in await redis.xrange(keys.audit)]


async def eventually(predicate: object, what: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await predicate():  # type: ignore[operator]
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def test_a_verdict_waits_out_its_window_then_is_recorded_and_sent(
        redis_client: aioredis.Redis, keys: Keys, tmp_path: Path) -> None:
    await hold(redis_client, keys, "c1", TEXT, [find(TEXT, "globalist bankers", "conspiracy")])
    await hold(redis_client, keys, "c2", TEXT, age_min=1)
    counts_before = await redis_client.hgetall(keys.review_counts_held)
    async with serve(redis_client, keys, settings(tmp_path, 1.5)) as served, client() as http:
        await login(http, served.url)
        token = await csrf_of(http, served.url)
        given = time.time()
        status, data = await verdict(http, served.url, ["c1"], "reject", token)
        assert status == 200 and data["results"] == {"c1": {"ok": True, "pending": True, "undo_s": 1.5}}, data
        assert data["counts"] == {"held": 1, "escalated": 0}
        # Pending: out of the queue and its counts at once; nothing recorded, sent or counted.
        assert await redis_client.zscore(keys.review, "c1") is None
        assert await redis_client.zscore(keys.review_pending, "c1") == pytest.approx(given + 1.5, abs=1)
        assert await redis_client.hget(keys.review_counts_held, "cat|conspiracy") is None
        assert await action_of(redis_client, keys, "c1") is Action.HOLD
        assert await redis_client.xlen(keys.outbox) == 2  # the two holds
        assert await redis_client.hget(keys.rulestats, "conspiracy-hold|upheld") is None
        assert await audit(redis_client, keys) == [("c1", "pending", "reject")]
        async with http.get(served.url + "/") as resp:  # without JavaScript: an Undo button for her own verdict
            assert 'action="/undo"' in await resp.text()
        # Other moderators see it as pending, not as a comment to review.
        async with client() as bob:
            await login(bob, served.url, "bob")
            async with bob.get(served.url + "/api/queue") as resp:
                seen = await resp.json()
            assert [i["id"] for i in seen["items"]] == ["c2"]
            assert [(p["id"], p["action"], p["moderator"]) for p in seen["pending"]] == [("c1", "reject", "alice")]
            async with bob.get(served.url + "/") as resp:
                page = await resp.text()
            assert 'class="pending"' in page and "by alice" in page and 'action="/undo"' not in page

        await eventually(lambda: _is(action_of(redis_client, keys, "c1"), Action.REJECT), "the commit")
        assert time.time() - given >= 1.5
    entries = await redis_client.xrange(keys.outbox)
    assert len(entries) == 3 and json.loads(entries[-1][1][b"decision"])["action"] == "reject"
    assert await redis_client.hget(keys.rulestats, "conspiracy-hold|upheld") == b"1"
    assert await audit(redis_client, keys) == [("c1", "pending", "reject"), ("c1", "reject", "")]
    assert await redis_client.exists(keys.pending("c1"), keys.review_pending) == 0
    counts_after = await redis_client.hgetall(keys.review_counts_held)
    assert counts_after[b"rule|conspiracy-hold"] == b"1" and counts_before[b"rule|conspiracy-hold"] == b"2"


async def _is(value: object, expected: object) -> bool:
    return bool(await value == expected)  # type: ignore[misc]


async def test_undo_inside_the_window_sends_nothing_and_brings_the_item_back_in_its_place(
        slow: Served, redis_client: aioredis.Redis, keys: Keys) -> None:
    for n in range(3):
        await hold(redis_client, keys, f"c{n}", TEXT, [find(TEXT, "globalist bankers", "conspiracy")], age_min=9 - n)
    order = await redis_client.zrange(keys.review, 0, -1, withscores=True)
    counts = await redis_client.hgetall(keys.review_counts_held)
    async with client() as alice, client() as bob:
        await login(alice, slow.url)
        await login(bob, slow.url, "bob")
        ta, tb = await csrf_of(alice, slow.url), await csrf_of(bob, slow.url)
        assert (await verdict(alice, slow.url, ["c1"], "approve", ta))[0] == 200
        assert await redis_client.zcard(keys.review) == 2
        # Only the moderator who gave it may undo it.
        status, data = await undo(bob, slow.url, ["c1"], tb)
        assert status == 409 and data["results"]["c1"]["error"] == "only alice, who gave this verdict, can undo it"
        assert await redis_client.exists(keys.pending("c1"))
        status, data = await undo(alice, slow.url, ["c1"], ta)
        assert status == 200 and data["results"] == {"c1": {"ok": True, "queue": "held"}}
        assert data["counts"]["held"] == 3
        # Undoing again finds nothing pending.
        status, data = await undo(alice, slow.url, ["c1"], ta)
        assert status == 409 and data["results"]["c1"]["error"] == "too late: already sent"
    assert await redis_client.zrange(keys.review, 0, -1, withscores=True) == order
    after = await redis_client.hgetall(keys.review_counts_held)
    after.pop(b"built")  # the page loads counted the queue once
    assert after == counts
    assert await redis_client.xlen(keys.outbox) == 3 and await action_of(redis_client, keys, "c1") is Action.HOLD
    assert await redis_client.hget(keys.rulestats, "conspiracy-hold|overturned") is None
    assert await redis_client.exists(keys.pending("c1"), keys.review_pending) == 0
    assert await audit(redis_client, keys) == [("c1", "pending", "approve"), ("c1", "undo", "approve")]
    # Nothing is left to commit, however late.
    pending = PendingVerdicts(redis_client, keys, DecisionStore(redis_client, keys))
    assert await pending.commit_due(now=time.time() + 3600) == []


async def test_an_undo_after_the_commit_is_refused(redis_client: aioredis.Redis, keys: Keys, tmp_path: Path) -> None:
    await hold(redis_client, keys, "c1", TEXT)
    async with serve(redis_client, keys, settings(tmp_path, 0.3)) as served, client() as http:
        await login(http, served.url)
        token = await csrf_of(http, served.url)
        assert (await verdict(http, served.url, ["c1"], "spam", token))[0] == 200
        await eventually(lambda: _is(action_of(redis_client, keys, "c1"), Action.SPAM), "the commit")
        status, data = await undo(http, served.url, ["c1"], token)
        assert status == 409 and data["results"]["c1"] == {"ok": False, "error": "too late: already sent"}
        # Without JavaScript: the form post returns to the queue, which says so.
        async with http.post(served.url + "/undo", data={"csrf": token, "ids": "c1"}) as resp:
            page = await resp.text()
        assert "Not undone: c1: too late: already sent" in page
    assert await action_of(redis_client, keys, "c1") is Action.SPAM
    assert await redis_client.zscore(keys.review, "c1") is None


async def test_undo_needs_the_csrf_token(slow: Served, redis_client: aioredis.Redis, keys: Keys) -> None:
    await hold(redis_client, keys, "c1", TEXT)
    async with client() as http:
        await login(http, slow.url)
        token = await csrf_of(http, slow.url)
        assert (await verdict(http, slow.url, ["c1"], "reject", token))[0] == 200
        async with http.post(slow.url + "/api/undo", json={"ids": ["c1"]}) as resp:
            assert resp.status == 403
        async with http.post(slow.url + "/undo", data={"ids": "c1"}) as resp:
            assert resp.status == 403
    assert await redis_client.exists(keys.pending("c1")) == 1


async def test_a_closed_page_or_a_restart_inside_the_window_still_commits(
        redis_client: aioredis.Redis, keys: Keys, tmp_path: Path) -> None:
    await hold(redis_client, keys, "c1", TEXT)
    async with serve(redis_client, keys, settings(tmp_path, 0.5)) as served, client() as http:
        await login(http, served.url)
        assert (await verdict(http, served.url, ["c1"], "reject", await csrf_of(http, served.url)))[0] == 200
    # The server stopped (and the page is gone) inside the window: the verdict is still pending after it.
    await asyncio.sleep(0.8)
    assert await action_of(redis_client, keys, "c1") is Action.HOLD
    assert await redis_client.exists(keys.pending("c1")) == 1
    # The next start commits it, however long its own window is.
    async with serve(redis_client, keys, settings(tmp_path, 60)):
        await eventually(lambda: _is(action_of(redis_client, keys, "c1"), Action.REJECT), "the commit after restart")
    assert await redis_client.xlen(keys.outbox) == 2


async def test_two_committers_commit_each_verdict_once(redis_client: aioredis.Redis, keys: Keys) -> None:
    store = DecisionStore(redis_client, keys)
    queue = ReviewQueue(redis_client, keys, claim_ttl_s=60)
    servers = [PendingVerdicts(redis_client, keys, store) for _ in range(2)]
    for n in range(40):
        await hold(redis_client, keys, f"c{n}", f"{TEXT} {n}")
        item = await queue.item(f"c{n}")
        assert item is not None
        assert await servers[0].give(item.decision, Action.REJECT, "alice", "", 0.0) == 1
    later = time.time() + 1
    committed = await asyncio.gather(*(s.commit_due(now=later) for s in servers for _ in range(3)))
    ids = [cid for batch in committed for cid in batch]
    assert sorted(ids) == sorted(f"c{n}" for n in range(40))  # each once, whoever won
    entries = await redis_client.xrange(keys.outbox)
    assert len(entries) == 80  # 40 holds, 40 verdicts
    assert await redis_client.hget(keys.rulestats, "conspiracy-hold|upheld") == b"40"
    assert await redis_client.zcard(keys.review_pending) == 0


async def test_a_commit_and_an_undo_at_the_same_moment_do_one_of_the_two(
        redis_client: aioredis.Redis, keys: Keys) -> None:
    store = DecisionStore(redis_client, keys)
    queue = ReviewQueue(redis_client, keys, claim_ttl_s=60)
    pending = PendingVerdicts(redis_client, keys, store)
    for n in range(30):
        cid = f"c{n}"
        await hold(redis_client, keys, cid, TEXT)
        item = await queue.item(cid)
        assert item is not None
        await pending.give(item.decision, Action.APPROVE, "alice", "", 0.0)
        committed, undone = await asyncio.gather(pending.commit(cid), pending.undo(cid, "alice"))
        back = await redis_client.zscore(keys.review, cid) is not None
        sent = await action_of(redis_client, keys, cid) is Action.APPROVE
        assert committed != undone.ok and back == undone.ok and sent == committed, (cid, committed, undone)
    assert await redis_client.zcard(keys.review_pending) == 0


async def test_an_edit_inside_the_window_drops_the_verdict(redis_client: aioredis.Redis, keys: Keys) -> None:
    store = DecisionStore(redis_client, keys)
    queue = ReviewQueue(redis_client, keys, claim_ttl_s=60)
    pending = PendingVerdicts(redis_client, keys, store)
    await hold(redis_client, keys, "c1", TEXT)
    item = await queue.item("c1")
    assert item is not None
    await pending.give(item.decision, Action.APPROVE, "alice", "", 0.0)
    await hold(redis_client, keys, "c1", TEXT + " (edited: and worse)")  # the worker decides the new text
    assert await pending.commit_due(now=time.time() + 1) == []
    assert await action_of(redis_client, keys, "c1") is Action.HOLD
    assert await redis_client.zscore(keys.review, "c1") is not None  # the new text waits for review
    assert await redis_client.exists(keys.pending("c1"), keys.review_pending) == 0
    assert [a[1] for a in await audit(redis_client, keys)] == ["pending", "dropped"]
    assert (await pending.undo("c1", "alice")).status == "too-late"


async def test_status_counts_verdicts_waiting_out_their_window(redis_client: aioredis.Redis, keys: Keys) -> None:
    from modbot.commands.status import render, status

    for n in range(3):
        await hold(redis_client, keys, f"c{n}", f"{TEXT} {n}")
    item = await ReviewQueue(redis_client, keys, claim_ttl_s=60).item("c0")
    assert item is not None
    pending = PendingVerdicts(redis_client, keys, DecisionStore(redis_client, keys))
    assert await pending.give(item.decision, Action.REJECT, "alice", "", 60.0) == 1
    report = await status(redis_client, keys, "modbot", 5)
    assert report["review"] == {"held": 2, "escalated": 0, "pending": 1}
    assert "2 held, 0 escalated, 1 verdict(s) waiting out the undo window" in render(report)
