"""Waiting before trying again: jittered exponential backoff, and the pause after a Redis outage."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError


def backoff(attempt: int, base: float, cap: float) -> float:
    """Full-jitter exponential backoff: uniform in [0, min(cap, base * 2**attempt)]."""
    return random.uniform(0, min(cap, base * (2 ** min(attempt, 30))))


async def pause_after_outage(exc: Exception, failures: int, stop: asyncio.Event, logger: logging.Logger) -> None:
    """Wait (jittered, growing with `failures`) after Redis was unreachable, or until `stop` is set.
    Callers acknowledge nothing during an outage, so waiting loses nothing."""
    delay = backoff(failures, 0.5, 30.0)
    logger.warning("redis unavailable; retrying", extra={"error": str(exc), "retry_in_s": round(delay, 2)})
    await sleep_or_stop(stop, delay)


async def sleep_or_stop(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep `seconds`, waking early when `stop` is set. True when stopping."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    return stop.is_set()


async def run_resilient(step: Callable[[], Awaitable[None]], make_group: Callable[[], Awaitable[None]],
                        stop: asyncio.Event, logger: logging.Logger) -> None:
    """Run `step` until `stop` is set, riding out what Redis can throw at a stream consumer: an outage (wait
    and retry) and a lost consumer group after Redis lost its data (make it again). `make_group` also runs
    before the first step, inside the same protection."""
    failures = 0
    group_ready = False
    while not stop.is_set():
        try:
            if not group_ready:
                await make_group()
                group_ready = True
            await step()
            failures = 0
        except (RedisConnectionError, RedisTimeoutError) as exc:
            failures += 1
            await pause_after_outage(exc, failures, stop, logger)
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            logger.warning("consumer group missing; creating it again", extra={"error": str(exc)})
            group_ready = False
