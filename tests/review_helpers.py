"""Shared by the review page tests: seed held comments the way the worker stores them, serve the app on a port."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import redis.asyncio as aioredis
from aiohttp import web
from argon2 import PasswordHasher

from modbot.config import ReviewSettings
from modbot.decisions import DecisionStore
from modbot.keys import Keys
from modbot.models import Action, Author, Comment, Decision, Match
from modbot.review.app import create_app
from modbot.review.auth import hash_password, save_users
from modbot.review.throttle import LoginThrottle

# Cheap argon2 parameters: the tests check behaviour, not hashing cost.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
PASSWORDS = {"alice": "correct horse battery", "bob": "staple tuna 42"}


def write_users(path: Path, users: dict[str, str] | None = None) -> Path:
    save_users(path, {name: hash_password(pw, FAST_HASHER) for name, pw in (users or PASSWORDS).items()})
    return path


def find(text: str, needle: str, category: str, pattern: str | None = None) -> Match:
    start = text.index(needle)
    return Match(category=category, pattern=pattern or needle.lower(), start=start, end=start + len(needle),
                 text=needle)


async def hold(redis: aioredis.Redis, keys: Keys, cid: str, text: str, matches: Sequence[Match] = (),
               rule: str = "conspiracy-hold", priority: int = 0, age_min: float = 10.0,
               scores: dict[str, float] | None = None, thread_url: str | None = "https://news.example/post-1",
               author: Author | None = None, reason: str | None = None) -> Comment:
    """Store a held comment exactly as the worker does (DecisionStore.record)."""
    created = datetime.now(UTC) - timedelta(minutes=age_min)
    comment = Comment(id=cid, text=text, author=author or Author(id="u-" + cid, name="Reader " + cid,
                                                                account_age_days=3, approved_count=1),
                      thread_id="post-1", thread_url=thread_url, site="news.example", created_at=created)
    decision = Decision(comment_id=cid, action=Action.HOLD, rule=rule, reason=reason or f"held by {rule}",
                        scores=scores if scores is not None else {"toxicity": 0.41, "insult": 0.12},
                        matches=tuple(matches), versions={"rules": "test"}, decided_at=created, priority=priority,
                        text_sha256=comment.text_sha256)
    assert await DecisionStore(redis, keys).record(comment, decision)
    return comment


@dataclass
class Served:
    url: str
    app: web.Application


@asynccontextmanager
async def serve(redis: aioredis.Redis, keys: Keys, settings: ReviewSettings,
                throttle: LoginThrottle | None = None) -> AsyncIterator[Served]:
    """The review app on a real port on 127.0.0.1. Its login throttle's first wait is a minute (not a second),
    so a slow test machine never sees a wait run out between two requests."""
    if throttle is None:
        throttle = LoginThrottle(first_delay_s=60)
    app = create_app(redis, keys, settings, throttle=throttle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield Served(f"http://127.0.0.1:{port}", app)
    finally:
        await runner.cleanup()


def client() -> aiohttp.ClientSession:
    # unsafe=True: aiohttp's cookie jar otherwise ignores cookies from IP-address hosts like 127.0.0.1.
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
