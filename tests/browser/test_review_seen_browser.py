"""QA's scenario in the browser: the moderator looks at e-2, its author makes it worse, the moderator presses
`a` on the unchanged page. Nothing is approved; the page says why and shows the new text to judge again."""

from __future__ import annotations

import json
from typing import Any

import pytest

from modbot.models import Action
from tests.browser.conftest import Site
from tests.browser.test_review_claims_browser import holder, log_in, wait_for
from tests.review_helpers import hold
from tests.test_review_seen import AFTER, BEFORE, decision_of, edit, entries

pytestmark = pytest.mark.browser


async def test_approve_after_the_author_edited_is_refused_and_shows_the_new_text(browser: Any, site: Site) -> None:
    original = await hold(site.redis, site.keys, "e-2", BEFORE, priority=2)
    await hold(site.redis, site.keys, "c-9", "Another held comment, further down.")
    page = await log_in(browser, site.url, "alice")
    item = page.locator('article.item[data-id="e-2"]')
    assert await item.get_attribute("data-sha256") == original.text_sha256
    await wait_for(lambda: holder(site, "e-2"), "alice's claim on e-2")
    assert await page.locator("#total").text_content() == "2"

    edited = await edit(site.redis, site.keys, original, AFTER)  # the worker decides the edit; still held
    await page.keyboard.press("a")

    await wait_for(lambda: page.locator("#status").text_content(), "the status message")
    await page.wait_for_selector('article.item[data-id="e-2"] .stale-notice')
    status = await page.locator("#status").text_content()
    assert "the comment changed (edited) while you judged it; reload" in status
    notice = await item.locator(".stale-notice").text_content()
    assert notice.startswith("the comment changed (edited) while you judged it") and "new text" in notice
    # The item now shows the edited text and names its new version, so the next key judges what is shown.
    assert await item.locator("blockquote.text").text_content() == AFTER
    assert await item.get_attribute("data-sha256") == edited.text_sha256
    current = await decision_of(site.redis, site.keys, "e-2")
    assert current.action is Action.HOLD and current.source == "auto"
    assert [json.loads(f[b"decision"])["action"] for f in await entries(site.redis, site.keys.outbox)] == \
        ["hold", "hold", "hold"]  # e-2, c-9, e-2 again after the edit: no approve
    assert await site.redis.xlen(site.keys.audit) == 0
    assert await page.locator("#count-held").text_content() == "2"
    assert await page.locator("#shown").text_content() == "2"

    # Having read the new text, the moderator rejects it; the counts agree afterwards.
    await wait_for(lambda: _is(holder(site, "e-2"), "alice"), "alice's claim on the reloaded item")
    await page.keyboard.press("r")
    await page.wait_for_selector('article.item[data-id="e-2"]', state="detached")
    decided = await decision_of(site.redis, site.keys, "e-2")
    assert (decided.action, decided.text_sha256) == (Action.REJECT, edited.text_sha256)
    await wait_for(lambda: _is(page.locator("#count-held").text_content(), "1"), "the held count")
    assert await page.locator("#shown").text_content() == "1"
    assert await page.locator("#total").text_content() == "1"


async def _is(value: Any, expected: str) -> bool:
    return bool(await value == expected)
