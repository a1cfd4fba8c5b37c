"""Escalating with a note, over HTTP on a real port against a real Valkey: the record of who escalated, when and
why; the audit entry; the note's bounds and escaping; the no-JavaScript form; items escalated before the record
existed; the record's end when the item is judged or no longer held."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import aiohttp
import pytest
import redis.asyncio as aioredis

from modbot.config import ReviewSettings
from modbot.decisions import DecisionStore
from modbot.keys import Keys
from modbot.models import Action
from modbot.review.escalation import MAX_NOTE_CHARS, Escalation, InvalidNote, clean_note
from modbot.review.queue import ReviewQueue
from tests.review_helpers import Served, client, hold, serve, write_users
from tests.test_review import csrf_of, login, shown

TEXT = "They say the globalist bankers control the media, wake up."
NOTE = 'Check the thread first <script>alert(1)</script> & "quotes"\nsecond line \u202eevil'


@pytest.fixture
async def served(redis_client: aioredis.Redis, keys: Keys, tmp_path: Path) -> AsyncIterator[Served]:
    settings = ReviewSettings(users_file=write_users(tmp_path / "moderators.yaml"), claim_ttl_s=60, undo_seconds=0)
    async with serve(redis_client, keys, settings) as s:
        yield s


async def escalate(http: aiohttp.ClientSession, url: str, ids: list[str], note: object) -> tuple[int, str]:
    token = await csrf_of(http, url)
    body = {"ids": ids, "action": "escalate", "seen": await shown(http, url), "note": note}
    async with http.post(url + "/api/verdict", json=body, headers={"X-CSRF-Token": token}) as resp:
        return resp.status, await resp.text()


async def page(http: aiohttp.ClientSession, url: str, queue: str) -> str:
    async with http.get(url + "/", params={"queue": queue}) as resp:
        return await resp.text()


async def audit(redis: aioredis.Redis, keys: Keys) -> list[dict[str, str]]:
    return [{k.decode(): v.decode() for k, v in fields.items()}
            for _, fields in await redis.xrange(keys.audit)]  # type: ignore[union-attr]


async def test_the_note_is_stored_audited_and_shown_escaped(served: Served, redis_client: aioredis.Redis,
                                                            keys: Keys) -> None:
    await hold(redis_client, keys, "c1", TEXT)
    async with client() as http:
        await login(http, served.url)
        status, _ = await escalate(http, served.url, ["c1"], NOTE)
        assert status == 200
        html = await page(http, served.url, "escalated")

    record = json.loads(await redis_client.get(keys.escalation("c1")))
    assert (record["moderator"], record["note"]) == ("alice", NOTE)
    entries = await audit(redis_client, keys)
    assert [(e["action"], e["moderator"], e["note"], e["at"]) for e in entries] \
        == [("escalate", "alice", NOTE, record["at"])]
    assert datetime.fromisoformat(record["at"]).tzinfo is not None

    shown_at = datetime.fromisoformat(record["at"]).strftime("%Y-%m-%d %H:%M UTC")
    assert (f'Escalated by <strong class="escalator">alice</strong> on <time datetime="{record["at"]}">{shown_at}'
            f'</time>:</p>') in html
    note_html = re.search(r'<blockquote class="escalation-note">(.*?)</blockquote>', html, re.S)
    assert note_html
    assert note_html.group(1) == ('Check the thread first &lt;script&gt;alert(1)&lt;/script&gt; &amp; '
                                  '&quot;quotes&quot;\nsecond line <span class="ctl" '
                                  'title="U+202E RIGHT-TO-LEFT OVERRIDE">&lt;U+202E&gt;</span>evil')
    assert "<script>alert(1)" not in html
    # The escalated tab offers no second escalation, so no note field either.
    assert 'name="note"' not in html.split('id="items"')[1]


async def test_without_a_note_the_tab_says_so(served: Served, redis_client: aioredis.Redis, keys: Keys) -> None:
    await hold(redis_client, keys, "c1", TEXT)
    async with client() as http:
        await login(http, served.url)
        assert 'name="note" rows="2" maxlength="500"' in await page(http, served.url, "held")
        status, _ = await escalate(http, served.url, ["c1"], None)
        assert status == 200
        html = await page(http, served.url, "escalated")
    assert "</time> without a note</p>" in html and "escalation-note" not in html
    assert json.loads(await redis_client.get(keys.escalation("c1")))["note"] == ""


@pytest.mark.parametrize("note", ["x" * (MAX_NOTE_CHARS + 1), 42, ["a list"]])
async def test_a_note_too_long_or_not_text_is_refused_whole(served: Served, redis_client: aioredis.Redis,
                                                            keys: Keys, note: object) -> None:
    await hold(redis_client, keys, "c1", TEXT)
    async with client() as http:
        await login(http, served.url)
        status, body = await escalate(http, served.url, ["c1"], note)
        assert status == 400 and "note" in body
        assert await redis_client.zscore(keys.review, "c1") is not None  # still held, nothing written
        assert await redis_client.exists(keys.escalation("c1"), keys.audit) == 0
        status, _ = await escalate(http, served.url, ["c1"], "y" * MAX_NOTE_CHARS)
        assert status == 200
    assert json.loads(await redis_client.get(keys.escalation("c1")))["note"] == "y" * MAX_NOTE_CHARS


def test_clean_note() -> None:
    assert clean_note(None) == "" and clean_note("  two\r\nlines\r ") == "two\nlines"
    with pytest.raises(InvalidNote):
        clean_note(b"bytes")


async def test_the_form_without_javascript_sends_the_note_with_an_escalation_only(
        served: Served, redis_client: aioredis.Redis, keys: Keys) -> None:
    for cid in ("f1", "f2"):
        await hold(redis_client, keys, cid, TEXT)
    async with client() as http:
        await login(http, served.url)
        token, seen = await csrf_of(http, served.url), await shown(http, served.url)
        for cid, action in (("f1", "escalate"), ("f2", "reject")):
            form = {"csrf": token, "ids": cid, f"seen-{cid}": seen[cid], "queue": "held", "action": action,
                    "note": "line one\r\nline two"}
            async with http.post(served.url + "/verdict", data=form, allow_redirects=False) as resp:
                assert resp.status == 303 and "refused" not in resp.headers["Location"]
    assert json.loads(await redis_client.get(keys.escalation("f1")))["note"] == "line one\nline two"
    # A note written for colleagues is not put into the reason the platform receives.
    decision = json.loads(await redis_client.get(keys.decision("f2")))
    assert decision["action"] == "reject" and "line" not in decision["reason"]
    assert [(e["comment_id"], e["note"]) for e in await audit(redis_client, keys)] \
        == [("f1", "line one\nline two"), ("f2", "")]


async def test_items_escalated_before_the_record_existed_still_show(served: Served, redis_client: aioredis.Redis,
                                                                    keys: Keys) -> None:
    """What an older modbot left: the item in the escalated queue, no record (or one that cannot be read)."""
    for cid in ("old", "garbled"):
        await hold(redis_client, keys, cid, TEXT)
        score = await redis_client.zscore(keys.review, cid)
        await redis_client.zrem(keys.review, cid)
        await redis_client.zadd(keys.review_escalated, {cid: score})
    await redis_client.set(keys.escalation("garbled"), '{"moderator": "bob"')
    async with client() as http:
        await login(http, served.url)
        html = await page(http, served.url, "escalated")
    assert 'data-id="old"' in html and 'data-id="garbled"' in html
    assert html.count("Escalated; who, when and why were not recorded") == 2


async def test_the_record_ends_with_the_review(redis_client: aioredis.Redis, keys: Keys) -> None:
    store, queue = DecisionStore(redis_client, keys), ReviewQueue(redis_client, keys, 60)
    judged = await hold(redis_client, keys, "judged", TEXT)
    edited = await hold(redis_client, keys, "edited", TEXT)
    kept = await hold(redis_client, keys, "kept", TEXT)
    for comment in (judged, edited, kept):
        assert await queue.escalate(comment.id, "alice", "look", text_sha256=comment.text_sha256)

    await store.record_verdict("judged", Action.REJECT, "bob", text_sha256=judged.text_sha256)
    # The author edits: the worker decides the new text. Approved: out of review; held again: still escalated.
    for comment, action in ((edited, Action.APPROVE), (kept, Action.HOLD)):
        previous = await store.get(comment.id)
        assert previous is not None
        new = replace(comment, text=TEXT + " (edited)")
        await store.record(new, replace(previous, action=action, text_sha256=new.text_sha256))

    assert await redis_client.exists(keys.escalation("judged"), keys.escalation("edited")) == 0
    raw = await redis_client.get(keys.escalation("kept"))
    assert raw is not None and Escalation.from_json(raw) is not None
    assert [i.comment.id for i in (await queue.view("escalated")).items] == ["kept"]
    assert (await queue.view("escalated")).items[0].escalation.note == "look"  # type: ignore[union-attr]
