"""The outbox's delivery state, kept in Redis so `modbot status` can show an outage while it happens.

The hash `{p}outbox:state:{sink}` holds how many tries in a row failed, the last error and when it came,
when the next try is due, and when a delivery last succeeded. The deliverer writes it; nothing reads it on
the data path, so a lost hash only costs the display.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis


@dataclass(frozen=True)
class DeliveryState:
    """One sink's delivery state as `modbot status` shows it. Times are epoch seconds (None: never)."""

    sink: str
    failures: int = 0  # failed tries in a row; 0 once a delivery succeeds
    last_error: str = ""
    last_error_at: float | None = None
    next_attempt_at: float | None = None  # while backing off: when the next try is due
    last_ok_at: float | None = None


async def note_failure(redis: aioredis.Redis, key: str, error: str) -> None:
    """One more failed try in a row, with its error."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hincrby(key, "failures", 1)
        pipe.hset(key, mapping={"last_error": error[:500], "last_error_at": repr(time.time())})
        await pipe.execute()


async def note_next_attempt(redis: aioredis.Redis, key: str, delay_s: float) -> None:
    """The deliverer is waiting `delay_s` before the next try."""
    await redis.hset(key, "next_attempt_at", repr(time.time() + delay_s))


async def note_success(redis: aioredis.Redis, key: str) -> None:
    """A delivery went through: the failure streak ends (the last error stays, for the record)."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(key, mapping={"failures": 0, "last_ok_at": repr(time.time())})
        pipe.hdel(key, "next_attempt_at")
        await pipe.execute()


async def read_state(redis: aioredis.Redis, key: str, sink: str) -> DeliveryState:
    """The stored state (all defaults when the deliverer never wrote it)."""
    raw: Any = await redis.hgetall(key)
    f = {k.decode(): v.decode() for k, v in raw.items()}

    def when(name: str) -> float | None:
        return float(f[name]) if f.get(name) else None

    return DeliveryState(sink=sink, failures=int(f.get("failures") or 0), last_error=f.get("last_error", ""),
                         last_error_at=when("last_error_at"), next_attempt_at=when("next_attempt_at"),
                         last_ok_at=when("last_ok_at"))
