"""A verdict applies only to the text the moderator saw (QA: approving e-2 after its author made it worse).

The page names each item's text_sha256; the worker deciding an edit (same id, new text) changes it, and a
verdict or escalation naming the old version is refused with nothing delivered, audited or counted.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
import redis.asyncio as aioredis

from modbot.config import ReviewSettings
from modbot.decisions import DecisionStore, StaleVerdict
from modbot.keys import Keys
from modbot.models import Action, Comment, Decision
from modbot.review.app import STALE, UNSEEN
from modbot.review.queue import ReviewQueue
from tests.review_helpers import Served, client, hold, serve, write_users
from tests.test_review import csrf_of, login, shown, verdict

BEFORE = "Jews control the media"
AFTER = "Jews control the media and should be driven out"


@pytest.fixture
async def served(redis_client: aioredis.Redis, keys: Keys, tmp_path: Path) -> AsyncIterator[Served]:
    settings = ReviewSettings(users_file=write_users(tmp_path / "moderators.yaml"), claim_ttl_s=60, undo_seconds=0)
    async with serve(redis_client, keys, settings) as s:
        yield s


async def edit(redis: aioredis.Redis, keys: Keys, original: Comment, text: str) -> Comment:
    """What the worker does with an edited comment: decide the same id again, with the new text; still held."""
    store = DecisionStore(redis, keys)
    previous = await store.get(original.id)
    assert previous is not None
    comment = replace(original, text=text)
    decision = replace(previous, text_sha256=comment.text_sha256, reason="held again after an edit")
    assert await store.record(comment, decision) == 2  # Outcome.EDITED
    return comment


async def decision_of(redis: aioredis.Redis, keys: Keys, cid: str) -> Decision:
    raw = await redis.get(keys.decision(cid))
    assert isinstance(raw, bytes)
    return Decision.from_dict(json.loads(raw))


async def entries(redis: aioredis.Redis, stream: str) -> list[dict[bytes, bytes]]:
    """A stream's entries' fields (redis-py's typing does not know responses are bytes here)."""
    return [fields for _, fields in await redis.xrange(stream)]  # type: ignore[union-attr,misc]


async def test_a_verdict_on_the_version_before_an_edit_is_refused(served: Served, redis_client: aioredis.Redis,
                                                                 keys: Keys) -> None:
    original = await hold(redis_client, keys, "e-2", BEFORE)
    async with client() as http:
        await login(http, served.url)
        token = await csrf_of(http, served.url)
        seen = await shown(http, served.url)
        assert seen == {"e-2": original.text_sha256}
        edited = await edit(redis_client, keys, original, AFTER)
        assert edited.text_sha256 != original.text_sha256
        outbox, audit = await redis_client.xlen(keys.outbox), await redis_client.xlen(keys.audit)

        status, data = await verdict(http, served.url, ["e-2"], "approve", token, seen)
        assert status == 409
        assert data["results"] == {"e-2": {"ok": False, "error": STALE, "stale": True}}
        current = await decision_of(redis_client, keys, "e-2")
        assert (current.action, current.source, current.text_sha256) == (Action.HOLD, "auto", edited.text_sha256)
        assert await redis_client.xlen(keys.outbox) == outbox
        assert await redis_client.xlen(keys.audit) == audit == 0
        assert await redis_client.zscore(keys.review, "e-2") is not None
        assert await redis_client.exists(keys.claim("e-2")) == 0
        assert b"conspiracy-hold|overturned" not in await redis_client.hgetall(keys.rulestats)

        # After a reload the page shows the new text and its hash; a verdict on that is applied.
        assert await shown(http, served.url) == {"e-2": edited.text_sha256}
        status, data = await verdict(http, served.url, ["e-2"], "reject", token)
        assert status == 200 and data["results"] == {"e-2": {"ok": True}}
    delivered = json.loads((await entries(redis_client, keys.outbox))[-1][b"decision"])
    assert (delivered["action"], delivered["text_sha256"]) == ("reject", edited.text_sha256)


async def test_a_verdict_without_the_hash_is_refused(served: Served, redis_client: aioredis.Redis,
                                                     keys: Keys) -> None:
    await hold(redis_client, keys, "c1", BEFORE)
    await hold(redis_client, keys, "c2", "A fine comment held by mistake.")
    async with client() as http:
        await login(http, served.url)
        token = await csrf_of(http, served.url)
        seen = await shown(http, served.url)
        status, data = await verdict(http, served.url, ["c1", "c2"], "approve", token, {"c2": seen["c2"]})
        assert status == 409
        assert data["results"] == {"c1": {"ok": False, "error": UNSEEN, "stale": True}, "c2": {"ok": True}}
        for bad in (["not", "a", "map"], {"c1": 5}):
            async with http.post(served.url + "/api/verdict", json={"ids": ["c1"], "action": "approve", "seen": bad},
                                 headers={"X-CSRF-Token": token}) as resp:
                assert resp.status == 400
    assert (await decision_of(redis_client, keys, "c1")).action is Action.HOLD
    assert [f[b"comment_id"] for f in await entries(redis_client, keys.audit)] == [b"c2"]


async def test_escalating_the_version_before_an_edit_is_refused(served: Served, redis_client: aioredis.Redis,
                                                                keys: Keys) -> None:
    original = await hold(redis_client, keys, "e-2", BEFORE)
    async with client() as http:
        await login(http, served.url)
        token = await csrf_of(http, served.url)
        seen = await shown(http, served.url)
        await edit(redis_client, keys, original, AFTER)
        status, data = await verdict(http, served.url, ["e-2"], "escalate", token, seen)
        assert status == 409 and data["results"] == {"e-2": {"ok": False, "error": STALE, "stale": True}}
        assert data["counts"] == {"held": 1, "escalated": 0}
        assert await redis_client.xlen(keys.audit) == 0
        status, data = await verdict(http, served.url, ["e-2"], "escalate", token)
        assert status == 200 and data["counts"] == {"held": 0, "escalated": 1}


async def test_queue_escalate_checks_the_hash(redis_client: aioredis.Redis, keys: Keys) -> None:
    original = await hold(redis_client, keys, "e-2", BEFORE)
    queue = ReviewQueue(redis_client, keys, 60)
    with pytest.raises(StaleVerdict):
        await queue.escalate("e-2", "alice", text_sha256="0" * 64)
    assert await redis_client.zscore(keys.review, "e-2") is not None
    assert await queue.escalate("e-2", "alice", text_sha256=original.text_sha256)
    assert await redis_client.zscore(keys.review_escalated, "e-2") is not None


async def test_the_form_path_sends_the_hash_and_reports_a_refusal(served: Served, redis_client: aioredis.Redis,
                                                                  keys: Keys) -> None:
    original = await hold(redis_client, keys, "e-2", BEFORE)
    await hold(redis_client, keys, "ok-1", "A fine comment held by mistake.")
    async with client() as http:
        await login(http, served.url)
        token = await csrf_of(http, served.url)
        async with http.get(served.url + "/") as resp:
            page = await resp.text()
        fields = dict(re.findall(r'<input type="hidden" name="(seen-[^"]+)" value="([^"]+)" form="batch">', page))
        assert fields == {"seen-e-2": original.text_sha256, "seen-ok-1": await _sha(redis_client, keys, "ok-1")}
        # The per-item form carries its own hash too.
        assert f'<input type="hidden" name="seen-e-2" value="{original.text_sha256}">' in page
        await edit(redis_client, keys, original, AFTER)
        form = aiohttp.FormData([("csrf", token), ("ids", "e-2"), ("ids", "ok-1"), ("action", "approve"),
                                 ("queue", "held"), *fields.items()])
        async with http.post(served.url + "/verdict", data=form, allow_redirects=False) as resp:
            assert resp.status == 303 and resp.headers["Location"] == "/?queue=held&refused=e-2"
        async with http.get(served.url + resp.headers["Location"]) as resp:
            page = await resp.text()
        assert 'role="alert">Not applied to e-2: the comment changed (edited)' in page
        assert AFTER in page
    assert (await decision_of(redis_client, keys, "e-2")).action is Action.HOLD
    assert (await decision_of(redis_client, keys, "ok-1")).action is Action.APPROVE


async def _sha(redis: aioredis.Redis, keys: Keys, cid: str) -> str:
    return (await decision_of(redis, keys, cid)).text_sha256


async def test_a_decision_stored_without_a_hash_is_judged_by_its_comment(
        served: Served, redis_client: aioredis.Redis, keys: Keys) -> None:
    """Decisions stored before they carried text_sha256: the page names the stored comment's hash instead."""
    original = await hold(redis_client, keys, "old", BEFORE)
    legacy = (await decision_of(redis_client, keys, "old")).to_dict()
    legacy.pop("text_sha256")
    await redis_client.set(keys.decision("old"), json.dumps(legacy))
    async with client() as http:
        await login(http, served.url)
        token = await csrf_of(http, served.url)
        assert await shown(http, served.url) == {"old": original.text_sha256}
        status, _ = await verdict(http, served.url, ["old"], "reject", token, {"old": "f" * 64})
        assert status == 409
        status, _ = await verdict(http, served.url, ["old"], "reject", token)
        assert status == 200
    assert (await decision_of(redis_client, keys, "old")).action is Action.REJECT


async def test_a_verdict_on_a_comment_that_left_the_queue_says_it_is_gone(served: Served,
                                                                         redis_client: aioredis.Redis,
                                                                         keys: Keys) -> None:
    original = await hold(redis_client, keys, "g-1", BEFORE)
    async with client() as http:
        await login(http, served.url)
        token = await csrf_of(http, served.url)
        seen = await shown(http, served.url)
        # Meanwhile another moderator (or the worker, after an edit) decided it: it no longer waits here.
        await DecisionStore(redis_client, keys).record_verdict("g-1", Action.APPROVE, "bob",
                                                               text_sha256=original.text_sha256)
        status, body = await verdict(http, served.url, ["g-1"], "reject", token, seen=seen)
    assert status == 409  # not applied
    result = body["results"]["g-1"]  # type: ignore[index]
    assert result == {"ok": False, "error": "no longer waiting for review", "gone": True}
