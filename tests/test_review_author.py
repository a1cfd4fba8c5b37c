"""The review page's author panel, over HTTP on a real port against a real Valkey: the per-author index written
with each decision, its bound, moderators' verdicts in the counts, escaping, and authors decided before the
index existed."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from modbot.config import ReviewSettings
from modbot.decisions import AUTHOR_HISTORY, DecisionStore
from modbot.keys import Keys
from modbot.models import Action, Author, Comment, Decision
from tests.review_helpers import Served, client, hold, serve, write_users
from tests.test_review import login

SITE = "news.example"  # the site tests.review_helpers.hold gives its comments
REGULAR = Author(id="u-regular", name="Regular Reader")


@pytest.fixture
async def served(redis_client: aioredis.Redis, keys: Keys, tmp_path: Path) -> AsyncIterator[Served]:
    settings = ReviewSettings(users_file=write_users(tmp_path / "moderators.yaml"), claim_ttl_s=60)
    async with serve(redis_client, keys, settings) as s:
        yield s


async def decide(redis: aioredis.Redis, keys: Keys, cid: str, action: Action, minutes_ago: float,
                 author: Author = REGULAR, rule: str = "calm-approve", site: str | None = SITE) -> None:
    """Store an automatic decision the way the worker does."""
    at = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    comment = Comment(id=cid, text=f"comment {cid}", author=author, site=site, created_at=at)
    decision = Decision(comment_id=cid, action=action, rule=rule, reason=f"by {rule}", decided_at=at,
                        scores={}, matches=(), versions={}, text_sha256=comment.text_sha256)
    assert await DecisionStore(redis, keys).record(comment, decision)


def panel(html: str, cid: str) -> str:
    item = re.search(rf'<article [^>]*data-id="{re.escape(cid)}".*?</article>', html, re.S)
    assert item, f"no item {cid} on the page"
    found = re.search(r'<section class="history".*?</section>', item.group(0), re.S)
    assert found, f"no author panel for {cid}"
    return found.group(0)


async def page(served: Served) -> str:
    async with client() as http:
        await login(http, served.url)
        async with http.get(served.url + "/") as resp:
            assert resp.status == 200
            return await resp.text()


async def test_the_panel_counts_the_authors_decisions_and_moderators_verdicts(
        served: Served, redis_client: aioredis.Redis, keys: Keys) -> None:
    for n in range(3):
        await decide(redis_client, keys, f"old-{n}", Action.APPROVE, minutes_ago=100 + n)
    await hold(redis_client, keys, "judged-1", "first held", author=REGULAR, age_min=50)
    await hold(redis_client, keys, "judged-2", "second held", author=REGULAR, age_min=40)
    store = DecisionStore(redis_client, keys)
    await store.record_verdict("judged-1", Action.REJECT, "alice")
    await store.record_verdict("judged-2", Action.APPROVE, "bob")
    await hold(redis_client, keys, "now", "held now", author=REGULAR, age_min=5)
    await hold(redis_client, keys, "stranger", "held too", author=Author(id="u-new", name="New"), age_min=6)

    html = await page(served)
    mine = panel(html, "now")
    assert 'Last 5 other comments: <span class="history-approve">approve 4</span>, ' \
           '<span class="history-reject">reject 1</span>' in mine
    assert "Moderators upheld 1 hold, overturned 1" in mine
    recent = re.findall(r'<li><span class="history-action">(\w+)</span> by (moderator|rule) <span class="[^"]+">'
                        r'([^<]+)</span>', mine)
    # Newest first; the held item itself is on the page already and is not part of its own history.
    assert recent == [("approve", "moderator", "bob"), ("reject", "moderator", "alice"),
                      ("approve", "rule", "calm-approve"), ("approve", "rule", "calm-approve"),
                      ("approve", "rule", "calm-approve")]
    assert "No other decisions recorded" in panel(html, "stranger")


async def test_the_index_keeps_the_last_decisions_only(redis_client: aioredis.Redis, keys: Keys) -> None:
    total = AUTHOR_HISTORY + 7
    for n in range(total):
        await decide(redis_client, keys, f"c{n}", Action.APPROVE, minutes_ago=total - n)  # c0 is the oldest
    kept = await redis_client.zrange(keys.author(SITE, REGULAR.id), 0, -1)
    assert [k.decode() for k in kept] == [f"c{n}" for n in range(7, total)]


async def test_an_edit_moves_the_comment_instead_of_adding_it_twice(redis_client: aioredis.Redis,
                                                                     keys: Keys) -> None:
    await decide(redis_client, keys, "c1", Action.APPROVE, minutes_ago=30)
    await decide(redis_client, keys, "c2", Action.APPROVE, minutes_ago=20)
    # The same id with new text (an edit) is decided again, later than c2.
    at = datetime.now(UTC) - timedelta(minutes=1)
    edited = Comment(id="c1", text="edited text", author=REGULAR, site=SITE, created_at=at)
    await DecisionStore(redis_client, keys).record(edited, Decision(
        comment_id="c1", action=Action.REJECT, rule="r", reason="r", decided_at=at, scores={}, matches=(),
        versions={}, text_sha256=edited.text_sha256))
    assert [k.decode() for k in await redis_client.zrange(keys.author(SITE, REGULAR.id), 0, -1)] == ["c2", "c1"]


async def test_sites_and_ids_holding_colons_never_share_an_index(redis_client: aioredis.Redis, keys: Keys) -> None:
    assert keys.author("a:b", "c") != keys.author("a", "b:c")
    await decide(redis_client, keys, "x1", Action.APPROVE, 5, author=Author(id="c"), site="a:b")
    await decide(redis_client, keys, "x2", Action.APPROVE, 5, author=Author(id="b:c"), site="a")
    await decide(redis_client, keys, "x3", Action.APPROVE, 5, author=Author(id="c"), site=None)
    assert await redis_client.zrange(keys.author("a:b", "c"), 0, -1) == [b"x1"]
    assert await redis_client.zrange(keys.author("a", "b:c"), 0, -1) == [b"x2"]
    assert await redis_client.zrange(keys.author(None, "c"), 0, -1) == [b"x3"]


async def test_what_the_public_and_the_config_wrote_is_escaped(served: Served, redis_client: aioredis.Redis,
                                                              keys: Keys) -> None:
    await decide(redis_client, keys, "old", Action.REJECT, 60, rule='<script>alert(1)</script>\u202e')
    await hold(redis_client, keys, "now", "held now", author=REGULAR, age_min=5)
    mine = panel(await page(served), "now")
    assert "<script>" not in mine
    assert ('rule <span class="history-rule">&lt;script&gt;alert(1)&lt;/script&gt;<span class="ctl" '
            'title="U+202E RIGHT-TO-LEFT OVERRIDE">&lt;U+202E&gt;</span></span>') in mine


async def test_authors_decided_before_the_index_existed(served: Served, redis_client: aioredis.Redis,
                                                        keys: Keys) -> None:
    await decide(redis_client, keys, "before", Action.REJECT, 60)
    await hold(redis_client, keys, "now", "held now", author=REGULAR, age_min=5)
    await redis_client.delete(keys.author(SITE, REGULAR.id))  # as a queue written before this version has it
    assert "No other decisions recorded for this author on this site" in panel(await page(served), "now")
    # The index starts with the author's next decision; earlier ones stay out of it (not rebuilt by a scan).
    await decide(redis_client, keys, "after", Action.APPROVE, 1)
    mine = panel(await page(served), "now")
    assert 'Last 1 other comment: <span class="history-approve">approve 1</span>' in mine
