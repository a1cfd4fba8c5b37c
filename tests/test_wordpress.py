"""The WordPress sink and poller against a stand-in WordPress speaking the REST contract (tests/wordpress_fake.py)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
import redis.asyncio as aioredis

from modbot.config import WordPressSettings
from modbot.errors import DeliveryError
from modbot.ingest.schema import decode_message
from modbot.ingest.wordpress import PollError, WordPressPoller
from modbot.keys import Keys
from modbot.models import Action, Decision
from modbot.sinks.wordpress import WordPressSink
from tests.wordpress_fake import FakeWordPress, running


@pytest.fixture
def settings(wp: FakeWordPress, monkeypatch: pytest.MonkeyPatch) -> WordPressSettings:
    monkeypatch.setenv("TEST_WP_PASSWORD", wp.password)
    return WordPressSettings(url=wp.url + "/", user=wp.user, password_env="TEST_WP_PASSWORD", timeout_s=5)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def decision(comment_id: str, action: Action) -> Decision:
    return Decision(comment_id=comment_id, action=action, rule="r", reason="because", scores={}, matches=(),
                    versions={}, decided_at=datetime.now(UTC))


async def stream(redis: aioredis.Redis, keys: Keys) -> list[dict[str, object]]:
    return [json.loads(f[b"comment"]) for _, f in await redis.xrange(keys.comments)]


# --- sink ------------------------------------------------------------------------------------------------------

async def test_sink_sets_the_status_for_each_action(wp: FakeWordPress, settings: WordPressSettings,
                                                    http: aiohttp.ClientSession) -> None:
    sink = WordPressSink(settings, http)
    expected = {Action.APPROVE: "approved", Action.HOLD: "hold", Action.SPAM: "spam", Action.REJECT: "trash"}
    for action, status in expected.items():
        c = wp.add("hello")
        await sink.deliver(decision(str(c["id"]), action), "key-1")
        assert wp.comments[c["id"]]["status"] == status
    assert all(path.startswith("/wp-json/wp/v2/comments/") for method, path, _ in wp.requests if method == "POST")


async def test_sink_reads_the_password_file_first(wp: FakeWordPress, settings: WordPressSettings, tmp_path: Path,
                                                  http: aiohttp.ClientSession,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "wp-password"
    secret.write_text(wp.password + "\n")
    monkeypatch.setenv("TEST_WP_PASSWORD", "wrong")
    sink = WordPressSink(WordPressSettings(url=wp.url, user=wp.user, password_env="TEST_WP_PASSWORD",
                                           password_file=secret), http)
    c = wp.add("hi")
    await sink.deliver(decision(str(c["id"]), Action.SPAM), "k")
    assert wp.comments[c["id"]]["status"] == "spam"


async def test_sink_without_a_password_is_refused(wp: FakeWordPress, http: aiohttp.ClientSession,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_SUCH_WP_PASSWORD", raising=False)
    with pytest.raises(DeliveryError, match="NO_SUCH_WP_PASSWORD"):
        WordPressSink(WordPressSettings(url=wp.url, user="u", password_env="NO_SUCH_WP_PASSWORD"), http)


@pytest.mark.parametrize("status,retryable", [(500, True), (503, True), (408, True), (429, True),
                                              (400, False), (403, False), (404, False)])
async def test_sink_errors_say_whether_a_retry_can_help(wp: FakeWordPress, settings: WordPressSettings,
                                                        http: aiohttp.ClientSession, status: int,
                                                        retryable: bool) -> None:
    c = wp.add("x")
    wp.fail_with.append(status)
    with pytest.raises(DeliveryError) as err:
        await WordPressSink(settings, http).deliver(decision(str(c["id"]), Action.REJECT), "k")
    assert err.value.retryable is retryable and str(status) in str(err.value)
    assert wp.comments[c["id"]]["status"] == "hold"


async def test_sink_wrong_password_and_unknown_comment_are_permanent(wp: FakeWordPress,
                                                                     settings: WordPressSettings,
                                                                     http: aiohttp.ClientSession) -> None:
    with pytest.raises(DeliveryError) as err:
        await WordPressSink(settings, http).deliver(decision("99999", Action.APPROVE), "k")
    assert not err.value.retryable and "404" in str(err.value)
    wp.password = "changed"
    c = wp.add("x")
    with pytest.raises(DeliveryError) as err:
        await WordPressSink(settings, http).deliver(decision(str(c["id"]), Action.APPROVE), "k")
    assert not err.value.retryable and "401" in str(err.value)
    with pytest.raises(DeliveryError) as err:
        await WordPressSink(settings, http).deliver(decision("c-12", Action.APPROVE), "k")
    assert not err.value.retryable


async def test_sink_network_errors_are_retryable(http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_WP_PASSWORD", "x")
    async with running(FakeWordPress()) as gone:
        url = gone.url
    sink = WordPressSink(WordPressSettings(url=url, user="u", password_env="TEST_WP_PASSWORD"), http)
    with pytest.raises(DeliveryError) as err:
        await sink.deliver(decision("5", Action.APPROVE), "k")
    assert err.value.retryable


# --- poller ----------------------------------------------------------------------------------------------------

async def test_poller_reads_every_page_once_and_remembers(wp: FakeWordPress, settings: WordPressSettings,
                                                          redis_client: aioredis.Redis, prefix: str) -> None:
    keys = Keys(prefix)
    for i in range(230):
        wp.add(f"comment {i}", minutes_ago=1000 - i)
    wp.add("already approved", status="approved", minutes_ago=5)
    poller = WordPressPoller(settings, redis_client, keys)
    try:
        assert await poller.poll_once() == 230
        assert await poller.poll_once() == 0
    finally:
        await poller.close()
    lists = [q for method, _, q in wp.requests if method == "GET"]
    assert [q["page"] for q in lists[:3]] == ["1", "2", "3"]
    assert all(q["status"] == "hold" and q["context"] == "edit" and q["orderby"] == "date_gmt"
               and q["order"] == "asc" and q["per_page"] == "100" for q in lists)
    assert "after" not in lists[0] and "after" in lists[-1]
    written = await stream(redis_client, keys)
    assert [c["text"] for c in written] == [f"comment {i}" for i in range(230)]

    # A new poller (a restart) continues from the cursor in Redis.
    late = wp.add("a new one", minutes_ago=1)
    again = WordPressPoller(settings, redis_client, keys)
    try:
        assert await again.poll_once() == 1
    finally:
        await again.close()
    assert (await stream(redis_client, keys))[-1]["id"] == str(late["id"])


async def test_poller_maps_wordpress_fields_to_our_schema(wp: FakeWordPress, settings: WordPressSettings,
                                                          redis_client: aioredis.Redis, prefix: str) -> None:
    keys = Keys(prefix)
    member = wp.add("Zionist <b>puppets</b> & more", author=12, author_name="Ann", post=42)
    guest = wp.add("guest text", author=0, author_name="Bo", author_email="Bo@Example.org")
    poller = WordPressPoller(settings, redis_client, keys)
    try:
        assert await poller.poll_once() == 2
    finally:
        await poller.close()
    raws = [f[b"comment"] for _, f in await redis_client.xrange(keys.comments)]
    first, second = (decode_message(r) for r in raws)  # valid in the documented schema
    assert first.id == str(member["id"]) and first.text == "Zionist <b>puppets</b> & more"
    assert (first.author.id, first.author.name, first.thread_id) == ("12", "Ann", "42")
    assert first.thread_url == member["link"] and first.site == "127.0.0.1"
    assert first.created_at == datetime.fromisoformat(member["date_gmt"]).replace(tzinfo=UTC)
    assert second.author.id.startswith("guest:") and "Example" not in second.author.id
    assert second.author.id == decode_message(raws[1]).author.id  # stable per guest
    assert second.id == str(guest["id"])


async def test_poller_picks_up_late_comments_inside_the_overlap(wp: FakeWordPress, settings: WordPressSettings,
                                                                redis_client: aioredis.Redis, prefix: str) -> None:
    keys = Keys(prefix)
    wp.add("newest", minutes_ago=10)
    poller = WordPressPoller(settings, redis_client, keys, overlap_s=3600)
    try:
        assert await poller.poll_once() == 1
        # Dated before the cursor: a comment that moved pages, or a site in a time zone west of UTC.
        wp.add("dated earlier", minutes_ago=40)
        wp.add("too old for the overlap", minutes_ago=500)
        assert await poller.poll_once() == 1
    finally:
        await poller.close()
    assert [c["text"] for c in await stream(redis_client, keys)] == ["newest", "dated earlier"]


@pytest.mark.parametrize("status,retryable", [(500, True), (429, True), (401, False), (403, False)])
async def test_poller_failures_write_nothing_and_keep_the_cursor(wp: FakeWordPress, settings: WordPressSettings,
                                                                 redis_client: aioredis.Redis, prefix: str,
                                                                 status: int, retryable: bool) -> None:
    keys = Keys(prefix)
    for i in range(150):
        wp.add(f"c{i}", minutes_ago=500 - i)
    poller = WordPressPoller(settings, redis_client, keys)
    try:
        wp.fail_with.append(status)
        with pytest.raises(PollError) as err:
            await poller.poll_once()
        assert err.value.retryable is retryable
        assert await redis_client.exists(keys.comments, keys.wp_cursor) == 0
        assert await poller.poll_once() == 150
    finally:
        await poller.close()


async def test_poller_wrong_password_is_permanent(wp: FakeWordPress, settings: WordPressSettings,
                                                  redis_client: aioredis.Redis, prefix: str) -> None:
    wp.add("x")
    wp.password = "rotated"
    poller = WordPressPoller(settings, redis_client, Keys(prefix))
    try:
        with pytest.raises(PollError) as err:
            await poller.poll_once()
    finally:
        await poller.close()
    assert not err.value.retryable and "401" in str(err.value)


async def test_poller_run_polls_until_stopped(wp: FakeWordPress, settings: WordPressSettings,
                                              redis_client: aioredis.Redis, prefix: str) -> None:
    keys = Keys(prefix)
    wp.add("one")
    wp.fail_with.append(503)  # the first poll fails; run() carries on
    fast = WordPressSettings(url=settings.url, user=settings.user, password_env=settings.password_env,
                             poll_interval_s=0.05)
    poller = WordPressPoller(fast, redis_client, keys)
    stop = asyncio.Event()
    task = asyncio.create_task(poller.run(stop))
    for _ in range(200):
        if await redis_client.xlen(keys.comments):
            break
        await asyncio.sleep(0.02)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert [c["text"] for c in await stream(redis_client, keys)] == ["one"]
