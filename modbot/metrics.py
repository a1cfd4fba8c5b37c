"""Prometheus metrics (prometheus_client): what the daemon did, how long it took, and what is waiting.

Counters and histograms are updated on the data path; the queue gauges are refreshed from Redis every few
seconds by `refresh_queues`. `serve(host, port)` exposes them at /metrics when `metrics.enabled` is set.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from modbot.delivery_state import read_state
from modbot.httpserve import serve_app
from modbot.ingest.stream import group_backlog
from modbot.keys import Keys
from modbot.retry import sleep_or_stop
from modbot.slots import summed

log = logging.getLogger("modbot.metrics")
REGISTRY = CollectorRegistry()

COMMENTS = Counter("modbot_comments", "Comments read from the stream, by outcome "
                   "(decided, edited, duplicate, deadlettered)", ["outcome"], registry=REGISTRY)
DECISIONS = Counter("modbot_decisions", "Automatic decisions by action and rule", ["action", "rule"],
                    registry=REGISTRY)
BATCH_SECONDS = Histogram("modbot_batch_seconds", "Time to decide one batch (scoring, rules, storing)",
                          buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30), registry=REGISTRY)
SCORER_SECONDS = Histogram("modbot_scorer_seconds", "Time one scorer took for one batch", ["scorer"],
                           buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30), registry=REGISTRY)
SCORER_FAILURES = Counter("modbot_scorer_failures", "Batches a scorer failed on", ["scorer"], registry=REGISTRY)
DELIVERIES = Counter("modbot_deliveries",
                     "Delivery attempts by result (ok, retry, refused, unsendable, superseded, gave_up)", ["result"],
                     registry=REGISTRY)
QUEUE = Gauge("modbot_queue_length", "Entries waiting: input, input_pending, outbox, outbox_failed, "
              "deadletter, review_held, review_escalated", ["queue"], registry=REGISTRY)
DATA_LOSSES = Counter("modbot_redis_data_losses", "Times Redis lost modbot's data (the identity marker vanished)",
                      registry=REGISTRY)
DEADLETTER_TRIMMED = Counter("modbot_deadletter_trimmed", "Dead letters trimmed off (stream.deadletter_maxlen)",
                             registry=REGISTRY)
OUTBOX_OLDEST = Gauge("modbot_outbox_oldest_age_seconds", "How long the oldest undelivered decision has waited "
                      "(0 when none)", registry=REGISTRY)
DELIVERY_FAILURES = Gauge("modbot_delivery_failures_in_a_row", "Failed delivery tries since the last success",
                          registry=REGISTRY)
RULES_VERSION = Gauge("modbot_rules_info", "The rules version in force (value 1)", ["version"], registry=REGISTRY)


def set_rules_version(version: str) -> None:
    RULES_VERSION.clear()
    RULES_VERSION.labels(version=version).set(1)


async def refresh_queues(redis: aioredis.Redis, keys: Keys, group: str, sink: str = "log") -> None:
    """Read the queue lengths, the outbox's oldest age and the delivery failure streak once into the gauges."""
    waiting, pending = await group_backlog(redis, keys.comments, group)
    QUEUE.labels("input").set(waiting)
    QUEUE.labels("input_pending").set(pending)
    parts = keys.parts
    QUEUE.labels("outbox").set(await summed(redis, "xlen", [p.outbox for p in parts]))
    QUEUE.labels("outbox_failed").set(await summed(redis, "xlen", [p.outbox_failed for p in parts]))
    QUEUE.labels("deadletter").set(await redis.xlen(keys.deadletter))
    QUEUE.labels("review_held").set(await summed(redis, "zcard", [p.review for p in parts]))
    QUEUE.labels("review_escalated").set(await summed(redis, "zcard", [p.review_escalated for p in parts]))
    firsts = []
    for p in parts:
        oldest: Any = await redis.xrange(p.outbox, count=1)
        if oldest:  # a stream id starts with the time it was added, in milliseconds
            firsts.append(int(oldest[0][0].split(b"-")[0]))
    OUTBOX_OLDEST.set(max(0.0, time.time() - min(firsts) / 1000) if firsts else 0)
    DELIVERY_FAILURES.set((await read_state(redis, keys.outbox_state(sink), sink)).failures)


async def refresh_loop(redis: aioredis.Redis, keys: Keys, group: str, rules_version: Callable[[], str],
                       stop: asyncio.Event, interval_s: float = 5.0, sink: str = "log") -> None:
    """Refresh the queue gauges and the rules version until `stop` is set."""
    while not stop.is_set():
        set_rules_version(rules_version())
        try:
            await refresh_queues(redis, keys, group, sink)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            log.debug("queue gauges not refreshed", extra={"error": str(exc)})
        await sleep_or_stop(stop, interval_s)


async def serve(host: str, port: int) -> web.AppRunner:
    """Expose /metrics; returns the runner to clean up."""
    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    return await serve_app(app, host, port, "the metrics endpoint", "set metrics.port, or metrics.enabled: false")
