"""Keeping rejected messages, bounded: the dead-letter stream is capped and each message in it is cut short.

A producer sending bad messages must not fill Redis: the stream keeps the latest `stream.deadletter_maxlen`
entries (the number trimmed off is counted in `{p}deadletter:trimmed`), and each keeps at most
`stream.deadletter_raw_bytes` of the message, with its original length in `raw_length`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis

from modbot import metrics
from modbot.keys import Keys
from modbot.slots import is_cluster

# One step: add, trim to the cap (exactly, so the count is right), count what was trimmed, acknowledge. On a
# cluster the input stream is in another hash slot: the caller acknowledges after the script instead.
_ADD = """
-- KEYS: 1 dead letters, 2 trimmed counter, 3 input stream (on a cluster: KEYS[1] again, untouched)
-- ARGV: 1 max length ('0' = all), 2 group ('' = the caller acknowledges), 3 message id, then the entry's
--       field/value pairs
local fields = {}
for i = 4, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('XADD', KEYS[1], '*', unpack(fields))
local trimmed = 0
if ARGV[1] ~= '0' then
  trimmed = redis.call('XTRIM', KEYS[1], 'MAXLEN', ARGV[1])
  if trimmed > 0 then redis.call('INCRBY', KEYS[2], trimmed) end
end
if ARGV[2] ~= '' then redis.call('XACK', KEYS[3], ARGV[2], ARGV[3]) end
return trimmed
"""


@dataclass(frozen=True)
class DeadLetterLimits:
    """How much of the rejected input is kept (stream.deadletter_maxlen, stream.deadletter_raw_bytes)."""

    maxlen: int = 10_000  # 0 = keep all
    raw_bytes: int = 4096


class DeadLetters:
    """Writes dead letters within the limits."""

    def __init__(self, redis: aioredis.Redis, keys: Keys, limits: DeadLetterLimits) -> None:
        self.redis = redis
        self.keys = keys
        self.limits = limits
        self._add = redis.register_script(_ADD)

    async def add(self, stream: str, group: str, message_id: str, raw: bytes, reason: str) -> int:
        """Keep one rejected message with its reason and acknowledge it; returns how many old ones were trimmed."""
        fields: list[Any] = ["reason", reason, "raw", raw[: self.limits.raw_bytes], "raw_length", len(raw),
                             "source_id", message_id, "at", datetime.now(UTC).isoformat()]
        cluster = is_cluster(self.redis)
        trimmed: Any = await self._add(
            keys=[self.keys.deadletter, self.keys.deadletter_trimmed, self.keys.deadletter if cluster else stream],
            args=[self.limits.maxlen, "" if cluster else group, message_id, *fields])
        if cluster:
            await self.redis.xack(stream, group, message_id)
        if trimmed:
            metrics.DEADLETTER_TRIMMED.inc(int(trimmed))
        return int(trimmed)
