"""Bidi controls and control characters written by the public are shown as visible markers, never obeyed."""

from __future__ import annotations

import re
from pathlib import Path

import redis.asyncio as aioredis
import yaml

from modbot.keys import Keys
from modbot.models import Author
from modbot.review.render import highlight, shown
from tests.review_helpers import Served, client, find, hold
from tests.test_review import login, served, settings  # noqa: F401 - fixtures

RLO = "\u202e"


def test_bidi_controls_and_controls_become_markers_in_names() -> None:
    # Displayed as-is, this name reads "live admin (moderator)".
    assert shown(f"{RLO})rotaredom( nimda evil") == (
        '<span class="ctl" title="U+202E RIGHT-TO-LEFT OVERRIDE">&lt;U+202E&gt;</span>)rotaredom( nimda evil')
    assert "&lt;U+200B&gt;" in shown("ad\u200bmin") and "&lt;U+0007&gt;" in shown("bell\x07")
    assert "&lt;U+2066&gt;" in shown("\u2066<b>x</b>") and "&lt;b&gt;" in shown("\u2066<b>x</b>")


def test_comment_text_keeps_its_line_breaks_but_not_its_bidi_controls() -> None:
    text = f"first line\nsecond {RLO}line{chr(0x2069)} with a\ttab"
    out = highlight(text, [find(text, "second", "coded_hate")])
    assert "\n" in out and "\t" in out and RLO not in out and "\u2069" not in out
    assert "&lt;U+202E&gt;" in out and "&lt;U+2069&gt;" in out and "<mark" in out


async def test_the_review_page_shows_a_reversing_author_name_escaped(
        served: Served, redis_client: aioredis.Redis, keys: Keys) -> None:  # noqa: F811
    await hold(redis_client, keys, "c-bidi", f"hello {RLO}dlrow", author=Author(
        id=f"u-{RLO}7", name=f"{RLO})rotaredom( nimda evil", account_age_days=1, approved_count=0))
    async with client() as http:
        page = await (await login(http, served.url)).text()
    assert RLO not in page
    assert page.count("&lt;U+202E&gt;") == 3  # the name, the author id and the text


def test_every_category_of_the_shipped_lexicon_has_a_colour_in_both_themes() -> None:
    """review.css names each category by the class highlight() gives it; a rule matching a part of a class name
    ('coded' for hate_symbols) coloured nothing. Checked here too, for machines without Chromium."""
    root = Path(__file__).resolve().parents[1]
    categories = yaml.safe_load((root / "config" / "patterns.yaml").read_text(encoding="utf-8"))["categories"]
    css = (root / "modbot" / "review" / "static" / "review.css").read_text(encoding="utf-8")
    assert len(categories) >= 5
    for category in categories:
        mark = highlight("x", [find("x", "x", category)])
        cls = re.search(r'<mark class="([^"]+)"', mark)
        assert cls and f".{cls.group(1)} {{ --cat: var(--{cls.group(1)}); }}" in css, category
        assert css.count(f"--{cls.group(1)}:") == 2, f"{category}: one colour for light, one for dark"
