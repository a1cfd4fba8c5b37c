"""A platform outage is visible while it lasts and short once it ends: real Valkey, real aiohttp platform."""

from __future__ import annotations

import asyncio
import os
import time

import aiohttp
import pytest

from modbot import metrics
from modbot.commands.status import status
from modbot.config import SinkSettings, WebhookSettings
from modbot.decisions import DecisionStore
from modbot.keys import Keys
from modbot.outbox import OutboxDeliverer
from modbot.sinks.webhook import WebhookSink
from tests.test_outbox import SECRET, _decision

# The fault run had the platform down for 60 s; MODBOT_TEST_OUTAGE_S shortens it when iterating.
OUTAGE_S = float(os.environ.get("MODBOT_TEST_OUTAGE_S", "60"))


@pytest.mark.slow
@pytest.mark.fault
async def test_platform_back_after_an_outage_gets_its_decisions_within_seconds(redis_client, prefix, platform,
                                                                              monkeypatch):
    monkeypatch.setenv("MODBOT_TEST_SECRET", SECRET)
    keys = Keys(prefix)
    store = DecisionStore(redis_client, keys)
    for i in range(3):
        await store.record(*_decision(f"o{i}"))
    platform.status_override = 500
    session = aiohttp.ClientSession()
    sink = WebhookSink(WebhookSettings(url=platform.url, secret_env="MODBOT_TEST_SECRET"), session)
    deliverer = OutboxDeliverer(redis_client, keys, sink, SinkSettings(), "c1")  # the shipped backoff
    stop = asyncio.Event()
    task = asyncio.create_task(deliverer.run(stop))
    try:
        await asyncio.sleep(OUTAGE_S)
        during = await status(redis_client, keys, "modbot", 5, sink="webhook")
        await metrics.refresh_queues(redis_client, keys, "modbot", sink="webhook")
        gauges = metrics.OUTBOX_OLDEST._value.get(), metrics.DELIVERY_FAILURES._value.get()
        platform.status_override = None
        recovered = time.monotonic()
        async with asyncio.timeout(30):
            while not platform.received:
                await asyncio.sleep(0.02)
        first_after_s = time.monotonic() - recovered
        async with asyncio.timeout(10):
            while len(platform.received) < 3:
                await asyncio.sleep(0.02)
    finally:
        stop.set()
        await task
        await session.close()
    print(f"outage {OUTAGE_S:g} s: first delivery {first_after_s:.2f} s after recovery")
    assert first_after_s < 5.5  # sink.backoff_max_s (5 s) plus the request itself
    box = during["outbox"]
    assert box["waiting"] == 3 and box["oldest_age_s"] >= OUTAGE_S - 1
    # Probed at least every 5 s (the fault run saw 2 requests in 60 s), and the outage is there to see.
    assert box["failures_in_a_row"] >= OUTAGE_S / 6 and "HTTP 500" in box["last_error"]
    assert box["next_attempt_in_s"] is not None and box["next_attempt_in_s"] <= 5
    assert gauges[0] >= OUTAGE_S - 1 and gauges[1] >= box["failures_in_a_row"]  # the same, for alerts
    after = await status(redis_client, keys, "modbot", 5, sink="webhook")
    assert after["outbox"]["failures_in_a_row"] == 0 and after["outbox"]["last_delivered_at"]
