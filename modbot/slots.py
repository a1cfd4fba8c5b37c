"""Redis calls that differ on a cluster: reading keys of many slots, and Lua scripts inside pipelines.

A cluster refuses a command whose keys lie in different hash slots (CROSSSLOT). modbot's scripts and
transactions touch one partition each (see keys.py), so they are in one slot; what reads across partitions
goes through here.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Sequence
from typing import Any

from redis.asyncio.cluster import ClusterPipeline, RedisCluster
from redis.commands.core import AsyncScript
from redis.typing import EncodableT, KeyT

from modbot.replies import as_str


def is_cluster(redis: Any) -> bool:
    return isinstance(redis, RedisCluster | ClusterPipeline)


async def mget(redis: Any, keys: Sequence[str]) -> list[Any]:
    """MGET, split by slot on a cluster (values come back in the order of `keys`)."""
    if not keys:
        return []
    if is_cluster(redis):
        return list(await redis.mget_nonatomic(list(keys)))
    return list(await redis.mget(list(keys)))


async def queue_script(script: AsyncScript, pipe: Any, keys: Sequence[KeyT], args: Sequence[EncodableT]) -> None:
    """Add a script call to a pipeline (or transaction).

    On a cluster the script's text goes with the call (EVAL): the node that runs it may never have seen it
    (a new or promoted node), and a NOSCRIPT inside a pipeline cannot be retried one call at a time. Valkey
    caches the compiled script, so this costs bandwidth, not compilation.
    """
    if is_cluster(pipe):
        pipe.eval(script.script, len(keys), *keys, *args)
    else:
        await script(keys=keys, args=args, client=pipe)


async def summed_hashes(redis: Any, keys: Sequence[str]) -> dict[str, int]:
    """Counter hashes of several partitions added up field by field (one HGETALL per partition, pipelined).
    Fields whose value is not a whole number are left out."""
    async with redis.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.hgetall(key)
        found = await pipe.execute()
    total: dict[str, int] = {}
    for raw in found:
        for field, value in raw.items():
            name = as_str(field)
            try:
                total[name] = total.get(name, 0) + int(value)
            except ValueError:
                continue
    return total


async def summed_fields(redis: Any, keys: Sequence[str], fields: Sequence[str]) -> list[int]:
    """The same fields of several partitions' counter hashes, added up (one HMGET per partition, pipelined);
    a missing or non-numeric field counts 0."""
    async with redis.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.hmget(key, list(fields))
        found = await pipe.execute()
    total = [0] * len(fields)
    for values in found:
        for n, value in enumerate(values):
            try:
                total[n] += int(value) if value is not None else 0
            except ValueError:
                continue
    return total


async def merged_heads(redis: Any, zsets: Sequence[str], limit: int) -> list[str]:
    """The first `limit` members of several sorted sets in score order (ties by member), as if they were one:
    each set's head read in one pipelined round trip, then merged."""
    async with redis.pipeline(transaction=False) as pipe:
        for key in zsets:
            pipe.zrange(key, 0, limit - 1, withscores=True)
        heads = await pipe.execute()
    merged = heapq.merge(*heads, key=lambda member: (member[1], member[0]))
    return [as_str(member) for member, _ in itertools.islice(merged, limit)]


async def summed(redis: Any, command: str, keys: Sequence[str]) -> int:
    """One counting command (xlen, zcard) over several keys, added up."""
    async with redis.pipeline(transaction=False) as pipe:
        for key in keys:
            getattr(pipe, command)(key)
        found = await pipe.execute()
    return sum(int(n) for n in found)
