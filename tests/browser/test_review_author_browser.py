"""The author panel in headless Chromium: it renders under the held comment with the author's other decisions and
moderators' verdicts, fits a phone-width window, and shows markup written into a rule id as text. The review app
runs for real on 127.0.0.1 against the test Valkey server."""

from __future__ import annotations

from typing import Any

import pytest

from modbot.decisions import DecisionStore
from modbot.models import Action, Author
from tests.browser.conftest import Site
from tests.browser.test_review_layout_browser import open_page
from tests.review_helpers import hold

pytestmark = pytest.mark.browser

AUTHOR = Author(id="u-regular", name="Regular Reader")


@pytest.mark.parametrize("width", [360, 1200])
async def test_the_author_panel_renders(browser: Any, site: Site, width: int) -> None:
    await hold(site.redis, site.keys, "old-1", "an earlier held comment", author=AUTHOR, age_min=60,
               rule="<img src=x onerror=alert(1)>")
    await hold(site.redis, site.keys, "old-2", "another earlier one", author=AUTHOR, age_min=50)
    store = DecisionStore(site.redis, site.keys)
    await store.record_verdict("old-1", Action.REJECT, "alice")
    await store.record_verdict("old-2", Action.APPROVE, "bob")
    await hold(site.redis, site.keys, "now", "held now", author=AUTHOR, age_min=5)

    page = await open_page(browser, site.url, width, "light")
    panel = page.locator('article.item[data-id="now"] section.history')
    assert await panel.is_visible()
    text = await panel.inner_text()
    assert "Last 2 other comments: approve 1, reject 1" in text
    assert "Moderators upheld 1 hold, overturned 1" in text
    assert await panel.locator("ol.history-recent li").count() == 2
    assert await page.locator("section.history img").count() == 0
    size = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert size[0] <= size[1] == width
