"""`modbot run`: the worker, the outbox deliverer, rules hot reload and the review page, in one process.

SIGTERM/SIGINT: stop reading, finish and acknowledge the batch in hand, make one delivery attempt for what
waits in the outbox, exit 0. SIGHUP: reload the rules (a broken file keeps the old rules). The handlers are
installed before anything slow starts (loading the model can take a minute): a stop asked for while starting
ends the start at the next step and exits 0, too.
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
from redis.exceptions import RedisError

from modbot import health, metrics
from modbot.config import Settings, keys_for
from modbot.connections import connect
from modbot.consumers import Heartbeat, prune_loop
from modbot.httpserve import serve_app
from modbot.identity import IdentityWatch
from modbot.keys import Keys
from modbot.outbox_lease import DeliveryPool
from modbot.pipeline import build_scorers, close_scorers, pattern_categories
from modbot.rules import RulesHolder, unused_rules_warnings
from modbot.sinks import build_sink
from modbot.worker import Worker

log = logging.getLogger("modbot.daemon")


def consumer_name(settings: Settings) -> str:
    return settings.stream.consumer or f"{socket.gethostname()}-{os.getpid()}"


async def run_daemon(settings: Settings, stop: asyncio.Event | None = None,
                     on_ready: Callable[[], Awaitable[None]] | None = None) -> int:
    """Run until a signal (or `stop`) arrives. Returns the exit status."""
    stop = stop or asyncio.Event()
    state = health.StartupState()
    holder: RulesHolder | None = None
    async with contextlib.AsyncExitStack() as stack:
        _install_signal_handlers(stack, stop, lambda: holder.reload_soon() if holder is not None else None)
        log.info("starting", extra={"scorers": list(settings.scorers.enabled), "pid": os.getpid()})
        if settings.health.enabled:
            stack.push_async_callback((await health.serve(settings.health, state)).cleanup)
        # Everything that can refuse to start (model, rules, Redis, the review port) does so before any
        # comment is read; whatever was already started is closed again on the way out. A stop asked for
        # meanwhile is honoured between the steps.
        scorers = await build_scorers(settings)
        stack.push_async_callback(close_scorers, scorers)
        state.scorers_loaded = True
        if stop.is_set():
            return _stopped_while_starting()
        # Read and parsed in a thread, as every later reload is (see RulesHolder).
        rules = holder = await asyncio.to_thread(RulesHolder, settings.rules.file, pattern_categories(scorers))
        state.rules_loaded = True
        for warning in unused_rules_warnings(rules.current, settings.scorers.enabled):
            log.warning(warning)
        conn = await connect(settings.redis)
        stack.push_async_callback(conn.close)
        state.redis = conn.redis
        if stop.is_set():
            return _stopped_while_starting()
        keys = keys_for(settings)
        consumer = consumer_name(settings)
        session = await stack.enter_async_context(aiohttp.ClientSession())
        sink = build_sink(settings.sink, session)
        stack.push_async_callback(sink.close)
        await _start_servers(stack, settings, conn.redis, keys)
        if stop.is_set():
            return _stopped_while_starting()

        identity = IdentityWatch(conn.redis, keys, settings.stream.group)
        await identity.start()
        heartbeat = Heartbeat(conn.redis, keys, consumer, settings.stream.heartbeat_ttl_s)
        await heartbeat.beat()  # before the first read, so no other daemon takes this one for dead
        worker = Worker(conn.redis, keys, settings.stream, consumer, scorers, lambda: rules.current,
                        settings.rules.budget_ms)
        outbox = DeliveryPool(conn.redis, keys, sink, settings.sink, consumer, settings.stream.reclaim_idle_ms)
        tasks = [asyncio.create_task(worker.run(stop), name="worker"),
                 asyncio.create_task(identity.run(stop), name="identity"),
                 asyncio.create_task(heartbeat.run(stop), name="heartbeat"),
                 asyncio.create_task(prune_loop(conn.redis, keys, settings.stream, consumer, stop), name="prune")]
        if settings.sink.deliver:
            tasks.append(asyncio.create_task(outbox.run(stop), name="outbox"))
        if settings.rules.watch:
            tasks.append(asyncio.create_task(_until(stop, rules.watch(1.0)), name="rules-watch"))
        if settings.metrics.enabled:
            tasks.append(asyncio.create_task(
                metrics.refresh_loop(conn.redis, keys, settings.stream.group, lambda: rules.current.version, stop,
                                     sink=settings.sink.type),
                name="metrics"))
        if settings.sink.wordpress.poll:
            from modbot.ingest.wordpress import WordPressPoller
            poller = WordPressPoller(settings.sink.wordpress, conn.redis, keys, session=session)
            tasks.append(asyncio.create_task(poller.run(stop), name="wp-poll"))
        log.info("modbot running", extra={"redis": conn.url, "stream": keys.comments, "consumer": consumer,
                                          "scorers": [s.name for s in scorers], "rules": rules.current.version,
                                          "sink": sink.name})
        if on_ready is not None:
            await on_ready()
        status = await _supervise(stop, tasks)
        state.stopping = True
        flushed = 0
        outbox_task = next((t for t in tasks if t.get_name() == "outbox"), None)
        # One last delivery attempt, only once the deliverer itself has stopped (never two at once).
        if outbox_task is not None and outbox_task.done():
            try:
                await heartbeat.beat()  # still alive while flushing: nobody takes these entries meanwhile
                flushed = await outbox.flush(timeout_s=5.0)
                await outbox.release_all()  # the other daemons take the partitions at once
            except RedisError as exc:
                log.warning("final delivery attempt skipped: redis unavailable", extra={"error": str(exc)})
        await heartbeat.clear()
        log.info("stopped", extra={"processed": worker.processed, "delivered": outbox.delivered,
                                   "flushed_at_exit": flushed})
        return status


def _install_signal_handlers(stack: contextlib.AsyncExitStack, stop: asyncio.Event,
                             reload: Callable[[], object]) -> None:
    """SIGTERM/SIGINT set `stop`; SIGHUP reloads the rules once they are loaded. On the way out the handlers
    that were there before come back (`modbot run` installs remember_stop_signals first, so a second SIGTERM
    while Redis and the embedded Valkey close does not kill the process halfway and orphan the Valkey server)."""
    loop = asyncio.get_running_loop()
    sigs = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
    before = {sig: signal.getsignal(sig) for sig in sigs}
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, reload)

    def restore() -> None:
        for sig in sigs:
            loop.remove_signal_handler(sig)
            previous = before[sig]
            if previous is not None:  # None: installed outside Python; the default then stays
                signal.signal(sig, previous)

    stack.callback(restore)


def _stopped_while_starting() -> int:
    log.info("stopped", extra={"during": "start-up", "processed": 0, "delivered": 0, "flushed_at_exit": 0})
    return 0


async def _supervise(stop: asyncio.Event, tasks: list[asyncio.Task[None]]) -> int:
    """Wait for a stop request or a task that died; then let the others finish their current step."""
    waiter = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    status = 0
    for task in done:
        if task in tasks and not task.cancelled() and task.exception() is not None:
            log.error("task failed; shutting down", exc_info=task.exception(), extra={"task": task.get_name()})
            status = 1
    stop.set()
    # The worker finishes the batch in hand; the outbox stops between deliveries.
    _, late = await asyncio.wait(tasks, timeout=30)
    for task in late:
        log.warning("task did not stop in time; cancelled", extra={"task": task.get_name()})
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)  # nothing still runs when connections close
    return status


async def _until(stop: asyncio.Event, coro: Awaitable[None]) -> None:
    task = asyncio.ensure_future(coro)
    waiter = asyncio.ensure_future(stop.wait())
    await asyncio.wait([task, waiter], return_when=asyncio.FIRST_COMPLETED)
    for t in (task, waiter):
        t.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await t


async def _start_servers(stack: contextlib.AsyncExitStack, settings: Settings, redis: aioredis.Redis,
                         keys: Keys) -> None:
    """The review page and the metrics endpoint, when enabled; `stack` stops them on the way out."""
    runner = await _start_review(settings, redis, keys)
    if runner is not None:
        stack.push_async_callback(runner.cleanup)
    if settings.metrics.enabled:
        metrics_runner = await metrics.serve(settings.metrics.host, settings.metrics.port)
        stack.push_async_callback(metrics_runner.cleanup)
        log.info("metrics", extra={"url": f"http://{settings.metrics.host}:{settings.metrics.port}/metrics"})


async def _start_review(settings: Settings, redis: aioredis.Redis, keys: Keys) -> web.AppRunner | None:
    """Serve the review page when enabled. A port that cannot be bound stops the start with a clear error."""
    if not settings.review.enabled:
        return None
    from modbot.review.app import create_app
    review = settings.review
    runner = await serve_app(create_app(redis, keys, review), review.host, review.port, "the review page",
                             "set review.port (or MODBOT_REVIEW_PORT), or review.enabled: false")
    log.info("review page", extra={"url": f"http://{review.host}:{review.port}/", "users_file": str(review.users_file)})
    if not review.users_file.exists():
        log.warning("no moderators yet: add one with `modbot moderators add NAME`",
                    extra={"users_file": str(review.users_file)})
    return runner
