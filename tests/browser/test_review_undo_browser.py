"""Undo and the per-entry figures in headless Chromium: a verdict key shows a toast with a countdown, `u` brings the
comment back in its place with nothing sent, the verdict reaches the outbox only once its window has passed, and
beside each match the page shows how moderators judged holds with that lexicon entry and stance. The review app
runs for real on 127.0.0.1 against the test Valkey server, with a short undo window."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from modbot.config import ReviewSettings
from modbot.keys import Keys
from modbot.models import Decision, Stance
from modbot.rules.patternstats import wilson
from tests.browser.conftest import Site
from tests.review_helpers import PASSWORDS, find, hold, serve, write_users

pytestmark = pytest.mark.browser

WINDOW_S = 2.0
# Long enough for a second moderator to log in and read the page on a loaded machine.
LONG_WINDOW_S = 10.0
TEXT = "They say the globalist bankers control the media, wake up."


@contextlib.asynccontextmanager
async def _served(redis: aioredis.Redis, prefix: str, tmp_path: Path, window_s: float) -> AsyncIterator[Site]:
    keys = Keys(prefix)
    settings = ReviewSettings(users_file=write_users(tmp_path / "moderators.yaml"), claim_ttl_s=120,
                              undo_seconds=window_s)
    async with serve(redis, keys, settings) as served:
        yield Site(served.url, keys, redis)


@pytest.fixture
async def undo_site(redis_client: aioredis.Redis, prefix: str, tmp_path: Path) -> AsyncIterator[Site]:
    async with _served(redis_client, prefix, tmp_path, WINDOW_S) as site:
        yield site


@pytest.fixture
async def long_undo_site(redis_client: aioredis.Redis, prefix: str, tmp_path: Path) -> AsyncIterator[Site]:
    async with _served(redis_client, prefix, tmp_path, LONG_WINDOW_S) as site:
        yield site


async def log_in(browser: Any, url: str, user: str = "alice", width: int = 1280) -> Any:
    context = await browser.new_context(viewport={"width": width, "height": 800})
    page = await context.new_page()
    page.set_default_timeout(10_000)
    await page.goto(url + "/login")
    await page.fill('input[name="user"]', user)
    await page.fill('input[name="password"]', PASSWORDS[user])
    await page.click('button[type="submit"]')
    await page.wait_for_selector("article.item.current")
    return page


async def wait_for(predicate: Callable[[], Awaitable[object]], what: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def ids_on(page: Any) -> list[str]:
    return [str(i) for i in await page.locator("article.item").evaluate_all("els => els.map(e => e.dataset.id)")]


async def current(page: Any) -> str:
    return str(await page.locator("article.item.current").get_attribute("data-id"))


async def actions_sent(site: Site) -> list[str]:
    return [json.loads(f[b"decision"])["action"] for _, f in await site.redis.xrange(site.keys.outbox)]


async def test_u_undoes_a_verdict_and_nothing_is_sent_until_the_window_has_passed(browser: Any,
                                                                                   undo_site: Site) -> None:
    site = undo_site
    for n in range(3):
        await hold(site.redis, site.keys, f"c{n}", f"{TEXT} ({n})", age_min=30 - n)
    page = await log_in(browser, site.url)
    assert await ids_on(page) == ["c0", "c1", "c2"] and await current(page) == "c0"

    await page.keyboard.press("r")
    await page.wait_for_selector('article.item[data-id="c0"]', state="detached")
    toast = page.locator("#toast")
    assert await toast.is_visible()
    assert "reject" in await toast.text_content() and "sent in" in await toast.text_content()
    assert await page.locator("#toast-undo").is_visible()
    await wait_for(lambda: _eq(current(page), "c1"), "the next comment to be current")
    assert await site.redis.zscore(site.keys.review_pending, "c0") is not None

    await page.keyboard.press("u")
    await page.wait_for_selector('article.item[data-id="c0"]')
    assert await ids_on(page) == ["c0", "c1", "c2"]  # back in its place
    await wait_for(lambda: _eq(current(page), "c0"), "the undone comment to be current again")
    assert await page.locator("#count-held").text_content() == "3"
    assert "reject undone" in str(await page.locator("#status").text_content())
    assert await site.redis.zscore(site.keys.review, "c0") is not None
    await wait_for(lambda: _eq(site.redis.get(site.keys.claim("c0")), b"alice"), "alice to claim c0 again")
    await asyncio.sleep(WINDOW_S + 0.5)
    assert await actions_sent(site) == ["hold", "hold", "hold"]  # nothing was sent, ever

    # A verdict left alone: nothing reaches the outbox inside the window, then it does.
    given = time.monotonic()
    await page.locator('article.item[data-id="c0"] button.act-approve').click()
    await page.wait_for_selector('article.item[data-id="c0"]', state="detached")
    await asyncio.sleep(WINDOW_S / 2)
    assert await actions_sent(site) == ["hold", "hold", "hold"]
    await wait_for(lambda: _eq(actions_sent(site), ["hold", "hold", "hold", "approve"]), "the verdict to be sent")
    assert time.monotonic() - given >= WINDOW_S
    await wait_for(lambda: toast.is_hidden(), "the toast to go")
    await page.keyboard.press("u")
    assert await page.locator("#status").text_content() == "too late: already sent"
    assert await ids_on(page) == ["c1", "c2"]
    decision = Decision.from_dict(json.loads(await site.redis.get(site.keys.decision("c0"))))
    assert (decision.action.value, decision.moderator) == ("approve", "alice")
    await page.context.close()


async def test_the_undo_button_and_a_batch_verdict(browser: Any, undo_site: Site) -> None:
    site = undo_site
    for n in range(4):
        await hold(site.redis, site.keys, f"c{n}", f"{TEXT} ({n})", age_min=30 - n)
    page = await log_in(browser, site.url, width=390)
    for cid in ("c1", "c3"):
        await page.locator(f'article.item[data-id="{cid}"] input.select').check()
    await page.locator("#batch button.act-spam").click()
    await page.wait_for_selector('article.item[data-id="c3"]', state="detached")
    assert await ids_on(page) == ["c0", "c2"]
    assert "2 comments" in str(await page.locator("#toast").text_content())
    # On a phone the toast sits above the verdict buttons held at the bottom of the screen.
    toast, buttons = await page.locator("#toast").bounding_box(), await page.locator(
        "article.item.current .actions").bounding_box()
    assert toast["y"] + toast["height"] <= buttons["y"] and toast["x"] >= 0 and toast["x"] + toast["width"] <= 390
    await page.locator("#toast-undo").click()
    await page.wait_for_selector('article.item[data-id="c3"]')
    assert await ids_on(page) == ["c0", "c1", "c2", "c3"]
    assert await site.redis.zcard(site.keys.review_pending) == 0
    assert await site.redis.zcard(site.keys.review) == 4
    await page.context.close()


async def test_another_moderator_sees_a_pending_verdict_as_pending(browser: Any, long_undo_site: Site) -> None:
    site = long_undo_site
    await hold(site.redis, site.keys, "c0", TEXT, age_min=30)
    await hold(site.redis, site.keys, "c1", TEXT + " again", age_min=20)
    await hold(site.redis, site.keys, "c2", TEXT + " and again", age_min=10)
    alice = await log_in(browser, site.url)
    await alice.keyboard.press("r")
    await alice.wait_for_selector('article.item[data-id="c0"]', state="detached")
    bob = await log_in(browser, site.url, "bob")
    assert await ids_on(bob) == ["c1", "c2"]  # c0 is not offered for review (alice moved on to c1)
    pending = bob.locator("#pending li")
    assert "reject comment c0 by alice" in str(await pending.text_content())
    assert await pending.locator("button").count() == 0  # only alice may undo it
    await bob.wait_for_selector("#pending", state="detached", timeout=LONG_WINDOW_S * 1000 + 3000)
    await alice.context.close()
    await bob.context.close()


async def test_each_match_shows_how_moderators_judged_its_entry(browser: Any, undo_site: Site) -> None:
    site = undo_site
    bankers = find(TEXT, "globalist bankers", "antisemitic_conspiracy", pattern="globalist_bankers")
    media = find(TEXT, "control the media", "antisemitic_conspiracy", pattern="control_the_media")
    for n in range(4):
        await hold(site.redis, site.keys, f"c{n}", TEXT, [bankers, replace(media, stance=Stance.QUOTED)],
                   age_min=30 - n)
    await hold(site.redis, site.keys, "c4", TEXT, [replace(bankers, stance=Stance.QUOTED)], age_min=10)
    page = await log_in(browser, site.url)
    for key in ("r", "s", "a"):  # c0 upheld, c1 upheld, c2 overturned
        before = await current(page)
        await page.keyboard.press(key)
        await page.wait_for_selector(f'article.item[data-id="{before}"]', state="detached")
        await wait_for(lambda b=before: _ne(current(page), b), "the next comment")
    figures = page.locator('article.item[data-id="c3"] ul.matches .figures')
    assert await figures.all_text_contents() == ["this entry: no verdicts yet"] * 2  # pending: not counted yet

    await wait_for(lambda: _eq(site.redis.zcard(site.keys.review_pending), 0), "the verdicts to be committed")
    await page.reload()
    await page.wait_for_selector("article.item.current")
    low, high = wilson(2, 3) or (0.0, 1.0)
    # Both entries matched (with these stances) in the three judged comments.
    assert await figures.all_text_contents() == [
        f"this entry: 2 upheld, 1 overturned · precision 67% ({low:.0%}–{high:.0%})"] * 2
    # The same entry matched with another stance has figures of its own.
    assert await page.locator('article.item[data-id="c4"] ul.matches .figures').all_text_contents() == [
        "this entry: no verdicts yet"]
    await page.context.close()


async def _eq(value: Awaitable[object], expected: object) -> bool:
    return await value == expected


async def _ne(value: Awaitable[object], other: object) -> bool:
    return await value != other
