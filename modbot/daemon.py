"""`modbot run`: the worker, the outbox deliverer, rules hot reload and the review page, in one process.

SIGTERM/SIGINT: stop reading, finish and acknowledge the batch in hand, make one delivery attempt for what
waits in the outbox, exit 0. SIGHUP: reload the rules (a broken file keeps the old rules).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from collections.abc import Awaitable, Callable

import aiohttp
import redis.asyncio as aioredis
from aiohttp import web

from modbot.config import Settings
from modbot.connections import connect
from modbot.keys import Keys
from modbot.outbox import OutboxDeliverer
from modbot.pipeline import build_scorers, close_scorers, pattern_categories
from modbot.rules import RulesHolder
from modbot.sinks import build_sink
from modbot.worker import Worker

log = logging.getLogger("modbot.daemon")


def consumer_name(settings: Settings) -> str:
    return settings.stream.consumer or f"{socket.gethostname()}-{os.getpid()}"


async def run_daemon(settings: Settings, stop: asyncio.Event | None = None,
                     on_ready: Callable[[], Awaitable[None]] | None = None) -> int:
    """Run until a signal (or `stop`) arrives. Returns the exit status."""
    stop = stop or asyncio.Event()
    scorers = await build_scorers(settings)
    holder = RulesHolder(settings.rules.file, pattern_categories(scorers))  # a broken rules file stops the start
    conn = await connect(settings.redis)
    keys = Keys(settings.redis.prefix, settings.stream.name)
    consumer = consumer_name(settings)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, holder.reload)

    session = aiohttp.ClientSession()
    sink = build_sink(settings.sink, session)
    worker = Worker(conn.redis, keys, settings.stream, consumer, scorers, lambda: holder.current)
    outbox = OutboxDeliverer(conn.redis, keys, sink, settings.sink, consumer, settings.stream.reclaim_idle_ms)
    tasks = [asyncio.create_task(worker.run(stop), name="worker"),
             asyncio.create_task(outbox.run(stop), name="outbox")]
    if settings.rules.watch:
        tasks.append(asyncio.create_task(_until(stop, holder.watch(1.0)), name="rules-watch"))
    runner = await _start_extras(settings, conn.redis, keys, stop, session, tasks)
    log.info("modbot running", extra={"redis": conn.url, "stream": keys.comments, "consumer": consumer,
                                      "scorers": [s.name for s in scorers], "rules": holder.current.version,
                                      "sink": sink.name})
    if on_ready is not None:
        await on_ready()
    status = 0
    try:
        done, _ = await asyncio.wait([asyncio.create_task(stop.wait()), *tasks],
                                     return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task in tasks and task.exception() is not None:
                log.error("task failed; shutting down", exc_info=task.exception(),
                          extra={"task": task.get_name()})
                status = 1
        stop.set()
        # The worker finishes the batch in hand; the outbox stops between deliveries.
        await asyncio.wait(tasks, timeout=30)
        flushed = await outbox.flush(timeout_s=5.0)
        log.info("stopped", extra={"processed": worker.processed, "delivered": outbox.delivered,
                                   "flushed_at_exit": flushed})
    finally:
        for task in tasks:
            task.cancel()
        if runner is not None:
            await runner.cleanup()
        await sink.close()
        await session.close()
        await close_scorers(scorers)
        await conn.close()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)
    return status


async def _until(stop: asyncio.Event, coro: Awaitable[None]) -> None:
    task = asyncio.ensure_future(coro)
    waiter = asyncio.ensure_future(stop.wait())
    await asyncio.wait([task, waiter], return_when=asyncio.FIRST_COMPLETED)
    for t in (task, waiter):
        t.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await t


async def _start_extras(settings: Settings, redis: aioredis.Redis, keys: Keys, stop: asyncio.Event,
                        session: aiohttp.ClientSession, tasks: list[asyncio.Task[None]]) -> web.AppRunner | None:
    """The review page and the WordPress poller, when configured. Returns the web runner to clean up."""
    runner = None
    if settings.review.enabled:
        from modbot.review.app import create_app
        runner = web.AppRunner(create_app(redis, keys, settings.review), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, settings.review.host, settings.review.port).start()
        log.info("review page", extra={"url": f"http://{settings.review.host}:{settings.review.port}/",
                                       "users_file": str(settings.review.users_file)})
        if not settings.review.users_file.exists():
            log.warning("no moderators yet: add one with `modbot moderators add NAME`",
                        extra={"users_file": str(settings.review.users_file)})
    wp = settings.sink.wordpress
    if wp.poll:
        from modbot.ingest.wordpress import WordPressPoller
        poller = WordPressPoller(wp, redis, keys, session=session)
        tasks.append(asyncio.create_task(poller.run(stop), name="wp-poll"))
    return runner
