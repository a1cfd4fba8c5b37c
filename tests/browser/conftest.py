"""Headless Chromium from Debian's package (/usr/bin/chromium), driven by Playwright. Never downloads a browser."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from modbot.config import ReviewSettings
from modbot.keys import Keys
from tests.review_helpers import serve, write_users

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


@pytest.fixture
async def browser() -> AsyncIterator[object]:
    if not CHROMIUM.exists():
        pytest.skip("browser tests need Debian's chromium at /usr/bin/chromium (apt-get install -y chromium)")
    playwright_api = pytest.importorskip("playwright.async_api", reason="browser tests need playwright")
    async with playwright_api.async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            yield chromium
        finally:
            await chromium.close()


@dataclass
class Site:
    url: str
    keys: Keys
    redis: aioredis.Redis


@pytest.fixture
async def site(redis_client: aioredis.Redis, prefix: str, tmp_path: Path) -> AsyncIterator[Site]:
    keys = Keys(prefix)
    # Verdicts act at once here; test_review_undo_browser.py serves the page with an undo window.
    settings = ReviewSettings(users_file=write_users(tmp_path / "moderators.yaml"), claim_ttl_s=120,
                              undo_seconds=0)
    async with serve(redis_client, keys, settings) as served:
        yield Site(served.url, keys, redis_client)
