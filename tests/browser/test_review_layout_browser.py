"""The review page on a phone and in dark mode, in headless Chromium: nothing wider than the screen at 360 and
430 px, verdict buttons on screen, a compact header, readable colours in both schemes, a colour for every
pattern category; and escalating with a note that the escalated tab shows. The review app runs for real on
127.0.0.1 against the test Valkey server."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from typing import Any

import pytest

from modbot.models import Author, Stance
from tests.browser.conftest import Site
from tests.review_helpers import PASSWORDS, find, hold

pytestmark = pytest.mark.browser

CATEGORIES = ("antisemitic_conspiracy", "dehumanisation", "hate_symbols", "conspiracy", "slurs")
TEXT = ("The globalist bankers own the press, these people are vermin, 1488 forever, chemtrails are a plot and "
        "the slur goes here. https://example.com/a/very/long/link/that/does/not/break/anywhere/on/its/own/at/all")
NEEDLES = ("globalist bankers", "vermin", "1488", "chemtrails are a plot", "the slur")


async def seed(site: Site) -> None:
    """Two held comments that stretch the layout: every category, both stance badges, long words and names."""
    matches = [find(TEXT, needle, cat, pattern=f"{cat}.entry_with_a_long_identifier")
               for needle, cat in zip(NEEDLES, CATEGORIES, strict=True)]
    matches[1] = _with_stance(matches[1], Stance.QUOTED)
    matches[2] = replace(_with_stance(matches[2], Stance.REFUTED),
                         cue="a-cue-quoted-from-the-comment-that-is-far-too-long-to-fit-on-one-line-of-a-phone")
    await hold(site.redis, site.keys, "c1", TEXT, matches, rule="antisemitic-conspiracy-with-a-long-rule-name",
               priority=5, scores={"toxicity": 0.91, "identity_attack": 0.77, "severe_toxicity": 0.31,
                                   "insult": 0.52, "threat": 0.04, "obscene": 0.12, "sexual_explicit": 0.01},
               author=Author(id="wordpress-guest:7f3a9c2e1b4d5f60718293a4b5c6d7e8", name="A. Reader With A Long Name",
                             account_age_days=2, approved_count=0, flags=frozenset({"new", "unverified"})))
    await hold(site.redis, site.keys, "c2", "A second held comment.", age_min=5)


def _with_stance(match: Any, stance: Stance) -> Any:
    return replace(match, stance=stance, cue="they say", cue_start=0, cue_end=3)


async def open_page(browser: Any, url: str, width: int, scheme: str, user: str = "alice") -> Any:
    """A fresh context (own cookies) at `width` x 800 px in the given colour scheme, logged in as `user`."""
    context = await browser.new_context(viewport={"width": width, "height": 800}, color_scheme=scheme,
                                        device_scale_factor=1, has_touch=True)
    page = await context.new_page()
    page.set_default_timeout(10_000)
    await page.goto(url + "/login")
    await page.fill('input[name="user"]', user)
    await page.fill('input[name="password"]', PASSWORDS[user])
    await page.click('button[type="submit"]')
    await page.wait_for_selector("main#items", timeout=10_000)
    return page


# WCAG contrast of an element's text against the first non-transparent background behind it.
CONTRAST_JS = """
(el) => {
  const rgb = (s) => (s.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  let bg = null;
  for (let n = el; n; n = n.parentElement) {
    const c = rgb(getComputedStyle(n).backgroundColor);
    if (c.length === 3 || (c.length === 4 && c[3] > 0)) { bg = c.slice(0, 3); break; }
  }
  bg = bg || [255, 255, 255];
  const fg = rgb(getComputedStyle(el).color).slice(0, 3);
  const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
  return {ratio: (a + 0.05) / (b + 0.05), fg: fg, bg: bg};
}
"""

# Text a moderator must read, in both themes: body text, muted text, badges, highlights, buttons, tabs.
READABLE = ("blockquote.text", "article.item header .created", "dl.author dt", ".stance-asserted", ".stance-quoted",
            ".stance:not(.stance-asserted):not(.stance-quoted)", "mark.cat-antisemitic-conspiracy",
            "mark.cat-dehumanisation", "mark.cat-hate-symbols", "mark.cat-conspiracy", "mark.cat-slurs",
            "button.act-approve", "button.act-reject", "button.act-spam", "button.act-escalate", ".tab.current",
            ".tab:not(.current)", "ul.matches .cat", "details.note summary")


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [360, 430])
async def test_the_page_fits_a_phone_in_both_schemes(browser: Any, site: Site, width: int, scheme: str) -> None:
    await seed(site)
    page = await open_page(browser, site.url, width, scheme)
    await page.wait_for_selector("article.item.current")

    size = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert size[0] <= size[1] == width, f"the page is {size[0]} px wide in a {width} px window"
    assert await page.evaluate("window.scrollY") == 0  # selecting the first comment shows its top, with the header
    header = await page.locator("header.top").bounding_box()
    assert header["height"] <= 100, f"the header takes {header['height']} px"

    # The current comment's verdict buttons: visible, inside the screen, big enough for a thumb, and (held at
    # the bottom of the screen) on it without scrolling although the comment is taller than what is left.
    for action in ("approve", "reject", "spam", "escalate"):
        button = page.locator(f"article.item.current button.act-{action}")
        assert await button.is_visible(), action
        box = await button.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width, (action, box)
        assert box["y"] >= 0 and box["y"] + box["height"] <= 800, (action, box)
        assert box["height"] >= 40, (action, box)

    # Scrolled to the middle of the long comment, its buttons are still at the bottom of the screen.
    await page.evaluate("window.scrollTo(0, document.querySelector('article.item.current .facts').offsetTop)")
    box = await page.locator("article.item.current button.act-approve").bounding_box()
    assert box["y"] >= 0 and box["y"] + box["height"] <= 800, box

    # The batch buttons wait until a comment is ticked, then fit too.
    assert not await page.locator("#batch button.act-reject").is_visible()
    await page.locator('article.item[data-id="c2"] input.select').check()
    assert await page.locator("#batch button.act-reject").is_visible()
    size = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert size[0] <= size[1], size
    await page.context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
async def test_the_colour_scheme_follows_the_system_and_stays_readable(browser: Any, site: Site, scheme: str) -> None:
    await seed(site)
    page = await open_page(browser, site.url, 390, scheme)
    await page.wait_for_selector("article.item.current")
    background = await page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert (background == "rgb(18, 22, 25)") == (scheme == "dark"), background
    for selector in READABLE:
        found = await page.locator(selector).first.evaluate(CONTRAST_JS)
        assert found["ratio"] >= 4.5, (scheme, selector, found)
    await page.context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
async def test_every_pattern_category_has_its_own_colour(browser: Any, site: Site, scheme: str) -> None:
    await seed(site)
    page = await open_page(browser, site.url, 1280, scheme)
    colours = {cat: await page.locator(f"blockquote.text mark.cat-{cat.replace('_', '-')}").evaluate(
        "el => getComputedStyle(el).backgroundColor") for cat in CATEGORIES}
    plain = await page.evaluate("""() => { const m = document.createElement('mark');
        document.body.appendChild(m); const c = getComputedStyle(m).backgroundColor; m.remove(); return c; }""")
    assert len(set(colours.values())) == len(CATEGORIES) and plain not in colours.values(), (plain, colours)
    await page.context.close()


NOTE = 'Looks like a coded reference; <script>window.__xss = 1</script>\nsecond line & "quotes"'


async def test_escalate_with_a_note_on_a_phone_and_see_it_on_the_escalated_tab(browser: Any, site: Site) -> None:
    await seed(site)
    page = await open_page(browser, site.url, 390, "dark")
    item = page.locator('article.item[data-id="c1"]')
    await page.wait_for_selector('article.item.current[data-id="c1"]')
    await item.locator("details.note summary").click()
    await item.locator('textarea[name="note"]').fill(NOTE)
    await item.locator("button.act-escalate").click()
    await page.wait_for_selector('article.item[data-id="c1"]', state="detached")
    assert await page.locator("#count-escalated").text_content() == "1"

    stored = json.loads(await site.redis.get(site.keys.escalation("c1")))
    assert (stored["moderator"], stored["note"]) == ("alice", NOTE)
    audit = [f for _, f in await site.redis.xrange(site.keys.audit)]
    assert [(f[b"action"], f[b"moderator"], f[b"note"].decode(), f[b"at"].decode()) for f in audit] \
        == [(b"escalate", b"alice", NOTE, stored["at"])]

    await page.click('a.tab[href*="escalated"]')
    await page.wait_for_selector('article.item[data-id="c1"]')
    escalated = page.locator('article.item[data-id="c1"]')
    assert await escalated.locator(".escalator").text_content() == "alice"
    assert await escalated.locator(".escalation time").get_attribute("datetime") == stored["at"]
    assert await escalated.locator("blockquote.escalation-note").text_content() == NOTE
    assert await escalated.locator("blockquote.escalation-note").is_visible()
    assert await page.evaluate("window.__xss") is None
    assert await escalated.locator("button.act-escalate").count() == 0
    size = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert size[0] <= size[1]
    await page.context.close()


async def test_pressing_e_escalates_with_the_note_typed_so_far(browser: Any, site: Site) -> None:
    await seed(site)
    page = await open_page(browser, site.url, 1280, "light")
    await page.wait_for_selector('article.item.current[data-id="c1"]')
    await page.locator('article.item[data-id="c1"] details.note summary').click()
    await page.locator('article.item[data-id="c1"] textarea[name="note"]').fill("ask legal")
    await page.locator("article.item.current blockquote.text").click()  # back out of the field
    await page.keyboard.press("e")
    await page.wait_for_selector('article.item[data-id="c1"]', state="detached")
    for _ in range(100):
        if await site.redis.exists(site.keys.escalation("c1")):
            break
        await asyncio.sleep(0.05)
    assert json.loads(await site.redis.get(site.keys.escalation("c1")))["note"] == "ask legal"
    await page.context.close()
