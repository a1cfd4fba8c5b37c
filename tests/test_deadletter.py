"""The dead-letter stream stays bounded: capped in length (trimmed entries counted) and each message cut short."""

from __future__ import annotations

from modbot import metrics
from modbot.commands.status import status
from modbot.keys import Keys
from tests.test_worker import add, drain, make_worker


async def test_dead_letters_are_capped_counted_and_cut_short(redis_client, prefix):
    keys = Keys(prefix)
    trimmed_before = metrics.DEADLETTER_TRIMMED._value.get()
    huge = b"{" + b"x" * 100_000  # malformed JSON, 100 kB: the fault run kept 467 MB of these
    await add(redis_client, prefix, *[huge] * 12)
    await drain(make_worker(redis_client, prefix, deadletter_maxlen=5, deadletter_raw_bytes=4096))

    dead = await redis_client.xrange(keys.deadletter)
    assert len(dead) == 5  # the latest five
    assert all(len(f[b"raw"]) == 4096 and f[b"raw_length"] == b"100001" for _, f in dead)
    assert all(f[b"reason"].startswith(b"malformed JSON") for _, f in dead)
    assert int(await redis_client.get(keys.deadletter_trimmed)) == 7
    assert metrics.DEADLETTER_TRIMMED._value.get() == trimmed_before + 7
    assert (await redis_client.xpending(keys.comments, "modbot"))["pending"] == 0  # all acknowledged

    report = await status(redis_client, keys, "modbot", 5)
    assert report["deadletter"]["length"] == 5 and report["deadletter"]["trimmed"] == 7
