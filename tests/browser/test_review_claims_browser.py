"""Claims in the browser: a verdict never leaves the selection on someone else's comment, and leaving the page
(another filter or tab) gives the claim back. The review app runs for real on 127.0.0.1 against the test Valkey."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.browser.conftest import Site
from tests.review_helpers import PASSWORDS, hold

pytestmark = pytest.mark.browser


async def log_in(browser: Any, url: str, user: str) -> Any:
    """A fresh browser context (its own cookies) logged in as `user`, on the held queue."""
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(url + "/login")
    await page.fill('input[name="user"]', user)
    await page.fill('input[name="password"]', PASSWORDS[user])
    await page.click('button[type="submit"]')
    await page.wait_for_selector("main#items", timeout=10_000)
    return page


async def wait_for(predicate: Callable[[], Awaitable[object]], what: str, tries: int = 200) -> None:
    for _ in range(tries):
        if await predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def holder(site: Site, cid: str) -> str | None:
    raw = await site.redis.get(site.keys.claim(cid))
    return raw.decode() if isinstance(raw, bytes) else raw


async def status_text(page: Any) -> str:
    return str(await page.locator("#status").text_content() or "")


async def test_after_a_verdict_the_selection_skips_a_comment_another_moderator_holds(browser: Any,
                                                                                    site: Site) -> None:
    for n, cid in enumerate(("c1", "c2", "c3")):
        await hold(site.redis, site.keys, cid, f"Held comment number {n + 1}.", age_min=30 - n)
    alice = await log_in(browser, site.url, "alice")
    await wait_for(lambda: _is(holder(site, "c1"), "alice"), "alice to claim c1")
    bob = await log_in(browser, site.url, "bob")  # c1 is alice's, so bob lands on c2
    await wait_for(lambda: _is(holder(site, "c2"), "bob"), "bob to claim c2")

    await alice.keyboard.press("a")  # alice's page still shows c2 as free
    await alice.wait_for_selector('article.item[data-id="c1"]', state="detached")
    await wait_for(lambda: _is(holder(site, "c3"), "alice"), "alice's selection to move on to c3")
    assert await alice.locator("article.item.current").get_attribute("data-id") == "c3"
    assert await alice.locator('article.item[data-id="c2"]').get_attribute("class") == "item claimed"
    assert "bob" in await status_text(alice)

    await alice.keyboard.press("r")
    await alice.wait_for_selector('article.item[data-id="c3"]', state="detached")
    assert await site.redis.zscore(site.keys.review, "c3") is None
    assert await site.redis.zscore(site.keys.review, "c2") is not None
    assert await holder(site, "c2") == "bob"
    await bob.context.close()


async def test_keys_on_a_comment_someone_else_holds_say_so(browser: Any, site: Site) -> None:
    for n, cid in enumerate(("c1", "c2")):
        await hold(site.redis, site.keys, cid, f"Held comment number {n + 1}.", age_min=30 - n)
    alice = await log_in(browser, site.url, "alice")
    await wait_for(lambda: _is(holder(site, "c1"), "alice"), "alice to claim c1")
    bob = await log_in(browser, site.url, "bob")
    await wait_for(lambda: _is(holder(site, "c2"), "bob"), "bob to claim c2")

    await alice.keyboard.press("a")
    await alice.wait_for_selector('article.item[data-id="c1"]', state="detached")
    await wait_for(lambda: _contains(status_text(alice), "bob"), "the status to name the holder")
    for key in ("r", "e", "s"):
        await alice.evaluate("document.getElementById('status').textContent = ''")
        await alice.keyboard.press(key)
        await wait_for(lambda: _contains(status_text(alice), "bob"), f"a status message after {key!r}")
    assert await site.redis.zscore(site.keys.review, "c2") is not None
    assert await holder(site, "c2") == "bob"
    await bob.context.close()


@pytest.mark.parametrize("leave", ["filter", "tab"])
async def test_leaving_the_page_releases_the_claim(browser: Any, site: Site, leave: str) -> None:
    await hold(site.redis, site.keys, "c1", "First held comment.", rule="conspiracy-hold", age_min=20)
    await hold(site.redis, site.keys, "c2", "Second held comment.", rule="toxicity-borderline", age_min=10)
    page = await log_in(browser, site.url, "alice")
    await wait_for(lambda: _is(holder(site, "c1"), "alice"), "alice to claim c1")
    if leave == "filter":
        await page.select_option("#filter-rule", "toxicity-borderline")
        await page.click("form.filters button[type=submit]")
        await page.wait_for_url("**rule=toxicity-borderline**")
    else:
        await page.click('a.tab[href="/?queue=escalated"]')
        await page.wait_for_url("**queue=escalated**")
    await wait_for(lambda: _is(site.redis.exists(site.keys.claim("c1")), 0), "the claim on c1 to be released")
    if leave == "filter":  # the new page claims what it shows
        await wait_for(lambda: _is(holder(site, "c2"), "alice"), "alice to claim c2")


async def _is(value: Awaitable[object], expected: object) -> bool:
    return await value == expected


async def _contains(value: Awaitable[str], part: str) -> bool:
    return part in await value
