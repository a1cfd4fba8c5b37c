"""Login throttling by (moderator, client address): a stranger's wrong guesses slow the stranger, never the
moderator logging in from elsewhere; memory stays bounded."""

from __future__ import annotations

import re
from dataclasses import replace

import aiohttp
import pytest
import redis.asyncio as aioredis

from modbot.config import ReviewSettings
from modbot.keys import Keys
from modbot.review.throttle import LoginThrottle
from tests.review_helpers import PASSWORDS, Served, serve, write_users


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_delays_grow_after_the_free_tries_and_are_capped() -> None:
    clock = Clock()
    throttle = LoginThrottle(free_tries=5, max_delay_s=8, clock=clock)
    assert [throttle.attempt("alice", "198.51.100.7") for _ in range(5)] == [0] * 5
    waits = []
    for _ in range(6):
        wait = throttle.attempt("alice", "198.51.100.7")
        assert wait > 0  # refused, not counted
        waits.append(wait)
        clock.now += wait
        assert throttle.attempt("alice", "198.51.100.7") == 0  # the next try, once the wait is over
    assert waits == [1, 2, 4, 8, 8, 8]


def test_another_address_is_never_slowed_and_a_good_login_starts_afresh() -> None:
    clock = Clock()
    throttle = LoginThrottle(free_tries=5, clock=clock)
    for _ in range(5):
        throttle.attempt("alice", "198.51.100.7")
    assert throttle.attempt("alice", "198.51.100.7") > 0
    assert throttle.attempt("alice", "203.0.113.9") == 0  # the moderator, from their own address
    throttle.succeeded("alice", "203.0.113.9")
    clock.now += 1
    assert throttle.attempt("alice", "198.51.100.7") == 0
    throttle.succeeded("alice", "198.51.100.7")
    assert [throttle.attempt("alice", "198.51.100.7") for _ in range(5)] == [0] * 5


def test_one_address_trying_many_names_is_slowed_too() -> None:
    throttle = LoginThrottle(free_tries=5, free_tries_per_address=20, clock=Clock())
    assert all(throttle.attempt(f"name{i}", "198.51.100.7") == 0 for i in range(20))
    assert throttle.attempt("name99", "198.51.100.7") > 0
    assert throttle.attempt("name99", "203.0.113.9") == 0


def test_attempts_in_flight_count_so_parallel_guesses_cannot_slip_through() -> None:
    throttle = LoginThrottle(free_tries=5, clock=Clock())
    # Twelve requests arrive before any password check ends: five go on, the rest wait.
    assert [throttle.attempt("alice", "198.51.100.7") for _ in range(12)] == [0] * 5 + [1] * 7


def test_the_table_is_bounded_and_forgets_old_entries() -> None:
    clock = Clock()
    throttle = LoginThrottle(max_entries=100, forget_after_s=600, clock=clock)
    for i in range(5000):
        throttle.attempt("alice", f"10.0.{i // 256}.{i % 256}")
    assert len(throttle) <= 100
    clock.now += 601
    throttle.attempt("bob", "192.0.2.1")
    assert len(throttle) == 2  # bob's pair and his address


# --- the real review app, logins from two client addresses --------------------------------------------------

async def _post_login_from(served: Served, source: str, user: str, password: str,
                           xff: str | None = None) -> aiohttp.ClientResponse:
    """Log in from local address `source` (127.0.0.1 or 127.0.0.2: both reach the server on loopback)."""
    connector = aiohttp.TCPConnector(local_addr=(source, 0))
    async with aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(served.url + "/login") as resp:
            found = re.search(r'name="csrf" value="([^"]+)"', await resp.text())
        assert found
        async with http.post(served.url + "/login", allow_redirects=False,
                             headers={"X-Forwarded-For": xff} if xff else {},
                             data={"csrf": found.group(1), "user": user, "password": password}) as resp:
            await resp.read()
            return resp


@pytest.fixture
def settings(tmp_path) -> ReviewSettings:  # type: ignore[no-untyped-def]
    return ReviewSettings(users_file=write_users(tmp_path / "moderators.yaml"), claim_ttl_s=60)


async def test_a_stranger_cannot_lock_a_moderator_out(redis_client: aioredis.Redis, keys: Keys,
                                                      settings: ReviewSettings) -> None:
    async with serve(redis_client, keys, settings) as served:
        statuses = [(await _post_login_from(served, "127.0.0.2", "alice", f"guess {i}")).status for i in range(10)]
        assert statuses == [401] * 5 + [429] * 5
        stranger = await _post_login_from(served, "127.0.0.2", "alice", PASSWORDS["alice"])
        assert stranger.status == 429 and int(stranger.headers["Retry-After"]) >= 1
        moderator = await _post_login_from(served, "127.0.0.1", "alice", PASSWORDS["alice"])
        assert moderator.status == 303  # logged in, from their own address, at once


async def test_x_forwarded_for_counts_only_from_a_trusted_proxy(redis_client: aioredis.Redis, keys: Keys,
                                                                settings: ReviewSettings) -> None:
    behind_proxy = replace(settings, trusted_proxies=("127.0.0.1",))
    async with serve(redis_client, keys, behind_proxy) as served:
        # From the trusted proxy, the header names the client: one stranger is slowed, another client is not.
        statuses = [(await _post_login_from(served, "127.0.0.1", "alice", "guess", xff="6.6.6.6, 203.0.113.5")).status
                    for _ in range(6)]
        assert statuses == [401] * 5 + [429]
        ok = await _post_login_from(served, "127.0.0.1", "alice", PASSWORDS["alice"], xff="198.51.100.1")
        assert ok.status == 303
        # From anyone else, the header is ignored: a new made-up address per try does not escape the throttle.
        statuses = [(await _post_login_from(served, "127.0.0.2", "bob", "guess", xff=f"192.0.2.{i}")).status
                    for i in range(6)]
        assert statuses == [401] * 5 + [429]
